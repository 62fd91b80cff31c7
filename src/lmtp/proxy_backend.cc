#include "lmtp/proxy_backend.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <optional>
#include <system_error>
#include <thread>

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

// `lines`, when given, receives every line of the reply.
Result<SlotReply> read_reply(net::Stream& s, std::vector<std::string>* lines = nullptr) {
  for (;;) {
    auto line = s.read_line(kMaxReplyLine);
    if (!line.ok()) return line.status();
    auto parsed = parse_reply_line(*line);
    if (!parsed.ok()) return Status(Code::kProtocolError, "slot answered: " + *line);
    if (lines != nullptr) lines->push_back(*line);
    if (parsed->last) return SlotReply{parsed->code, *line};
  }
}

std::string address_of(const Route& route) { return route.host + ":" + std::to_string(route.port); }

std::string no_answer(const Route& route) {
  return "451 4.4.1 Slot " + route.slot + " does not answer, try again later";
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

  void run(const MailParams& mail, int spool_fd) {
    if (!open() || !envelope(mail)) return;
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
      if (options_.unreachable != nullptr)
        options_.unreachable->failed(route_,
                                     UnreachableSlots::Clock::now() + options_.connect_timeout);
      fail_rest(fd.status(), no_answer(route_));
      return false;
    }
    if (options_.unreachable != nullptr) options_.unreachable->answered(route_);
    fd_ = *fd;
    stream_ = std::make_unique<net::Stream>(fd_);
    stream_->set_timeout(options_.io_timeout);
    if (!expect("", 220)) return false;
    std::vector<std::string> lines;
    if (!expect("LHLO " + options_.servername, 250, &lines)) return false;
    extensions_ = parse_lhlo_extensions(lines);
    return true;
  }

  // MAIL and every RCPT; a recipient the slot refuses gets its reply.
  bool envelope(const MailParams& mail) {
    if (!expect(mail_from_command(mail, extensions_), 250)) return false;
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
  std::optional<SlotReply> exchange(const std::string& command,
                                    std::vector<std::string>* lines = nullptr) {
    if (!command.empty()) {
      if (Status w = stream_->write_flush(command + "\r\n"); !w.is_ok()) {
        fail_rest(w, lost_);
        return std::nullopt;
      }
    }
    auto r = read_reply(*stream_, lines);
    if (!r.ok()) {
      fail_rest(r.status(), lost_);
      return std::nullopt;
    }
    return *r;
  }

  // exchange() answered with `code`; another reply is the slot refusing
  // the transaction itself: its reply for every recipient.
  bool expect(const std::string& command, int code, std::vector<std::string>* lines = nullptr) {
    auto r = exchange(command, lines);
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
  SlotExtensions extensions_;
  std::vector<size_t> accepted_;
};

bool is_keyword(std::string_view text, std::string_view keyword) {
  return iequals(text.substr(0, keyword.size()), keyword) &&
         (text.size() == keyword.size() || text[keyword.size()] == ' ');
}

}  // namespace

Status reply_status(int code, std::string_view line) {
  if (code >= 200 && code < 300) return Status::success();
  if (code >= 400 && code < 500) return Status(Code::kAgain, std::string(line));
  return Status(Code::kPermissionDenied, std::string(line));
}

void UnreachableSlots::failed(const Route& route, Clock::time_point until) {
  std::lock_guard<std::mutex> l(mu_);
  until_[address_of(route)] = until;
}

void UnreachableSlots::answered(const Route& route) {
  std::lock_guard<std::mutex> l(mu_);
  until_.erase(address_of(route));
}

bool UnreachableSlots::unreachable(const Route& route, Clock::time_point now) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = until_.find(address_of(route));
  return it != until_.end() && now < it->second;
}

SlotExtensions parse_lhlo_extensions(const std::vector<std::string>& lines) {
  SlotExtensions out;
  for (size_t i = 1; i < lines.size(); ++i) {
    auto parsed = parse_reply_line(lines[i]);
    if (!parsed.ok() || parsed->code != 250) continue;
    const std::string_view text = parsed->text;
    out.size = out.size || is_keyword(text, "SIZE");
    out.eight_bit = out.eight_bit || is_keyword(text, "8BITMIME");
    out.auth = out.auth || is_keyword(text, "AUTH");
  }
  return out;
}

std::string encode_xtext(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= '!' && c <= '~' && c != '+' && c != '=') {
      out += ch;
    } else {
      out += '+';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string mail_from_command(const MailParams& mail, const SlotExtensions& slot) {
  std::string cmd = "MAIL FROM:<" + mail.sender + ">";
  if (slot.size) cmd += " SIZE=" + std::to_string(mail.size);
  if (slot.eight_bit && !mail.body.empty()) cmd += " BODY=" + mail.body;
  if (slot.auth && !mail.authuser.empty()) cmd += " AUTH=" + encode_xtext(mail.authuser);
  return cmd;
}

ProxyBackend::ProxyBackend(Router& router, ProxyOptions options)
    : router_(router), options_(std::move(options)) {}

bool ProxyBackend::known_unreachable(const Route& route) const {
  return options_.unreachable != nullptr &&
         options_.unreachable->unreachable(route, UnreachableSlots::Clock::now());
}

Result<Recipient> ProxyBackend::resolve_recipient(const RcptQuery& query) {
  mail_.sender = query.sender;
  mail_.body = query.body;
  mail_.authuser = query.authuser;
  Recipient r;
  r.userid = options_.downcase_rcpt ? to_lower(query.address.user) : query.address.user;
  if (!store::validate_userid(r.userid).is_ok()) {
    return Status(Code::kMailboxNonexistent, "invalid userid " + r.userid);
  }
  auto route = router_.route(r.userid);
  if (!route.ok()) return route.status();
  if (known_unreachable(*route))
    return Status(Code::kAgain, "slot " + route->slot + " did not answer lately");
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
    if (route.ok() && known_unreachable(*route)) {
      outcomes_[i] = {Status(Code::kAgain, "slot " + route->slot + " did not answer lately"),
                      no_answer(*route)};
      continue;
    }
    if (!route.ok()) {
      outcomes_[i].status = route.status();
      spdlog::info("lmtpproxyd: {} not forwarded: {}", recipients[i].path,
                   route.status().to_string());
      continue;
    }
    std::string key = address_of(*route);
    auto [it, inserted] = groups.try_emplace(key, *route, std::vector<size_t>{});
    if (inserted) order.push_back(key);
    it->second.second.push_back(i);
  }
  const int fd = static_cast<SpoolSink&>(sink).fd();
  struct stat st {};
  mail_.size = fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  // One transaction per slot, each in its own thread (the first in this
  // one); each writes only its own recipients' outcomes.
  auto forward = [&](const std::string& key) {
    const auto& [route, which] = groups.at(key);
    SlotTransaction(route, options_, recipients, which, outcomes_).run(mail_, fd);
  };
  std::vector<std::thread> others;
  for (size_t g = 1; g < order.size(); ++g) {
    try {
      others.emplace_back(forward, std::cref(order[g]));
    } catch (const std::system_error& e) {
      spdlog::warn("lmtpproxyd: no thread for slot {} ({}): forwarded in turn", order[g], e.what());
      forward(order[g]);
    }
  }
  if (!order.empty()) forward(order.front());
  for (std::thread& t : others) t.join();
  std::vector<Status> out;
  for (const Outcome& o : outcomes_) out.push_back(o.status);
  return out;
}

}  // namespace replimail::lmtp
