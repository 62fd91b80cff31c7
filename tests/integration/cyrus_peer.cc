#include "cyrus_peer.h"

#include <unistd.h>

namespace replimail::testing {

std::string why_no_cyrus() {
  if (geteuid() != 0) return "Cyrus runs as the cyrus user: the test must run as root";
  auto r = run({"/usr/bin/python3", py_script("cyrus_instance.py"), "available"});
  if (r.ok()) return "";
  return r.out.empty() ? r.describe() : r.out + r.err;
}

CyrusGuard::~CyrusGuard() {
  run({"/usr/bin/python3", py_script("cyrus_instance.py"), "stop", dir_});
}

RunResult start_cyrus(const std::string& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/python3", py_script("cyrus_instance.py"), "start",
                                   dir};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

}  // namespace replimail::testing
