#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <vector>

#include "harness.h"

namespace replimail::testing {

namespace {

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace

std::string NetnsLink::ip(const std::string& args) {
  std::vector<std::string> argv = {"/usr/sbin/ip"};
  for (auto& w : words(args)) argv.push_back(w);
  auto r = run(argv, "", std::chrono::seconds(20));
  return r.ok() ? "" : "ip " + args + ": " + r.describe();
}

NetnsLink::NetnsLink() {
  const int pid = static_cast<int>(getpid());
  ns_ = "rmns" + std::to_string(pid);
  here_ = "rmv" + std::to_string(pid) + "a";
  there_ = "rmv" + std::to_string(pid) + "b";
  prefix_ = "10.77." + std::to_string(pid % 250 + 1);
  if (access("/usr/sbin/ip", X_OK) != 0) {
    error_ = "no /usr/sbin/ip (iproute2)";
    return;
  }
  if (auto e = ip("netns add " + ns_); !e.empty()) {
    error_ = e;
    return;
  }
  for (const std::string& step :
       {"link add " + here_ + " type veth peer name " + there_,
        "link set " + there_ + " netns " + ns_, "addr add " + prefix_ + ".1/30 dev " + here_,
        "link set " + here_ + " up", "-n " + ns_ + " addr add " + prefix_ + ".2/30 dev " + there_,
        "-n " + ns_ + " link set " + there_ + " up", "-n " + ns_ + " link set lo up"}) {
    if (auto e = ip(step); !e.empty()) {
      error_ = e;
      remove();
      return;
    }
  }
}

NetnsLink::~NetnsLink() {
  if (home_fd_ >= 0) leave();
  if (error_.empty()) remove();
}

void NetnsLink::remove() {
  // Deleting one veth end deletes its peer; deleting the namespace's name is
  // enough once no process lives in it.
  ip("link del " + here_);
  ip("netns del " + ns_);
}

std::string NetnsLink::enter() {
  home_fd_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home_fd_ < 0) return std::string("open /proc/self/ns/net: ") + strerror(errno);
  int fd = open(("/var/run/netns/" + ns_).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "open /var/run/netns/" + ns_ + ": " + strerror(errno);
  int r = setns(fd, CLONE_NEWNET);
  int err = errno;
  close(fd);
  return r == 0 ? "" : std::string("setns: ") + strerror(err);
}

std::string NetnsLink::leave() {
  if (home_fd_ < 0) return "not inside";
  int r = setns(home_fd_, CLONE_NEWNET);
  int err = errno;
  close(home_fd_);
  home_fd_ = -1;
  return r == 0 ? "" : std::string("setns back: ") + strerror(err);
}

std::string NetnsLink::cut() { return ip("link set " + here_ + " down"); }

std::string NetnsLink::restore() { return ip("link set " + here_ + " up"); }

}  // namespace replimail::testing
