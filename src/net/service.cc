#include "net/service.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "common/stats.h"
#include "net/socket.h"

namespace replimail::net {
namespace {

volatile sig_atomic_t g_stop_signal = 0;

void on_stop_signal(int sig) { g_stop_signal = sig; }

void set_handler(int sig, void (*fn)(int)) {
  struct sigaction sa {};
  sa.sa_handler = fn;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(sig, &sa, nullptr);
}

Result<int> parse_count(std::string_view flag, std::string_view v) {
  int n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < 0)
    return Status(Code::kInvalidArgument, fmt::format("{}: bad number '{}'", flag, v));
  return n;
}

// Writes one status record to master. A failed write means master is gone,
// and a service without its master must not linger.
void notify_master(StatusMessage message) {
  StatusRecord r{message, static_cast<int>(::getpid())};
  for (;;) {
    ssize_t n = ::write(kStatusFd, &r, sizeof r);
    if (n == static_cast<ssize_t>(sizeof r)) return;
    if (n < 0 && errno == EINTR) continue;
    spdlog::error("status pipe to master: {}", n < 0 ? std::strerror(errno) : "short write");
    std::exit(EX_TEMPFAIL);
  }
}

bool is_listening_socket(int fd) {
  int on = 0;
  socklen_t len = sizeof on;
  return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

int serve_stdio(const Handler& handler) {
  Connection conn;
  conn.in_fd = 0;
  conn.out_fd = 1;
  conn.is_stdio = true;
  struct sockaddr_storage ss {};
  socklen_t len = sizeof ss;
  if (::getpeername(0, reinterpret_cast<struct sockaddr*>(&ss), &len) == 0) {
    conn.peer = sockaddr_string(reinterpret_cast<struct sockaddr*>(&ss), len);
    conn.local = local_name(0);
    conn.is_unix = ss.ss_family == AF_UNIX;
  } else {
    conn.peer = "stdin";
    conn.local = "stdout";
  }
  handler(conn);
  return 0;
}

// Waits for the listener to become readable. Returns false when the process
// should exit instead (signal, or idle timeout once it has served someone).
// REQUIRES: SIGHUP and SIGTERM blocked; `wait_mask` is the mask to wait with,
// so a signal cannot slip in between the flag check and the wait.
bool wait_for_connection(const ServiceOptions& options, int use_count, const sigset_t& wait_mask) {
  for (;;) {
    if (g_stop_signal) return false;
    // The status pipe's write end reports POLLERR once master, the only
    // reader, is gone: an idle worker must not outlive its master.
    struct pollfd p[2] = {{kListenFd, POLLIN, 0}, {kStatusFd, 0, 0}};
    struct timespec ts {
      options.idle_timeout.count(), 0
    };
    bool timed = use_count > 0 && options.idle_timeout.count() > 0;
    int n = ::ppoll(p, 2, timed ? &ts : nullptr, &wait_mask);
    if (n > 0 && (p[1].revents & (POLLERR | POLLHUP | POLLNVAL))) {
      spdlog::info("master is gone, exiting");
      return false;
    }
    if (n > 0) return true;
    if (n == 0) {
      spdlog::debug("idle for {}s, exiting", options.idle_timeout.count());
      return false;
    }
    if (errno != EINTR) {
      spdlog::error("poll on listener: {}", std::strerror(errno));
      return false;
    }
  }
}

int serve_master(const ServiceOptions& options, const Handler& handler, const std::string& name) {
  // Several workers wait on the same listener; only one wins each
  // connection, so the losers must see EAGAIN rather than block in accept().
  int flags = ::fcntl(kListenFd, F_GETFL);
  ::fcntl(kListenFd, F_SETFL, flags | O_NONBLOCK);
  sigset_t stop_signals, wait_mask;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGHUP);
  sigaddset(&stop_signals, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &stop_signals, &wait_mask);
  sigdelset(&wait_mask, SIGHUP);
  sigdelset(&wait_mask, SIGTERM);
  set_handler(SIGHUP, on_stop_signal);
  set_handler(SIGTERM, on_stop_signal);

  int use_count = 0;
  bool available = false;
  const exposition::Labels service = {{"service", name}};
  const stats::Counter accepted = stats::counter(
      "replimail_service_connections_total", "Connections accepted, per cyrus.conf service.", service);
  const stats::Gauge active = stats::gauge("replimail_service_active_connections",
                                           "Connections being served now, per service.", service);
  while (use_count < options.max_use) {
    if (!available) {
      notify_master(kServiceAvailable);
      available = true;
    }
    if (!wait_for_connection(options, use_count, wait_mask)) break;
    int fd = ::accept4(kListenFd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
        continue;
      spdlog::error("accept: {}", std::strerror(errno));
      break;
    }
    notify_master(kServiceUnavailable);
    notify_master(kServiceConnection);
    available = false;

    Connection conn;
    conn.in_fd = fd;
    conn.out_fd = fd;
    conn.peer = peer_name(fd);
    conn.local = local_name(fd);
    conn.is_unix = is_unix_socket(fd);
    conn.service = name;
    if (!conn.is_unix) {
      // Replies are buffered and flushed whole at the end of each command
      // (or every 64 KiB of a long one): the last segment must not wait for
      // the client's ACK of the one before (Nagle against delayed ACK, up
      // to 40 ms a reply on Linux).
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    spdlog::debug("accepted connection from {}", conn.peer);
    // A session is ended by SIGTERM outright; SIGHUP only marks that no
    // further session should be taken.
    set_handler(SIGTERM, SIG_DFL);
    ::sigprocmask(SIG_UNBLOCK, &stop_signals, nullptr);
    accepted.add();
    active.add(1);
    handler(conn);
    active.add(-1);
    ::sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
    set_handler(SIGTERM, on_stop_signal);
    ::close(fd);
    ++use_count;
  }
  spdlog::debug("service {} exiting after {} connection(s)", name, use_count);
  return 0;
}

}  // namespace

Result<ServiceOptions> parse_service_options(int argc, char** argv) {
  ServiceOptions o;
  if (argc > 0) o.args.emplace_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-X") {
      o.stdio = true;
      continue;
    }
    if (a == "-D") {
      o.debug = true;
      continue;
    }
    if (a.size() >= 2 && a[0] == '-' && (a[1] == 'C' || a[1] == 'U' || a[1] == 'T')) {
      std::string_view flag = a.substr(0, 2);
      std::string_view value = a.substr(2);
      if (value.empty()) {
        if (i + 1 >= argc)
          return Status(Code::kInvalidArgument, fmt::format("{} needs a value", flag));
        value = argv[++i];
      }
      if (a[1] == 'C') {
        o.config_path = std::string(value);
      } else {
        auto n = parse_count(flag, value);
        if (!n) return n.status();
        if (a[1] == 'U') {
          o.max_use = *n > 0 ? *n : 250;
        } else {
          o.idle_timeout = std::chrono::seconds(*n);
        }
      }
      continue;
    }
    o.args.emplace_back(a);
  }
  return o;
}

int serve(const ServiceOptions& options, const Handler& handler) {
  // A peer that goes away must surface as EPIPE on write, not kill us.
  ::signal(SIGPIPE, SIG_IGN);
  if (options.debug) spdlog::set_level(spdlog::level::debug);
  if (options.stdio) return serve_stdio(handler);
  const char* name = std::getenv("CYRUS_SERVICE");
  if (!name || !is_listening_socket(kListenFd)) {
    spdlog::error("not started by master (no CYRUS_SERVICE or no listener on fd {}); use -X",
                  kListenFd);
    return EX_USAGE;
  }
  return serve_master(options, handler, name);
}

int run_service(int argc, char** argv, const Handler& handler) {
  auto options = parse_service_options(argc, argv);
  if (!options) {
    spdlog::error("{}", options.status().message());
    return EX_USAGE;
  }
  return serve(*options, handler);
}

}  // namespace replimail::net
