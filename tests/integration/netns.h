// A network namespace joined to the test's own namespace by a veth pair, for
// tests that put a replica on "another host" and cut the link between them.
//
// Needs root and iproute2 (`ip`). The namespace, both veth ends and the
// addresses are made by the constructor and removed by the destructor in
// every outcome (also after a failed set-up); processes started inside the
// namespace must be stopped before the object is destroyed. Not thread-safe.
#pragma once

#include <string>

namespace replimail::testing {

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
  int home_fd_ = -1;
};

}  // namespace replimail::testing
