#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>
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

bool have_ip() { return access("/usr/sbin/ip", X_OK) == 0; }

// The /24 of a HostNetwork: 10.78.<n>, n from the PID (NetnsLink's /30s are
// in 10.77).
std::string host_prefix(int pid) { return "10.78." + std::to_string(pid % 250 + 1); }

}  // namespace

std::string ip_command(const std::string& args) {
  std::vector<std::string> argv = {"/usr/sbin/ip"};
  for (auto& w : words(args)) argv.push_back(w);
  auto r = run(argv, "", std::chrono::seconds(20));
  return r.ok() ? "" : "ip " + args + ": " + r.describe();
}

NetnsEntry::~NetnsEntry() {
  if (inside()) leave();
}

std::string NetnsEntry::enter(const std::string& ns) {
  if (inside()) return "already inside a namespace";
  home_fd_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home_fd_ < 0) return std::string("open /proc/self/ns/net: ") + strerror(errno);
  int fd = open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::string why = "open /var/run/netns/" + ns + ": " + strerror(errno);
    close(home_fd_);
    home_fd_ = -1;
    return why;
  }
  int r = setns(fd, CLONE_NEWNET);
  int err = errno;
  close(fd);
  if (r == 0) return "";
  close(home_fd_);
  home_fd_ = -1;
  return std::string("setns: ") + strerror(err);
}

std::string NetnsEntry::leave() {
  if (!inside()) return "not inside";
  int r = setns(home_fd_, CLONE_NEWNET);
  int err = errno;
  close(home_fd_);
  home_fd_ = -1;
  return r == 0 ? "" : std::string("setns back: ") + strerror(err);
}

std::string NetnsLink::ip(const std::string& args) { return ip_command(args); }

NetnsLink::NetnsLink() {
  const int pid = static_cast<int>(getpid());
  ns_ = "rmns" + std::to_string(pid);
  here_ = "rmv" + std::to_string(pid) + "a";
  there_ = "rmv" + std::to_string(pid) + "b";
  prefix_ = "10.77." + std::to_string(pid % 250 + 1);
  if (!have_ip()) {
    error_ = "no /usr/sbin/ip (iproute2)";
    return;
  }
  remove_stale_netns();
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
  if (entry_.inside()) entry_.leave();
  if (error_.empty()) remove();
}

void NetnsLink::remove() {
  // Deleting one veth end deletes its peer; deleting the namespace's name is
  // enough once no process lives in it.
  ip("link del " + here_);
  ip("netns del " + ns_);
}

std::string NetnsLink::enter() { return entry_.enter(ns_); }

std::string NetnsLink::leave() { return entry_.leave(); }

std::string NetnsLink::cut() { return ip("link set " + here_ + " down"); }

std::string NetnsLink::restore() { return ip("link set " + here_ + " up"); }

HostNetwork::HostNetwork(int hosts) {
  const int pid = static_cast<int>(getpid());
  tag_ = "rmh" + std::to_string(pid);
  prefix_ = host_prefix(pid);
  bridge_ = "rmbr" + std::to_string(pid);
  if (!have_ip()) {
    error_ = "no /usr/sbin/ip (iproute2)";
    return;
  }
  remove_stale_netns();
  std::vector<std::string> steps = {"link add " + bridge_ + " type bridge",
                                    "addr add " + bridge_address() + "/24 dev " + bridge_,
                                    "link set " + bridge_ + " up"};
  for (int i = 0; i < hosts; ++i) {
    const std::string ns = tag_ + "n" + std::to_string(i);
    const std::string out = tag_ + "a" + std::to_string(i);
    const std::string in = tag_ + "b" + std::to_string(i);
    names_.push_back(ns);
    for (const std::string& step :
         {"netns add " + ns, "link add " + out + " type veth peer name " + in,
          "link set " + in + " netns " + ns, "link set " + out + " master " + bridge_,
          "link set " + out + " up", "-n " + ns + " addr add " + address(i) + "/24 dev " + in,
          "-n " + ns + " link set " + in + " up", "-n " + ns + " link set lo up"})
      steps.push_back(step);
  }
  for (const std::string& step : steps) {
    if (auto e = ip_command(step); !e.empty()) {
      error_ = e;
      remove();
      return;
    }
  }
}

HostNetwork::~HostNetwork() {
  if (entry_.inside()) entry_.leave();
  if (error_.empty()) remove();
}

void HostNetwork::remove() {
  for (size_t i = 0; i < names_.size(); ++i) {
    ip_command("link del " + tag_ + "a" + std::to_string(i));
    ip_command("netns del " + names_[i]);
  }
  ip_command("link del " + bridge_);
}

std::string HostNetwork::cut(int host) {
  return ip_command("link set " + tag_ + "a" + std::to_string(host) + " down");
}

std::string HostNetwork::restore(int host) {
  return ip_command("link set " + tag_ + "a" + std::to_string(host) + " up");
}

void remove_stale_netns() {
  if (!have_ip()) return;
  auto dead = [](const std::string& pid) { return kill(std::stoi(pid), 0) != 0 && errno == ESRCH; };
  // Namespaces: rmns<pid> (NetnsLink), rmh<pid>n<i> (HostNetwork).
  static const std::regex kNs(R"(^(rmns(\d+)|rmh(\d+)n\d+)\b)");
  auto ns = run({"/usr/sbin/ip", "netns", "list"}, "", std::chrono::seconds(20));
  for (const auto& line : lines_of(ns.out)) {
    std::smatch m;
    if (!std::regex_search(line, m, kNs)) continue;
    if (dead(m[2].matched ? m[2].str() : m[3].str())) ip_command("netns del " + m[1].str());
  }
  // Links left in this namespace: the outside veth ends and the bridges.
  static const std::regex kLink(R"(^\d+: (rmv(\d+)a|rmh(\d+)a\d+|rmbr(\d+))[@:])");
  auto links = run({"/usr/sbin/ip", "-o", "link", "show"}, "", std::chrono::seconds(20));
  for (const auto& line : lines_of(links.out)) {
    std::smatch m;
    if (!std::regex_search(line, m, kLink)) continue;
    std::string pid = m[2].matched ? m[2].str() : m[3].matched ? m[3].str() : m[4].str();
    if (dead(pid)) ip_command("link del " + m[1].str());
  }
}

}  // namespace replimail::testing
