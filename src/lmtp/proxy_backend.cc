#include "lmtp/proxy_backend.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <optional>

#include "common/ascii.h"
#include "common/log.h"
#include "net/socket.h"
#include "net/stream.h"
#include "store/mboxname.h"

namespace replimail::lmtp {

namespace {

// Reply lines of a slot are short; a longer one is a broken peer.
constexpr size_t kMaxReplyLine = 4096;
constexpr size_t kChunk = 64 * 1024;

// The message spooled for the length of DATA, in an unlinked file (nothing
// is acknowledged from it, so nothing is fsynced).
class SpoolSink : public MessageSink {
 public:
  explicit SpoolSink(int fd) : fd_(fd) {}
  ~SpoolSink() override { close(fd_); }
  Status write(std::string_view bytes) override {
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_status("write spool file");
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return Status::success();
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

Result<int> open_spool(const std::string& dir) {
  int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR) return errno_status("spool in", dir);
  // A filesystem without O_TMPFILE: a named file, unlinked at once.
  std::string path = dir + "/lmtpproxy.XXXXXX";
  fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return errno_status("spool in", dir);
  unlink(path.c_str());
  return fd;
}

// One reply of the slot (its continuation lines read and dropped): the last
// line, e.g. "250 2.1.5 Ok".
struct SlotReply {
  int code = 0;
  std::string line;
};

Result<SlotReply> read_reply(net::Stream& s) {
  for (;;) {
    auto line = s.read_line(kMaxReplyLine);
    if (!line.ok()) return line.status();
    auto parsed = parse_reply_line(*line);
    if (!parsed.ok()) return Status(Code::kProtocolError, "slot answered: " + *line);
    if (parsed->last) return SlotReply{parsed->code, *line};
  }
}

}  // namespace

Status reply_status(int code, std::string_view line) {
  if (code >= 200 && code < 300) return Status::success();
  if (code >= 400 && code < 500) return Status(Code::kAgain, std::string(line));
  return Status(Code::kPermissionDenied, std::string(line));
}

ProxyBackend::ProxyBackend(Router& router, ProxyOptions options)
    : router_(router), options_(std::move(options)) {}

Result<Recipient> ProxyBackend::resolve_recipient(const RcptQuery& query) {
  sender_ = query.sender;
  Recipient r;
  r.userid = options_.downcase_rcpt ? to_lower(query.address.user) : query.address.user;
  if (!store::validate_userid(r.userid).is_ok()) {
    return Status(Code::kMailboxNonexistent, "invalid userid " + r.userid);
  }
  auto route = router_.route(r.userid);
  if (!route.ok()) return route.status();
  r.mailbox = store::user_inbox(r.userid);
  return r;
}

Result<std::unique_ptr<MessageSink>> ProxyBackend::begin_message() {
  auto fd = open_spool(options_.spool_dir);
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<MessageSink>(std::make_unique<SpoolSink>(*fd));
}

std::string ProxyBackend::own_reply(size_t i) const {
  return i < outcomes_.size() ? outcomes_[i].reply : std::string();
}

std::vector<Status> ProxyBackend::deliver(MessageSink& sink,
                                          const std::vector<Recipient>& recipients) {
  outcomes_.assign(recipients.size(), Outcome{});
  // Routed again now: a move fenced or finished since RCPT counts.
  std::map<std::string, std::pair<Route, std::vector<size_t>>> groups;
  std::vector<std::string> order;
  for (size_t i = 0; i < recipients.size(); ++i) {
    auto route = router_.route(recipients[i].userid);
    if (!route.ok()) {
      outcomes_[i].status = route.status();
      spdlog::info("lmtpproxyd: {} not forwarded: {}", recipients[i].path,
                   route.status().to_string());
      continue;
    }
    std::string key = route->host + " " + std::to_string(route->port);
    auto [it, inserted] = groups.try_emplace(key, *route, std::vector<size_t>{});
    if (inserted) order.push_back(key);
    it->second.second.push_back(i);
  }
  const int fd = static_cast<SpoolSink&>(sink).fd();
  for (const std::string& key : order) {
    const auto& [route, which] = groups.at(key);
    forward(route, fd, recipients, which);
  }
  std::vector<Status> out;
  for (const Outcome& o : outcomes_) out.push_back(o.status);
  return out;
}

void ProxyBackend::forward(const Route& route, int spool_fd,
                           const std::vector<Recipient>& recipients,
                           const std::vector<size_t>& which) {
  const std::string where = route.slot + " (" + route.host + ":" + std::to_string(route.port) + ")";
  // Every recipient not answered by the slot when the exchange stops.
  auto fail_rest = [&](const Status& why, std::string_view reply) {
    for (size_t i : which) {
      Outcome& o = outcomes_[i];
      if (!o.reply.empty()) continue;
      o.status = why;
      o.reply = std::string(reply);
      spdlog::warn("lmtpproxyd: {} to {}: {}", recipients[i].path, where, why.to_string());
    }
  };
  auto fd = net::connect_to(route.host, route.port, options_.connect_timeout);
  if (!fd.ok()) {
    fail_rest(fd.status(), "451 4.4.1 Slot " + route.slot + " does not answer, try again later");
    return;
  }
  net::Stream s(*fd);
  s.set_timeout(options_.io_timeout);
  const std::string lost = "451 4.4.2 Connection to slot " + route.slot + " lost, try again later";
  // A command and its reply; nullopt when the connection failed (the rest
  // already failed with `lost`).
  auto exchange = [&](const std::string& command) -> std::optional<SlotReply> {
    if (!command.empty()) {
      if (Status w = s.write_flush(command + "\r\n"); !w.is_ok()) {
        fail_rest(w, lost);
        return std::nullopt;
      }
    }
    auto r = read_reply(s);
    if (!r.ok()) {
      fail_rest(r.status(), lost);
      return std::nullopt;
    }
    return *r;
  };
  auto expect = [&](const std::string& command, int code) {
    auto r = exchange(command);
    if (!r) return false;
    if (r->code == code) return true;
    // The slot refused the transaction itself: its reply for every recipient.
    fail_rest(reply_status(r->code, r->line), r->line);
    return false;
  };
  if (!expect("", 220) || !expect("LHLO " + options_.servername, 250) ||
      !expect("MAIL FROM:<" + sender_ + ">", 250)) {
    close(*fd);
    return;
  }
  std::vector<size_t> accepted;
  for (size_t i : which) {
    const Recipient& r = recipients[i];
    auto reply = exchange("RCPT TO:<" + r.path + ">" + (r.ignorequota ? " IGNOREQUOTA" : ""));
    if (!reply) {
      close(*fd);
      return;
    }
    if (reply->code == 250) {
      accepted.push_back(i);
    } else {
      outcomes_[i] = {reply_status(reply->code, reply->line), reply->line};
    }
  }
  if (accepted.empty() || !expect("DATA", 354)) {
    if (accepted.empty()) (void)s.write_flush("QUIT\r\n");
    close(*fd);
    return;
  }
  DotEncoder encoder;
  std::string chunk(kChunk, '\0'), wire;
  Status sent = Status::success();
  for (off_t at = 0; sent.is_ok();) {
    ssize_t n = pread(spool_fd, chunk.data(), chunk.size(), at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      // Nothing of the message can be trusted now: no final dot is sent.
      fail_rest(errno_status("read spool file"), "451 4.3.0 System I/O error");
      close(*fd);
      return;
    }
    if (n == 0) break;
    at += n;
    wire.clear();
    encoder.feed(std::string_view(chunk.data(), static_cast<size_t>(n)), &wire);
    sent = s.write(wire);
  }
  wire.clear();
  encoder.finish(&wire);
  if (sent.is_ok()) sent = s.write_flush(wire);
  if (!sent.is_ok()) {
    fail_rest(sent, lost);
    close(*fd);
    return;
  }
  // One reply per accepted recipient, in RCPT order (RFC 2033 4.2).
  for (size_t i : accepted) {
    auto r = read_reply(s);
    if (!r.ok()) {
      fail_rest(r.status(), lost);
      close(*fd);
      return;
    }
    outcomes_[i] = {reply_status(r->code, r->line), r->line};
    spdlog::info("lmtpproxyd: {} to {}: {}", recipients[i].path, where, r->line);
  }
  (void)s.write_flush("QUIT\r\n");
  close(*fd);
}

}  // namespace replimail::lmtp
