#include "store_checks.h"

#include <filesystem>
#include <set>

namespace replimail::testing {

std::string test_id_of(const std::string& message) {
  static const std::string kHeader = "\r\nX-Test-Id: ";
  auto header_end = message.find("\r\n\r\n");
  auto at = message.find(kHeader);
  if (at == std::string::npos || at > header_end) return "";
  at += kHeader.size();
  return message.substr(at, message.find("\r\n", at) - at);
}

StoredMessages check_stored_messages(const Instance::Snapshot& snap, const nlohmann::json& sent) {
  StoredMessages result;
  auto& problems = result.problems;
  std::set<std::string> live_files;
  for (const auto& rec : snap.records) {
    if (rec.expunged()) continue;
    const std::string name = std::to_string(rec.uid) + ".";
    const std::string uid = "uid " + std::to_string(rec.uid) + ": ";
    live_files.insert(name);
    std::string text = slurp(snap.dir + "/" + name);
    if (text.empty()) {
      problems.push_back(uid + "no message file");
      continue;
    }
    if (text.size() != rec.size) {
      problems.push_back(uid + "file has " + std::to_string(text.size()) + " bytes, SIZE is " +
                         std::to_string(rec.size));
    }
    std::string sha1 = sha1_hex(text);
    if (sha1 != rec.guid) problems.push_back(uid + "file SHA-1 " + sha1 + " != GUID " + rec.guid);
    std::string id = test_id_of(text);
    if (!sent.contains(id)) {
      problems.push_back(uid + "unknown message (X-Test-Id '" + id + "')");
      continue;
    }
    auto [it, fresh] = result.by_test_id.emplace(id, rec.uid);
    if (!fresh) {
      problems.push_back(uid + id + " already stored as uid " + std::to_string(it->second));
    }
    // The server prepends its own headers; the client's bytes follow intact.
    size_t size = sent[id][0].get<size_t>();
    std::string tail = text.size() >= size ? text.substr(text.size() - size) : text;
    if (sha1_hex(tail) != sent[id][1].get<std::string>()) {
      problems.push_back(uid + id + " does not end with the bytes sent");
    }
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(snap.dir, ec)) {
    std::string name = e.path().filename().string();
    bool message_like = !name.empty() && name.back() == '.' &&
                        name.find_first_not_of("0123456789") == name.size() - 1;
    if (message_like && !live_files.count(name)) {
      problems.push_back("file " + name + " has no live record");
    }
  }
  return result;
}

}  // namespace replimail::testing
