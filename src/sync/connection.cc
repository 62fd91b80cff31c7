#include "sync/connection.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>

#include "common/base64.h"
#include "dlist/framing.h"
#include "dlist/printer.h"
#include "net/socket.h"

namespace replimail::sync {
namespace {

std::string line_text(const std::vector<dlist::Value>& line) {
  std::string out;
  for (const auto& v : line) {
    if (!out.empty()) out += ' ';
    out += dlist::debug_string(v);
  }
  return out;
}

// True if `fd` is a unix socket or connected to a loopback address.
bool local_peer(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  if (ss.ss_family == AF_UNIX) return true;
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
    return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

bool is_atom(const dlist::Value& v, std::string_view word) {
  auto s = v.str();
  return s && *s == word;
}

}  // namespace

ReplicaConnection::ReplicaConnection(int fd, ConnectOptions opts, dlist::FileSink* sink)
    : fd_(fd),
      opts_(std::move(opts)),
      io_(std::make_unique<net::Stream>(fd, fd)),
      wire_(std::make_unique<Wire>(*io_)),
      parser_(std::make_unique<dlist::Parser>(sink, dlist::Limits{}, true)) {
  io_->set_timeout(opts_.timeout);
}

ReplicaConnection::~ReplicaConnection() {
  parser_.reset();
  wire_.reset();
  io_.reset();
  ::close(fd_);
}

Result<std::unique_ptr<ReplicaConnection>> ReplicaConnection::open(const ConnectOptions& opts,
                                                                   dlist::FileSink* sink) {
  auto fd = net::connect_to(opts.host, opts.port,
                            std::min(opts.timeout, std::chrono::milliseconds(10000)));
  if (!fd.ok()) return fd.status();
  if (!opts.host.starts_with("/")) {
    int one = 1;
    ::setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Keepalive probes a third of the timeout apart, three unanswered ones
    // end the connection; unacknowledged data gives up after the timeout.
    // This notices a vanished host (or a cut link) even while no command
    // is under way; a stopped sync_server whose kernel still answers is
    // caught by the per-exchange timeout.
    int probe = static_cast<int>(std::max<int64_t>(1, opts.timeout.count() / 3000));
    int count = 3;
    unsigned user_timeout = static_cast<unsigned>(opts.timeout.count());
    ::setsockopt(*fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    ::setsockopt(*fd, IPPROTO_TCP, TCP_KEEPIDLE, &probe, sizeof probe);
    ::setsockopt(*fd, IPPROTO_TCP, TCP_KEEPINTVL, &probe, sizeof probe);
    ::setsockopt(*fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    ::setsockopt(*fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout);
  }
  std::unique_ptr<ReplicaConnection> c(new ReplicaConnection(*fd, opts, sink));
  Status s = c->handshake();
  if (!s) return s;
  if (opts.force) {
    dlist::Value force = dlist::Value::kvlist();
    force.set_key("FORCE");
    auto r = c->command("APPLY", force);
    if (!r.ok()) return r.status();
  }
  return c;
}

Status ReplicaConnection::broken(Status why) {
  ::shutdown(fd_, SHUT_RDWR);
  if (io_->timed_out())
    return Status(Code::kIoError,
                  fmt::format("replica silent for {} ms: connection taken for dead ({})",
                              opts_.timeout.count(), why.message()));
  return why;
}

Result<std::vector<dlist::Value>> ReplicaConnection::read_line() {
  auto ev = wire_->read_line(*parser_);
  if (!ev.ok()) {
    return broken(Status(Code::kIoError, io_->eof()
                                             ? "replica closed the connection"
                                             : "reading from replica: " + ev.status().message()));
  }
  if (*ev == dlist::Parser::Event::kBadLine)
    return Status(Code::kProtocolError, "malformed reply: " + parser_->error().message());
  auto line = parser_->take_line();
  if (opts_.verbose >= 2) spdlog::info("< {}", line_text(line));
  return line;
}

Status ReplicaConnection::read_banner() {
  caps_.clear();
  mechs_.clear();
  for (;;) {
    auto line = read_line();
    if (!line.ok()) return line.status();
    if (line->size() >= 2 && is_atom((*line)[0], "*")) {
      if (is_atom((*line)[1], "OK")) return Status::success();
      auto cap = (*line)[1].str();
      if (!cap) continue;
      caps_.emplace_back(*cap);
      if (*cap == "SASL")
        for (size_t i = 2; i < line->size(); i++)
          mechs_.emplace_back((*line)[i].str().value_or(""));
      continue;
    }
    auto r = dlist::response_from(*line);
    if (r) return dlist::to_status(*r);
    return Status(Code::kProtocolError, "unexpected banner line: " + line_text(*line));
  }
}

Status ReplicaConnection::start_tls(bool implicit) {
  if (!implicit) {
    Status s = io_->write_flush("STARTTLS\r\n");
    if (!s) return broken(s);
    auto line = read_line();
    if (!line.ok()) return line.status();
    auto r = dlist::response_from(*line);
    if (!r || r->kind != dlist::Response::Kind::kOk)
      return broken(Status(Code::kProtocolError,
                           "replica refused STARTTLS: " + (r ? r->text : line_text(*line))));
  }
  auto ctx = opts_.tls->get();
  if (!ctx.ok()) return broken(ctx.status());
  Status s = io_->start_tls_client(**ctx, opts_.host, tls_handshake_timeout(*io_));
  if (!s) return broken(s);
  if (opts_.verbose >= 1) spdlog::info("TLS with {}: {}", opts_.host, io_->tls_description());
  return Status::success();
}

std::string ReplicaConnection::no_mechanism_reason() const {
  std::string offered;
  for (const auto& m : mechs_) offered += (offered.empty() ? "" : " ") + m;
  std::string what =
      fmt::format("replica {} offers no SASL PLAIN{} (offered: {})", opts_.host,
                  io_->tls() ? " even over TLS" : "", offered.empty() ? "none" : offered);
  if (io_->tls()) return what;
  if (std::find(caps_.begin(), caps_.end(), "STARTTLS") == caps_.end())
    return what +
           " and no STARTTLS: give it tls_server_cert/tls_server_key, or allowplaintext: yes";
  return what + "; it needs STARTTLS, and this client has no TLS context";
}

Status ReplicaConnection::authenticate_plain() {
  std::string resp = std::string(1, '\0') + opts_.authname + '\0' + opts_.password;
  Status s = io_->write_flush("AUTHENTICATE PLAIN " + base64_encode(resp) + "\r\n");
  if (!s) return broken(s);
  auto line = read_line();
  if (!line.ok()) return line.status();
  auto r = dlist::response_from(*line);
  if (!r) return Status(Code::kProtocolError, "unexpected reply to AUTHENTICATE");
  if (r->kind != dlist::Response::Kind::kOk)
    return Status(Code::kPermissionDenied,
                  "authentication as " + opts_.authname + " failed: " + r->text);
  return Status::success();
}

Status ReplicaConnection::handshake() {
  const bool unix_socket = opts_.host.starts_with("/");
  if (opts_.implicit_tls && !unix_socket) {
    if (!opts_.tls) return Status(Code::kConfigError, "/tls in sync_host but no TLS context");
    if (Status s = start_tls(true); !s) return s;
  }
  if (Status s = read_banner(); !s) return s;
  if (!unix_socket && !opts_.noauth) {
    auto has = [](const std::vector<std::string>& v, std::string_view x) {
      return std::find(v.begin(), v.end(), x) != v.end();
    };
    // As Cyrus 3.6's backend_authenticate: without a usable mechanism,
    // STARTTLS if offered, read the banner again and retry.
    if (!has(mechs_, "PLAIN") && has(caps_, "STARTTLS") && !io_->tls() && opts_.tls) {
      if (Status s = start_tls(false); !s) return s;
      if (Status s = read_banner(); !s) return s;
    }
    if (!has(mechs_, "PLAIN")) return Status(Code::kPermissionDenied, no_mechanism_reason());
    if (Status s = authenticate_plain(); !s) return s;
  }
  bool offered = std::find(caps_.begin(), caps_.end(), "COMPRESS") != caps_.end();
  bool wanted = opts_.require_compression || (opts_.allow_compression && !local_peer(fd_));
  if (offered && wanted) {
    Status s = io_->write_flush("COMPRESS DEFLATE\r\n");
    if (!s) return s;
    auto line = read_line();
    if (!line.ok()) return line.status();
    auto r = dlist::response_from(*line);
    if (r && r->kind == dlist::Response::Kind::kOk) {
      s = io_->start_compression();
      if (!s) return s;
    } else {
      spdlog::warn("replica refused COMPRESS DEFLATE; continuing uncompressed");
    }
  }
  if (opts_.require_compression && !io_->compressed())
    return Status(Code::kProtocolError, "compression required (-z) but not negotiated");
  return Status::success();
}

Result<Reply> ReplicaConnection::read_reply() {
  Reply reply;
  for (;;) {
    auto line = read_line();
    if (!line.ok()) return line.status();
    if (!line->empty() && is_atom((*line)[0], "*")) {
      auto item = dlist::keyed(std::move(*line), 1);
      if (!item.ok()) return item.status();
      reply.items.push_back(std::move(*item));
      continue;
    }
    auto r = dlist::response_from(*line);
    if (!r) return Status(Code::kProtocolError, "unexpected reply line: " + line_text(*line));
    Status s = dlist::to_status(*r);
    if (!s) return s;
    return reply;
  }
}

Result<Reply> ReplicaConnection::command(const std::string& verb, const dlist::Value& keyed) {
  if (opts_.verbose >= 1) {
    std::string text = dlist::debug_string(keyed);
    if (text.size() > 300) text = text.substr(0, 300) + "...";
    spdlog::info("> {} {} {}", verb, keyed.key(), text);
  }
  Status s = io_->write(verb + " ");
  if (s) s = dlist::print_item(keyed, *wire_);
  if (s) s = io_->write_flush("\r\n");
  if (!s) return broken(s);
  return read_reply();
}

Result<Reply> ReplicaConnection::command_streamed(
    const std::string& verb, const dlist::Value& head, std::string_view list_key,
    const std::function<Status(const Emit&)>& members) {
  size_t count = 0;
  dlist::StreamedItem item(*wire_);
  Status s = io_->write(verb + " ");
  if (s) s = item.open(head, list_key);
  if (s) {
    s = members([&](const dlist::Value& member) {
      count++;
      return item.add(member);
    });
  }
  if (s) s = item.close();
  if (s) s = io_->write_flush("\r\n");
  // Part of the line may have gone out: nothing more can be said on it.
  if (!s) return broken(s);
  if (opts_.verbose >= 1) {
    std::string text = dlist::debug_string(head);
    if (text.size() > 300) text = text.substr(0, 300) + "...";
    spdlog::info("> {} {} {} + {} ({} members)", verb, head.key(), text, list_key, count);
  }
  return read_reply();
}

Status ReplicaConnection::send_list_streamed(
    const std::string& verb, std::string_view key,
    const std::function<Status(dlist::StreamedItem&)>& members) {
  if (opts_.verbose >= 1) spdlog::info("> {} {} (...)", verb, key);
  dlist::StreamedItem item(*wire_);
  Status s = io_->write(verb + " ");
  if (s) s = item.open_list(key);
  if (s) s = members(item);
  if (s) s = item.close();
  if (s) s = io_->write_flush("\r\n");
  if (!s) return broken(s);
  return Status::success();
}

Status ReplicaConnection::simple(const std::string& verb) {
  if (opts_.verbose >= 1) spdlog::info("> {}", verb);
  Status s = io_->write_flush(verb + "\r\n");
  if (!s) return broken(s);
  return read_reply().status();
}

}  // namespace replimail::sync
