// How a message's Received header names the client that sent it.
#pragma once

#include <string>

#include "net/service.h"

namespace replimail::net {

// "127.0.0.1;40212" (libsasl2's ip;port form of the peer) → "[127.0.0.1]",
// as Cyrus names a client; without it, "unix socket" or the peer as master
// handed it over.
inline std::string received_from(const std::string& ip_port, const Connection& conn) {
  if (ip_port.empty()) return conn.is_unix ? "unix socket" : conn.peer;
  return "[" + ip_port.substr(0, ip_port.rfind(';')) + "]";
}

}  // namespace replimail::net
