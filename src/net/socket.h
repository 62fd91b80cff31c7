// Sockets: cyrus.conf listen addresses, listeners, client connections and
// printable endpoint names.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace replimail::net {

// Where a service listens, parsed from cyrus.conf's listen= and proto=.
struct ListenAddress {
  enum class Kind { kInet, kUnix };
  Kind kind = Kind::kInet;
  std::string path;  // kUnix: the socket file
  std::string host;  // kInet: name or literal address; empty means any address
  uint16_t port = 0;
  // AF_INET or AF_INET6 when proto (tcp4/tcp6) or an address literal pins
  // the family, else AF_UNSPEC.
  int family = AF_UNSPEC;

  // "host:port", "[v6]:port", "*:port" or the unix path.
  std::string to_string() const;
};

// Parses a listen= value: "/unix/path", "host:port", "[v6addr]:port", or a
// bare "port"; a port may be a service name (csync, imap, lmtp, ...), looked
// up with getservbyname and falling back to Cyrus's well-known numbers when
// /etc/services lacks it. `proto` is cyrus.conf's proto= (tcp, tcp4, tcp6);
// udp is refused. Pure apart from the services lookup.
Result<ListenAddress> parse_listen(std::string_view listen, std::string_view proto = "tcp");

// Resolves a port given as a number or a service name.
Result<uint16_t> resolve_port(std::string_view port);

// Opens, binds and listens (SO_REUSEADDR; a stale unix socket file is
// unlinked first; the file is made world-connectable as Cyrus does). A TCP
// listener without a host and family binds the IPv6 wildcard in dual-stack
// mode, falling back to IPv4. The descriptor is close-on-exec; the caller
// owns it.
Result<int> open_listener(const ListenAddress& addr, int backlog);

// Connects to host:port (trying every address getaddrinfo gives) or, when
// `host` starts with '/', to that unix socket (port ignored). A TCP attempt
// that gets no answer within `timeout` (e.g. the link to the host is cut)
// fails with kIoError "timed out" instead of waiting for the kernel's SYN
// retries (about two minutes); 10 s is Cyrus's client_timeout default.
// The descriptor is blocking and close-on-exec; the caller owns it.
Result<int> connect_to(const std::string& host, uint16_t port,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Printable endpoint names, "127.0.0.1:143", "[::1]:143" or "unix:/path"
// (with an unnamed unix peer "unix").
std::string sockaddr_string(const struct sockaddr* sa, socklen_t len);
std::string peer_name(int fd);
std::string local_name(int fd);
// True when `fd` is a unix-domain socket.
bool is_unix_socket(int fd);
// The port a TCP socket is bound to (0 if none or not TCP).
uint16_t bound_port(int fd);

}  // namespace replimail::net
