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

// One LMTP transaction with a slot's lmtpd for the recipients `which` of the
// message (indexes into `recipients`), filling their outcomes: the slot's
// own reply line, or the proxy's 451 for those the slot did not answer.
class SlotTransaction {
 public:
  SlotTransaction(const Route& route, const ProxyOptions& options,
                  const std::vector<Recipient>& recipients, const std::vector<size_t>& which,
                  std::vector<ProxyBackend::Outcome>& outcomes)
      : route_(route),
        options_(options),
        recipients_(recipients),
        which_(which),
        outcomes_(outcomes),
        lost_("451 4.4.2 Connection to slot " + route.slot + " lost, try again later") {}
  ~SlotTransaction() {
    stream_.reset();
    if (fd_ >= 0) close(fd_);
  }
  SlotTransaction(const SlotTransaction&) = delete;
  SlotTransaction& operator=(const SlotTransaction&) = delete;

  void run(const std::string& sender, int spool_fd) {
    if (!open() || !envelope(sender)) return;
    if (accepted_.empty()) {
      (void)stream_->write_flush("QUIT\r\n");
      return;
    }
    if (!send_message(spool_fd) || !final_replies()) return;
    (void)stream_->write_flush("QUIT\r\n");
  }

 private:
  // Connected, greeted and LHLO answered.
  bool open() {
    auto fd = net::connect_to(route_.host, route_.port, options_.connect_timeout);
    if (!fd.ok()) {
      fail_rest(fd.status(), "451 4.4.1 Slot " + route_.slot + " does not answer, try again later");
      return false;
    }
    fd_ = *fd;
    stream_ = std::make_unique<net::Stream>(fd_);
    stream_->set_timeout(options_.io_timeout);
    return expect("", 220) && expect("LHLO " + options_.servername, 250);
  }

  // MAIL and every RCPT; a recipient the slot refuses gets its reply.
  bool envelope(const std::string& sender) {
    if (!expect("MAIL FROM:<" + sender + ">", 250)) return false;
    for (size_t i : which_) {
      const Recipient& r = recipients_[i];
      auto reply = exchange("RCPT TO:<" + r.path + ">" + (r.ignorequota ? " IGNOREQUOTA" : ""));
      if (!reply) return false;
      if (reply->code == 250) {
        accepted_.push_back(i);
      } else {
        outcomes_[i] = {reply_status(reply->code, reply->line), reply->line};
      }
    }
    return true;
  }

  // DATA, the spooled message dot-stuffed, the final dot.
  bool send_message(int spool_fd) {
    if (!expect("DATA", 354)) return false;
    DotEncoder encoder;
    std::string chunk(kChunk, '\0'), wire;
    for (off_t at = 0;;) {
      ssize_t n = pread(spool_fd, chunk.data(), chunk.size(), at);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        // Nothing of the message can be trusted now: no final dot is sent.
        fail_rest(errno_status("read spool file"), "451 4.3.0 System I/O error");
        return false;
      }
      if (n == 0) break;
      at += n;
      wire.clear();
      encoder.feed(std::string_view(chunk.data(), static_cast<size_t>(n)), &wire);
      if (Status w = stream_->write(wire); !w.is_ok()) {
        fail_rest(w, lost_);
        return false;
      }
    }
    wire.clear();
    encoder.finish(&wire);
    if (Status w = stream_->write_flush(wire); !w.is_ok()) {
      fail_rest(w, lost_);
      return false;
    }
    return true;
  }

  // One reply per accepted recipient, in RCPT order (RFC 2033 4.2).
  bool final_replies() {
    const std::string where =
        route_.slot + " (" + route_.host + ":" + std::to_string(route_.port) + ")";
    for (size_t i : accepted_) {
      auto r = read_reply(*stream_);
      if (!r.ok()) {
        fail_rest(r.status(), lost_);
        return false;
      }
      outcomes_[i] = {reply_status(r->code, r->line), r->line};
      spdlog::info("lmtpproxyd: {} to {}: {}", recipients_[i].path, where, r->line);
    }
    return true;
  }

  // A command (none: the greeting) and its reply; nullopt when the
  // connection failed (the recipients not answered yet get lost_).
  std::optional<SlotReply> exchange(const std::string& command) {
    if (!command.empty()) {
      if (Status w = stream_->write_flush(command + "\r\n"); !w.is_ok()) {
        fail_rest(w, lost_);
        return std::nullopt;
      }
    }
    auto r = read_reply(*stream_);
    if (!r.ok()) {
      fail_rest(r.status(), lost_);
      return std::nullopt;
    }
    return *r;
  }

  // exchange() answered with `code`; another reply is the slot refusing
  // the transaction itself: its reply for every recipient.
  bool expect(const std::string& command, int code) {
    auto r = exchange(command);
    if (!r) return false;
    if (r->code == code) return true;
    fail_rest(reply_status(r->code, r->line), r->line);
    return false;
  }

  // Every recipient the slot has not answered gets `reply`.
  void fail_rest(const Status& why, const std::string& reply) {
    for (size_t i : which_) {
      ProxyBackend::Outcome& o = outcomes_[i];
      if (!o.reply.empty()) continue;
      o = {why, reply};
      spdlog::warn("lmtpproxyd: {} to slot {}: {}", recipients_[i].path, route_.slot,
                   why.to_string());
    }
  }

  const Route& route_;
  const ProxyOptions& options_;
  const std::vector<Recipient>& recipients_;
  const std::vector<size_t>& which_;
  std::vector<ProxyBackend::Outcome>& outcomes_;
  const std::string lost_;
  int fd_ = -1;
  std::unique_ptr<net::Stream> stream_;
  std::vector<size_t> accepted_;
};

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
    SlotTransaction(route, options_, recipients, which, outcomes_).run(sender_, fd);
  }
  std::vector<Status> out;
  for (const Outcome& o : outcomes_) out.push_back(o.status);
  return out;
}

}  // namespace replimail::lmtp
