// A network namespace joined to the test's own namespace by a veth pair, for
// tests that put a replica on "another host" and cut the link between them.
//
// Needs root and iproute2 (`ip`). The namespace, both veth ends and the
// addresses are made by the constructor and removed by the destructor in
// every outcome (also after a failed set-up); processes started inside the
// namespace must be stopped before the object is destroyed. Not thread-safe.
#pragma once

#include <string>
#include <vector>

namespace replimail::testing {

// Runs `/usr/sbin/ip <args>` (words split on spaces): "" or what failed.
std::string ip_command(const std::string& args);

// Moves the calling thread into a named network namespace and back. Processes
// forked while inside start (and stay) there. Not thread-safe.
class NetnsEntry {
 public:
  ~NetnsEntry();
  // "" or what failed. REQUIRES: not inside.
  std::string enter(const std::string& ns);
  std::string leave();
  bool inside() const { return home_fd_ >= 0; }

 private:
  int home_fd_ = -1;
};

class NetnsLink {
 public:
  // Creates namespace "rmns<pid>", veth "rmv<pid>a" (here, 10.77.<n>.1/30)
  // and "rmv<pid>b" (inside, 10.77.<n>.2/30), and brings up both ends and the
  // namespace's loopback. On failure error() says why and nothing is left.
  NetnsLink();
  ~NetnsLink();
  NetnsLink(const NetnsLink&) = delete;
  NetnsLink& operator=(const NetnsLink&) = delete;

  // "" when the link is up and usable.
  const std::string& error() const { return error_; }
  const std::string& name() const { return ns_; }
  std::string outside_address() const { return prefix_ + ".1"; }
  std::string inside_address() const { return prefix_ + ".2"; }

  // Takes this thread into the namespace (processes forked now start there)
  // and back out. Each returns "" or what failed.
  std::string enter();
  std::string leave();

  // `ip link set <outside end> down|up`: cuts and restores the link. "" or why not.
  std::string cut();
  std::string restore();

 private:
  std::string ip(const std::string& args);
  void remove();

  std::string ns_, here_, there_, prefix_, error_;
  NetnsEntry entry_;
};

// Several "hosts" on one machine: one network namespace per host, each with
// a veth whose outside end is a port of one bridge in the test's namespace.
// The hosts reach each other and the test over the bridge (layer 2: no IP
// forwarding needed); the test has the bridge's own address.
//
//   bridge "rmbr<pid>"       10.78.<n>.1/24      (the test's namespace)
//   host i: namespace "rmh<pid>n<i>", veth "rmh<pid>a<i>" (bridge port)
//           and "rmh<pid>b<i>" inside, 10.78.<n>.<11+i>/24, and its lo
//
// Made by the constructor (on failure error() says why and nothing is left),
// removed by the destructor in every outcome; the constructor also removes
// what a killed earlier run left (names carrying a PID no longer alive).
// Processes started inside a namespace must be stopped before the object is
// destroyed. Needs root and iproute2. Not thread-safe.
class HostNetwork {
 public:
  explicit HostNetwork(int hosts);
  ~HostNetwork();
  HostNetwork(const HostNetwork&) = delete;
  HostNetwork& operator=(const HostNetwork&) = delete;

  const std::string& error() const { return error_; }
  int hosts() const { return static_cast<int>(names_.size()); }
  const std::string& netns(int host) const { return names_.at(host); }
  std::string address(int host) const { return prefix_ + "." + std::to_string(11 + host); }
  // The test's own address on the bridge.
  std::string bridge_address() const { return prefix_ + ".1"; }

  // Takes this thread into host's namespace and back: "" or what failed.
  std::string enter(int host) { return entry_.enter(names_.at(host)); }
  std::string leave() { return entry_.leave(); }

  // The host's bridge port down / up: the host loses (regains) every peer,
  // the test included; what runs inside goes on. "" or what failed.
  std::string cut(int host);
  std::string restore(int host);

 private:
  void remove();

  std::string tag_, prefix_, error_, bridge_;
  std::vector<std::string> names_;
  NetnsEntry entry_;
};

// Removes namespaces and links named by HostNetwork or NetnsLink for a PID
// that is no longer alive (a test process killed before its destructors ran).
void remove_stale_netns();

}  // namespace replimail::testing
