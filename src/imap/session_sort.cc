// SORT, THREAD and ESORT: the messages a search selects, each read once,
// handed to sort.h / thread.h.
#include <algorithm>

#include "imap/format.h"
#include "imap/search.h"
#include "imap/session.h"
#include "imap/sort.h"
#include "imap/thread.h"
#include "mime/message.h"

namespace replimail::imap {
namespace {

// "a:b,c" from numbers in the order given: ascending runs become ranges,
// the order of the list is kept (RFC 5267 §4.2: ALL in sort order).
std::string ordered_set(const std::vector<uint32_t>& numbers) {
  std::string out;
  for (size_t i = 0; i < numbers.size();) {
    size_t j = i;
    while (j + 1 < numbers.size() && numbers[j + 1] == numbers[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(numbers[i]);
    if (j > i) {
      out += ':';
      out += std::to_string(numbers[j]);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace

Status Session::select_for_sort(const SearchRequest& req, bool with_headers,
                                std::vector<SortMessage>* out, uint64_t* max_modseq) {
  return for_each_match(req.key, [&](uint32_t seq, const MessageView& m,
                                     const std::function<const mime::Message*()>& headers) {
    SortMessage s;
    s.seq = seq;
    s.uid = m.uid;
    s.internaldate = m.internaldate;
    s.size = m.size;
    s.modseq = m.modseq;
    if (with_headers) {
      const mime::Message* p = headers();
      if (!p) {
        return Status(Code::kIoError, "cannot read message " + std::to_string(m.uid));
      }
      load_sort_headers(*p, &s);
    }
    *max_modseq = std::max(*max_modseq, m.modseq);
    out->push_back(std::move(s));
    return Status();
  });
}

// Whether a sort criterion needs the messages' header fields.
static bool sorts_by_header(const std::vector<SortCriterion>& criteria) {
  return std::any_of(criteria.begin(), criteria.end(), [](const SortCriterion& c) {
    return c.key == SortKey::kCc || c.key == SortKey::kDate || c.key == SortKey::kFrom ||
           c.key == SortKey::kSubject || c.key == SortKey::kTo || c.key == SortKey::kDisplayFrom ||
           c.key == SortKey::kDisplayTo;
  });
}

// SORT [RETURN (opts)] (criteria) charset search-key...
void Session::cmd_sort(const Command& cmd) {
  const auto& args = cmd.args;
  size_t pos = 0;
  std::vector<std::string> options;
  bool esort = false;
  if (pos < args.size() && args[pos].is_atom("RETURN")) {
    if (pos + 1 >= args.size() || !args[pos + 1].is_list()) {
      return tagged(cmd, "BAD", "Invalid RETURN");
    }
    esort = true;
    for (const Value& v : args[pos + 1].items) {
      std::string opt = v.is_atom() ? to_upper(v.text) : "";
      if (opt != "MIN" && opt != "MAX" && opt != "ALL" && opt != "COUNT" && opt != "SAVE") {
        return tagged(cmd, "BAD", "Invalid RETURN option");
      }
      options.push_back(opt);
    }
    if (options.empty()) options.push_back("ALL");
    pos += 2;
  }
  if (pos >= args.size()) return tagged(cmd, "BAD", "Missing Sort criteria");
  auto criteria = parse_sort_criteria(args[pos]);
  if (!criteria.ok()) return tagged_error(cmd, criteria.status());
  ++pos;
  if (pos >= args.size() || !args[pos].is_astring()) return tagged(cmd, "BAD", "Missing charset");
  // The charset is required here (RFC 5256); the rest is a SEARCH program.
  std::vector<Value> search_args;
  search_args.push_back(Value{Value::Kind::kAtom, "CHARSET", {}, false});
  search_args.insert(search_args.end(), args.begin() + static_cast<long>(pos), args.end());
  auto req = parse_search(search_args);
  if (!req.ok()) return tagged_error(cmd, req.status());
  if (req->charset != "UTF-8" && req->charset != "US-ASCII") {
    return tagged(cmd, "NO", "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
  }
  if (req->uses_modseq) condstore_ = true;
  const bool with_headers = sorts_by_header(*criteria);
  std::vector<SortMessage> messages;
  uint64_t max_modseq = 0;
  Status st = select_for_sort(*req, with_headers, &messages, &max_modseq);
  if (!st.is_ok()) return tagged_error(cmd, st);
  sort_messages(messages, *criteria);
  std::vector<uint32_t> numbers;
  numbers.reserve(messages.size());
  for (const SortMessage& m : messages) numbers.push_back(cmd.uid ? m.uid : m.seq);
  if (!esort) {
    std::string line = "* SORT";
    for (uint32_t n : numbers) {
      line += ' ';
      line += std::to_string(n);
    }
    if (req->uses_modseq && !numbers.empty()) {
      line += " (MODSEQ " + std::to_string(max_modseq) + ")";
    }
    reply(line);
    return tagged(cmd, "OK", "Completed");
  }
  auto has = [&](const char* o) {
    return std::find(options.begin(), options.end(), o) != options.end();
  };
  if (has("SAVE")) {
    saved_uids_.clear();
    for (const SortMessage& m : messages) saved_uids_.push_back(m.uid);
    std::sort(saved_uids_.begin(), saved_uids_.end());
    if (options.size() == 1) return tagged(cmd, "OK", "Completed");
  }
  std::string line = "* ESEARCH (TAG " + imap_string(cmd.tag) + ")";
  if (cmd.uid) line += " UID";
  if (has("COUNT")) line += " COUNT " + std::to_string(numbers.size());
  if (!numbers.empty()) {
    // RFC 5267 §4.2: MIN and MAX are the first and last in sort order.
    if (has("MIN")) line += " MIN " + std::to_string(numbers.front());
    if (has("MAX")) line += " MAX " + std::to_string(numbers.back());
    if (has("ALL")) line += " ALL " + ordered_set(numbers);
    if (req->uses_modseq) line += " MODSEQ " + std::to_string(max_modseq);
  }
  reply(line);
  tagged(cmd, "OK", "Completed");
}

// THREAD algorithm charset search-key...
void Session::cmd_thread(const Command& cmd) {
  const auto& args = cmd.args;
  if (args.empty() || !args[0].is_atom()) return tagged(cmd, "BAD", "Missing algorithm in Thread");
  auto algorithm = thread_algorithm(args[0].text);
  if (!algorithm) return tagged(cmd, "BAD", "Invalid Thread algorithm " + args[0].text);
  if (args.size() < 2 || !args[1].is_astring()) return tagged(cmd, "BAD", "Missing charset");
  std::vector<Value> search_args;
  search_args.push_back(Value{Value::Kind::kAtom, "CHARSET", {}, false});
  search_args.insert(search_args.end(), args.begin() + 1, args.end());
  auto req = parse_search(search_args);
  if (!req.ok()) return tagged_error(cmd, req.status());
  if (req->charset != "UTF-8" && req->charset != "US-ASCII") {
    return tagged(cmd, "NO", "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
  }
  if (req->uses_modseq) condstore_ = true;
  std::vector<SortMessage> messages;
  uint64_t max_modseq = 0;
  Status st = select_for_sort(*req, true, &messages, &max_modseq);
  if (!st.is_ok()) return tagged_error(cmd, st);
  bool any = !messages.empty();
  std::string threads = thread_messages(*algorithm, std::move(messages), cmd.uid);
  std::string line = "* THREAD";
  if (any) line += " " + threads;
  if (any && req->uses_modseq) line += " (MODSEQ " + std::to_string(max_modseq) + ")";
  reply(line);
  tagged(cmd, "OK", "Completed");
}

}  // namespace replimail::imap
