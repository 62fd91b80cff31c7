#include "dlist/framing.h"

#include <array>
#include <utility>

namespace replimail::dlist {

namespace {

// Cyrus 3.6 sync_server's error texts, one per code it names on the wire,
// and replimail's read-only mode (a Cyrus client takes an error it does not
// know for IMAP_REMOTE_DENIED, and retries later).
constexpr std::array<std::pair<Code, std::string_view>, 10> kNoTexts = {{
    {Code::kInvalidUser, "IMAP_INVALID_USER No Such User"},
    {Code::kMailboxNonexistent, "IMAP_MAILBOX_NONEXISTENT No Such Mailbox"},
    {Code::kMailboxLocked, "IMAP_MAILBOX_LOCKED Mailbox locked"},
    {Code::kMailboxMoved, "IMAP_MAILBOX_MOVED Mailbox exists with another name or uniqueid"},
    {Code::kMailboxNotSupported, "IMAP_MAILBOX_NOTSUPPORTED Operation is not supported on mailbox"},
    {Code::kSyncChecksum, "IMAP_SYNC_CHECKSUM Checksum Failure"},
    {Code::kSyncChanged, "IMAP_SYNC_CHANGED Changed since last sync"},
    {Code::kProtocolError, "IMAP_PROTOCOL_ERROR Protocol error"},
    {Code::kProtocolBadParameters, "IMAP_PROTOCOL_BAD_PARAMETERS"},
    {Code::kReadOnly, "IMAP_READ_ONLY Server is in read-only mode"},
}};

std::string line(std::string_view word, std::string_view text) {
  std::string out(word);
  out += ' ';
  out += text;
  out += "\r\n";
  return out;
}

}  // namespace

std::string ok_line(std::string_view text) { return line("OK", text); }

std::string no_line(Code code) {
  for (const auto& [c, text] : kNoTexts) {
    if (c == code) return line("NO", text);
  }
  return line("NO", "Unknown error");
}

std::string no_line(std::string_view text) { return line("NO", text); }
std::string bad_line(std::string_view text) { return line("BAD", text); }
std::string bye_line(std::string_view text) { return line("BYE", text); }

Status write_untagged(const Value& keyed, Output& out) {
  if (Status s = out.write("* "); !s) return s;
  if (Status s = print_item(keyed, out); !s) return s;
  return out.write("\r\n");
}

Result<std::string> untagged_line(const Value& keyed) {
  StringOutput out;
  if (Status s = write_untagged(keyed, out); !s) return s;
  return out.take();
}

std::optional<Response> parse_status(std::string_view text) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  size_t sp = text.find(' ');
  std::string_view word = text.substr(0, sp);
  Response r;
  if (word == "OK") {
    r.kind = Response::Kind::kOk;
  } else if (word == "NO") {
    r.kind = Response::Kind::kNo;
  } else if (word == "BAD") {
    r.kind = Response::Kind::kBad;
  } else if (word == "BYE") {
    r.kind = Response::Kind::kBye;
  } else {
    return std::nullopt;
  }
  r.text = sp == std::string_view::npos ? std::string() : std::string(text.substr(sp + 1));
  if (r.kind == Response::Kind::kNo) {
    for (const auto& [c, no_text] : kNoTexts) {
      std::string_view name = code_name(c);
      if (r.text.size() > name.size() && r.text.compare(0, name.size(), name) == 0 &&
          r.text[name.size()] == ' ') {
        r.code = c;
        break;
      }
    }
  }
  return r;
}

std::optional<Response> response_from(const std::vector<Value>& line) {
  if (line.empty() || line.size() > 2 || line[0].kind() != Value::Kind::kAtom) return std::nullopt;
  std::string text(*line[0].str());
  if (line.size() == 2) {
    if (line[1].kind() != Value::Kind::kAtom) return std::nullopt;
    text += ' ';
    text += *line[1].str();
  }
  return parse_status(text);
}

Status to_status(const Response& r) {
  switch (r.kind) {
    case Response::Kind::kOk:
      return Status::success();
    case Response::Kind::kNo:
      if (r.code != Code::kOk) return Status(r.code, r.text);
      return Status(Code::kPermissionDenied, "remote denied: " + r.text);
    case Response::Kind::kBad:
      return Status(Code::kProtocolError, "BAD " + r.text);
    case Response::Kind::kBye:
      return Status(Code::kIoError, "replica shutting down: " + r.text);
  }
  return Status(Code::kInternal, "unknown response kind");
}

}  // namespace replimail::dlist
