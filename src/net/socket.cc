#include "net/socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cstring>

namespace replimail::net {
namespace {

// Ports Cyrus's services use when /etc/services does not name them
// (Debian's lacks csync, lmtp and mupdate).
struct WellKnown {
  std::string_view name;
  uint16_t port;
};
constexpr WellKnown kWellKnownPorts[] = {
    {"imap", 143},  {"imaps", 993},  {"pop3", 110},   {"pop3s", 995},
    {"lmtp", 2003}, {"csync", 2005}, {"sieve", 4190}, {"mupdate", 3905},
    {"nntp", 119},  {"nntps", 563},  {"http", 80},    {"https", 443},
};

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

std::string ListenAddress::to_string() const {
  if (kind == Kind::kUnix) return path;
  if (host.empty()) return fmt::format("*:{}", port);
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

Result<uint16_t> resolve_port(std::string_view port) {
  if (all_digits(port)) {
    if (port.size() > 5 || std::stoul(std::string(port)) > 65535 ||
        std::stoul(std::string(port)) == 0)
      return Status(Code::kConfigError, fmt::format("port out of range: {}", port));
    return static_cast<uint16_t>(std::stoul(std::string(port)));
  }
  if (port.empty()) return Status(Code::kConfigError, "empty port");
  std::string name(port);
  struct servent* se = ::getservbyname(name.c_str(), "tcp");
  if (se) return static_cast<uint16_t>(ntohs(static_cast<uint16_t>(se->s_port)));
  for (const auto& w : kWellKnownPorts)
    if (w.name == port) return w.port;
  return Status(Code::kConfigError, fmt::format("unknown service name: {}", port));
}

Result<ListenAddress> parse_listen(std::string_view listen, std::string_view proto) {
  ListenAddress a;
  if (proto == "tcp4") {
    a.family = AF_INET;
  } else if (proto == "tcp6") {
    a.family = AF_INET6;
  } else if (proto != "tcp") {
    return Status(Code::kConfigError, fmt::format("unsupported proto: {}", proto));
  }
  if (listen.empty()) return Status(Code::kConfigError, "empty listen address");
  if (listen.front() == '/') {
    if (listen.size() >= sizeof(sockaddr_un::sun_path))
      return Status(Code::kConfigError, fmt::format("unix socket path too long: {}", listen));
    a.kind = ListenAddress::Kind::kUnix;
    a.path = std::string(listen);
    a.family = AF_UNIX;
    return a;
  }
  std::string_view port = listen;
  if (listen.front() == '[') {
    auto close = listen.find(']');
    if (close == std::string_view::npos || close + 1 >= listen.size() || listen[close + 1] != ':')
      return Status(Code::kConfigError, fmt::format("bad IPv6 listen address: {}", listen));
    a.host = std::string(listen.substr(1, close - 1));
    port = listen.substr(close + 2);
    struct in6_addr tmp;
    if (::inet_pton(AF_INET6, a.host.c_str(), &tmp) != 1)
      return Status(Code::kConfigError, fmt::format("bad IPv6 address: {}", a.host));
    if (a.family == AF_INET)
      return Status(Code::kConfigError, fmt::format("IPv6 address with proto tcp4: {}", listen));
    a.family = AF_INET6;
  } else if (auto colon = listen.rfind(':'); colon != std::string_view::npos) {
    a.host = std::string(listen.substr(0, colon));
    port = listen.substr(colon + 1);
    if (a.host.empty() || a.host.find(':') != std::string::npos)
      return Status(Code::kConfigError, fmt::format("bad listen address: {}", listen));
    if (a.host == "*") a.host.clear();
    struct in_addr tmp;
    if (!a.host.empty() && ::inet_pton(AF_INET, a.host.c_str(), &tmp) == 1) {
      if (a.family == AF_INET6)
        return Status(Code::kConfigError, fmt::format("IPv4 address with proto tcp6: {}", listen));
      a.family = AF_INET;
    }
  }
  auto p = resolve_port(port);
  if (!p)
    return Status(Code::kConfigError, fmt::format("listen {}: {}", listen, p.status().message()));
  a.port = *p;
  return a;
}

namespace {

Result<int> listen_unix(const ListenAddress& addr, int backlog) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_status("socket", addr.path);
  struct sockaddr_un sun {};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, addr.path.c_str(), addr.path.size() + 1);
  ::unlink(addr.path.c_str());
  mode_t old = ::umask(0);
  int rc = ::bind(fd, reinterpret_cast<struct sockaddr*>(&sun), sizeof sun);
  ::umask(old);
  if (rc != 0 || ::listen(fd, backlog) != 0) {
    Status s = errno_status(rc != 0 ? "bind" : "listen", addr.path);
    ::close(fd);
    return s;
  }
  return fd;
}

Result<int> listen_on(const struct sockaddr* sa, socklen_t len, int backlog, bool dual_stack,
                      const std::string& what) {
  int fd = ::socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_status("socket", what);
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (sa->sa_family == AF_INET6) {
    int v6only = dual_stack ? 0 : 1;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  }
  if (::bind(fd, sa, len) != 0) {
    Status s = errno_status("bind", what);
    ::close(fd);
    return s;
  }
  if (::listen(fd, backlog) != 0) {
    Status s = errno_status("listen", what);
    ::close(fd);
    return s;
  }
  return fd;
}

}  // namespace

Result<int> open_listener(const ListenAddress& addr, int backlog) {
  if (addr.kind == ListenAddress::Kind::kUnix) return listen_unix(addr, backlog);
  std::string what = addr.to_string();
  if (addr.host.empty()) {
    if (addr.family != AF_INET) {
      struct sockaddr_in6 sin6 {};
      sin6.sin6_family = AF_INET6;
      sin6.sin6_addr = in6addr_any;
      sin6.sin6_port = htons(addr.port);
      auto fd = listen_on(reinterpret_cast<struct sockaddr*>(&sin6), sizeof sin6, backlog,
                          addr.family == AF_UNSPEC, what);
      if (fd || addr.family == AF_INET6) return fd;
    }
    struct sockaddr_in sin {};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    sin.sin_port = htons(addr.port);
    return listen_on(reinterpret_cast<struct sockaddr*>(&sin), sizeof sin, backlog, false, what);
  }
  struct addrinfo hints {};
  hints.ai_family = addr.family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  struct addrinfo* res = nullptr;
  std::string port = std::to_string(addr.port);
  if (int rc = ::getaddrinfo(addr.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return Status(Code::kIoError, fmt::format("resolve {}: {}", what, ::gai_strerror(rc)));
  Result<int> fd = Status(Code::kIoError, fmt::format("no address for {}", what));
  for (auto* ai = res; ai; ai = ai->ai_next) {
    fd = listen_on(ai->ai_addr, ai->ai_addrlen, backlog, false, what);
    if (fd) break;
  }
  ::freeaddrinfo(res);
  return fd;
}

namespace {

// connect() on a non-blocking `fd`, waiting at most `timeout` for the
// answer; the descriptor is made blocking again on success.
Status connect_within(int fd, const struct sockaddr* sa, socklen_t len,
                      std::chrono::milliseconds timeout, const std::string& what) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
    return errno_status("fcntl", what);
  if (::connect(fd, sa, len) != 0) {
    if (errno != EINPROGRESS) return errno_status("connect", what);
    struct pollfd p {};
    p.fd = fd;
    p.events = POLLOUT;
    int n;
    do {
      n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return errno_status("poll", what);
    if (n == 0) {
      return Status(Code::kIoError,
                    fmt::format("connect {}: timed out after {} ms", what, timeout.count()));
    }
    int err = 0;
    socklen_t errlen = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) != 0)
      return errno_status("getsockopt", what);
    if (err != 0) {
      errno = err;
      return errno_status("connect", what);
    }
  }
  if (::fcntl(fd, F_SETFL, flags) != 0) return errno_status("fcntl", what);
  return Status::success();
}

}  // namespace

Result<int> connect_to(const std::string& host, uint16_t port,
                       std::chrono::milliseconds timeout) {
  if (!host.empty() && host.front() == '/') {
    if (host.size() >= sizeof(sockaddr_un::sun_path))
      return Status(Code::kInvalidArgument, fmt::format("unix socket path too long: {}", host));
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno_status("socket", host);
    struct sockaddr_un sun {};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, host.c_str(), host.size() + 1);
    if (::connect(fd, reinterpret_cast<struct sockaddr*>(&sun), sizeof sun) != 0) {
      Status s = errno_status("connect", host);
      ::close(fd);
      return s;
    }
    return fd;
  }
  std::string what = fmt::format("{}:{}", host, port);
  struct addrinfo hints {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* res = nullptr;
  std::string port_s = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), port_s.c_str(), &hints, &res); rc != 0)
    return Status(Code::kIoError, fmt::format("resolve {}: {}", what, ::gai_strerror(rc)));
  Result<int> out = Status(Code::kIoError, fmt::format("no address for {}", what));
  for (auto* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      out = errno_status("socket", what);
      continue;
    }
    Status c = connect_within(fd, ai->ai_addr, static_cast<socklen_t>(ai->ai_addrlen), timeout,
                              what);
    if (c) {
      out = fd;
      break;
    }
    out = c;
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return out;
}

std::string sockaddr_string(const struct sockaddr* sa, socklen_t len) {
  char buf[INET6_ADDRSTRLEN];
  switch (sa->sa_family) {
    case AF_INET: {
      auto* sin = reinterpret_cast<const struct sockaddr_in*>(sa);
      ::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
      return fmt::format("{}:{}", buf, ntohs(sin->sin_port));
    }
    case AF_INET6: {
      auto* sin6 = reinterpret_cast<const struct sockaddr_in6*>(sa);
      if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
        ::inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], buf, sizeof buf);
        return fmt::format("{}:{}", buf, ntohs(sin6->sin6_port));
      }
      ::inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
      return fmt::format("[{}]:{}", buf, ntohs(sin6->sin6_port));
    }
    case AF_UNIX: {
      auto* sun = reinterpret_cast<const struct sockaddr_un*>(sa);
      size_t max = len > offsetof(struct sockaddr_un, sun_path)
                       ? len - offsetof(struct sockaddr_un, sun_path)
                       : 0;
      std::string path(sun->sun_path, strnlen(sun->sun_path, max));
      return path.empty() ? "unix" : "unix:" + path;
    }
    default:
      return "unknown";
  }
}

std::string peer_name(int fd) {
  struct sockaddr_storage ss {};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<struct sockaddr*>(&ss), &len) != 0) return "unknown";
  return sockaddr_string(reinterpret_cast<struct sockaddr*>(&ss), len);
}

std::string local_name(int fd) {
  struct sockaddr_storage ss {};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &len) != 0) return "unknown";
  return sockaddr_string(reinterpret_cast<struct sockaddr*>(&ss), len);
}

bool is_unix_socket(int fd) {
  struct sockaddr_storage ss {};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &len) != 0) return false;
  return ss.ss_family == AF_UNIX;
}

uint16_t bound_port(int fd) {
  struct sockaddr_storage ss {};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<struct sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<struct sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

}  // namespace replimail::net
