#include "cyrus_peer.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace replimail::testing {

std::string why_no_cyrus() {
  if (geteuid() != 0) return "Cyrus runs as the cyrus user: the test must run as root";
  auto r = run({"/usr/bin/python3", py_script("cyrus_instance.py"), "available"});
  if (r.ok()) return "";
  return r.out.empty() ? r.describe() : r.out + r.err;
}

std::vector<std::string> mime_corpus() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(source_dir() + "/tests/data/mime"))
    if (e.path().extension() == ".eml") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

CyrusPeer::CyrusPeer(const std::string& servername, const std::vector<std::string>& args,
                     bool with_lmtp, bool with_sync) {
  std::filesystem::permissions(tmp_.path(), std::filesystem::perms(0755));
  dir_ = tmp_.path() + "/cyrus";
  ports_.imap = free_port();
  std::vector<std::string> argv = {"/usr/bin/python3", py_script("cyrus_instance.py"),
                                   "start",           dir_,
                                   "--servername",    servername,
                                   "--imap-port",     std::to_string(ports_.imap)};
  if (with_lmtp) {
    ports_.lmtp = free_port();
    argv.insert(argv.end(), {"--lmtp-port", std::to_string(ports_.lmtp)});
  }
  if (with_sync) {
    ports_.sync = free_port();
    argv.insert(argv.end(), {"--sync-port", std::to_string(ports_.sync)});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  started_ = run(argv);
}

CyrusPeer::~CyrusPeer() {
  run({"/usr/bin/python3", py_script("cyrus_instance.py"), "stop", dir_});
}

RunResult CyrusPeer::tool(const std::string& name, const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"/usr/bin/python3", py_script("cyrus_instance.py"), "tool",
                                   dir_, name};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

}  // namespace replimail::testing
