// free_port(): a loopback TCP port for a test to give a server it starts,
// shared by the unit and integration tests (one copy, one rule).
//
// Ports are handed out below the kernel's ephemeral range, which neither
// bind(port 0) nor an outgoing connection ever picks, and each is reserved
// machine-wide with an flock on /tmp/replimail-test-ports/<port>, held until
// the process exits: two test processes (ctest -j) never get the same port,
// and nothing else takes it between free_port() and the server's bind. The
// same port is never handed out twice in one process. On a machine whose
// ephemeral range leaves no room below it, the kernel's choice for port 0.
// Returns -1 only if no port at all could be had.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <string>

namespace replimail::testing {

namespace free_port_detail {

constexpr int kLowestPort = 10000;
constexpr const char* kLockDir = "/tmp/replimail-test-ports";

inline int ephemeral_low() {
  int lo = 32768, hi = 60999;
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  in >> lo >> hi;
  return lo;
}

inline sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// True if nothing (listener, connection, TIME_WAIT) uses 127.0.0.1:port.
inline bool port_unused(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr = loopback(port);
  // No SO_REUSEADDR: any socket still bound to the port makes this fail.
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

inline int kernel_chosen_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr = loopback(0);
  int port = -1;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace free_port_detail

inline int free_port() {
  namespace d = free_port_detail;
  static std::mutex mu;
  static std::set<int> handed_out;
  std::lock_guard<std::mutex> lock(mu);
  const int low = d::kLowestPort, high = std::min(d::ephemeral_low(), 65536) - 1;
  if (high - low < 100) return d::kernel_chosen_port();
  ::mkdir(d::kLockDir, 0777);
  ::chmod(d::kLockDir, 01777);
  // Start somewhere different in every process, so parallel tests rarely
  // contend for the same lock files.
  const unsigned seed =
      static_cast<unsigned>(::getpid()) * 2654435761U ^
      static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count());
  const int span = high - low + 1;
  for (int i = 0; i < span; ++i) {
    const int port = low + static_cast<int>((seed + static_cast<unsigned>(i) * 7919U) % span);
    if (handed_out.count(port)) continue;
    const std::string path = std::string(d::kLockDir) + "/" + std::to_string(port);
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return d::kernel_chosen_port();
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0 || !d::port_unused(port)) {
      ::close(fd);
      continue;
    }
    handed_out.insert(port);  // fd stays open: the reservation lasts as long as we do
    return port;
  }
  return d::kernel_chosen_port();
}

}  // namespace replimail::testing
