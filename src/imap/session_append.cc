// APPEND (RFC 3501 §6.3.11) with MULTIAPPEND (RFC 3502): the message
// literals are streamed to staging files while the command is read (see the
// framing in session.cc), then appended to the mailbox in one transaction,
// so that either every message of the command goes in or none does. A
// CATENATE message (RFC 4469) is built into a staging file of its own from
// its staged TEXT literals and the sections its URLs name (as FETCH
// BODY[section]<partial> reads them), then appended like any other.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "imap/format.h"
#include "imap/session.h"
#include "mime/message.h"
#include "store/mboxname.h"
#include "store/record.h"
#include "store/staged_message.h"

namespace replimail::imap {

// One part of a CATENATE (RFC 4469): a TEXT literal (staged) or a URL,
// given as a string or as a literal (staged too).
struct CatenatePart {
  bool url = false;
  std::optional<size_t> staged;  // index into the session's staged literals
  std::string text;              // the URL when it came as a string
};

// One message of an APPEND: its flags, internal date and staged file, or
// the parts it is catenated from.
struct AppendItem {
  uint32_t flags = 0;
  std::vector<std::string> keywords;
  int64_t internaldate = 0;
  size_t staged = 0;  // index into the session's staged literals
  bool catenate = false;
  std::vector<CatenatePart> parts;
  store::StagedMessage* file = nullptr;  // what is appended
};

namespace {

uint32_t flags_from(const std::vector<Value>& items, std::vector<std::string>* keywords,
                    Status* st) {
  uint32_t bits = 0;
  for (const Value& v : items) {
    if (!v.is_atom() || v.text.empty()) {
      *st = Status(Code::kProtocolError, "Invalid flag");
      return 0;
    }
    if (v.text[0] == '\\') {
      uint32_t b = store::system_flag_bit(v.text);
      if (b == 0 || b == store::kFlagExpunged) {
        *st = Status(Code::kProtocolError, "Invalid system flag " + v.text);
        return 0;
      }
      bits |= b;
    } else if (std::find(keywords->begin(), keywords->end(), v.text) == keywords->end()) {
      keywords->push_back(v.text);
    }
  }
  return bits;
}

std::string percent_decoded(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::optional<uint64_t> url_number(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

// Streams a finished staged file into `sink`.
Status copy_staged(const store::StagedMessage& from,
                   const std::function<Status(std::string_view)>& sink) {
  int fd = ::open(from.path().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("open", from.path());
  char buf[65536];
  Status st;
  while (st.is_ok()) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) st = errno_status("read", from.path());
    if (n <= 0) break;
    st = sink(std::string_view(buf, static_cast<size_t>(n)));
  }
  ::close(fd);
  return st;
}

// CATENATE's list (RFC 4469): each part "TEXT" literal or "URL" astring;
// `*literals` counts the staged literals taken. A BAD (kProtocolError)
// when the list is malformed.
Status parse_catenate(const std::vector<Value>& list, size_t staged, size_t* literals,
                      AppendItem* item) {
  if (list.empty())
    return Status(Code::kProtocolError, "Missing message part data in Append command");
  item->catenate = true;
  for (size_t j = 0; j < list.size(); j += 2) {
    bool text = list[j].is_atom("TEXT"), url = list[j].is_atom("URL");
    if (!text && !url)
      return Status(Code::kProtocolError, "Invalid message part type in Append command");
    if (j + 1 == list.size() || !list[j + 1].is_string() || (text && !list[j + 1].literal)) {
      return Status(Code::kProtocolError, "Missing required argument to Append command");
    }
    if (list[j + 1].literal && *literals >= staged) {
      return Status(Code::kProtocolError, "Invalid APPEND arguments");
    }
    CatenatePart part;
    part.url = url;
    if (list[j + 1].literal) {
      part.staged = (*literals)++;
    } else {
      part.text = list[j + 1].text;
    }
    item->parts.push_back(std::move(part));
  }
  return Status();
}

// APPEND's arguments after the mailbox: 1*(SP [flag-list SP] [date-time
// SP] literal), each literal the stand-in for one of the `staged` staged
// files, a date-time quoted; or CATENATE (part...) in place of the literal.
// A BAD (kProtocolError) when they are malformed or do not account for
// every staged literal.
Status parse_append_items(const std::vector<Value>& a, size_t staged,
                          std::vector<AppendItem>* items) {
  size_t literals = 0;  // staged literals taken so far
  for (size_t i = 1; i < a.size();) {
    AppendItem item;
    if (a[i].is_list()) {
      Status st;
      item.flags = flags_from(a[i].items, &item.keywords, &st);
      if (!st.is_ok()) return st;
      ++i;
    }
    if (i < a.size() && a[i].is_string() && !a[i].literal) {
      auto t = parse_date_time(a[i].text);
      if (!t) return Status(Code::kProtocolError, "Invalid date-time");
      item.internaldate = *t;
      ++i;
    }
    if (i + 1 < a.size() && a[i].is_atom("CATENATE") && a[i + 1].is_list()) {
      if (Status st = parse_catenate(a[i + 1].items, staged, &literals, &item); !st.is_ok())
        return st;
      items->push_back(std::move(item));
      i += 2;
      continue;
    }
    if (i == a.size() || !a[i].is_string() || !a[i].literal || literals >= staged) {
      return Status(Code::kProtocolError, "Invalid APPEND arguments");
    }
    item.staged = literals++;
    items->push_back(std::move(item));
    ++i;
  }
  if (items->empty() || literals != staged) {
    return Status(Code::kProtocolError, "Invalid APPEND arguments");
  }
  return Status();
}

// A CATENATE URL taken apart: RFC 5092's relative form, "/" mailbox
// [";UIDVALIDITY=" n] "/;UID=" n ["/;SECTION=" section] ["/;PARTIAL=" offset
// ["." length]].
struct CatenateUrl {
  std::string_view mbox;  // percent-encoded; empty: the selected mailbox
  std::optional<uint64_t> uidvalidity, uid, start, length;
  std::optional<std::string> section;
};

// Takes `url` apart into *out; returns the BADURL text of a URL that is not
// in that form, or an empty string.
std::string parse_catenate_url(std::string_view url, CatenateUrl* out) {
  if (url.find("://") != std::string_view::npos) return "Only relative URLs are supported";
  // As Cyrus, the leading "/" may be left out.
  std::string_view rest = url.size() > 1 && url[0] == '/' && url[1] != ';' ? url.substr(1) : url;
  size_t params = rest.find("/;");
  out->mbox = rest.substr(0, params);
  rest = params == std::string_view::npos ? std::string_view() : rest.substr(params);
  size_t v = to_upper(out->mbox).find(";UIDVALIDITY=");
  if (v != std::string::npos) {
    out->uidvalidity = url_number(out->mbox.substr(v + 13));
    if (!out->uidvalidity) return "Improperly specified URL";
    out->mbox = out->mbox.substr(0, v);
  }
  while (!rest.empty()) {
    size_t next = rest.find("/;", 2);
    std::string_view param = rest.substr(2, next == std::string_view::npos ? next : next - 2);
    rest = next == std::string_view::npos ? std::string_view() : rest.substr(next);
    size_t eq = param.find('=');
    std::string key = to_upper(param.substr(0, eq));
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
    if (key == "UID" && !out->uid) {
      out->uid = url_number(value);
      if (!out->uid) return "Improperly specified URL";
    } else if (key == "SECTION" && out->uid && !out->section && !out->start) {
      out->section = percent_decoded(value);
    } else if (key == "PARTIAL" && out->uid && !out->start) {
      size_t dot = value.find('.');
      out->start = url_number(value.substr(0, dot));
      if (dot != std::string_view::npos) out->length = url_number(value.substr(dot + 1));
      if (!out->start || (dot != std::string_view::npos && (!out->length || *out->length == 0))) {
        return "Improperly specified URL";
      }
    } else {
      return "Improperly specified URL";
    }
  }
  return std::string();
}

// Hands `sink` the bytes `url` names in `mailbox`: those FETCH
// BODY[section]<partial> gives; as Cyrus, a part number with HEADER, TEXT
// or MIME, and no part that is not there. Returns catenate_url's answer.
Result<std::string> send_url_bytes(store::Mailbox& mailbox, const CatenateUrl& url,
                                   const std::function<Status(std::string_view)>& sink,
                                   bool* badurl) {
  auto counters = mailbox.counters();
  if (!counters.ok()) return counters.status();
  if (url.uidvalidity && *url.uidvalidity != counters->uidvalidity) {
    return std::string("Uidvalidity of mailbox has changed");
  }
  if (!url.uid || *url.uid == 0 || *url.uid > UINT32_MAX) {
    return std::string("No such message in mailbox");
  }
  auto rec = mailbox.record(static_cast<uint32_t>(*url.uid));
  if (!rec.ok() && rec.status().code() != Code::kNotFound) return rec.status();
  if (!rec.ok() || rec->expunged()) return std::string("No such message in mailbox");
  auto msg = mime::Message::open(mailbox.message_path(rec->uid));
  if (!msg.ok()) return msg.status();
  std::optional<mime::SectionBytes> part;
  std::string_view bytes = msg->bytes();
  if (url.section) {
    auto spec = mime::parse_section(*url.section);
    auto got = spec.ok() && spec->kind != mime::Section::Kind::kHeaderFields &&
                       spec->kind != mime::Section::Kind::kHeaderFieldsNot
                   ? msg->section(*spec)
                   : Result<mime::SectionBytes>(Status(Code::kNotFound, "section"));
    if (!got.ok()) {
      *badurl = false;
      return std::string("Syntax error in parameters");
    }
    part = std::move(got).value();
    bytes = part->data();
  }
  if (url.start) {
    bytes = *url.start >= bytes.size()
                ? std::string_view()
                : bytes.substr(*url.start, url.length ? *url.length : std::string_view::npos);
  }
  Status st = sink(bytes);
  if (!st.is_ok()) return st;
  return std::string();
}

}  // namespace

Result<std::string> Session::catenate_url(std::string_view url,
                                          const std::function<Status(std::string_view)>& sink,
                                          bool* badurl) {
  *badurl = true;
  CatenateUrl parsed;
  if (std::string bad = parse_catenate_url(url, &parsed); !bad.empty()) return bad;
  if (parsed.mbox.empty() && !selected_) return std::string("No mailbox is selected or specified");
  std::string name = parsed.mbox.empty() ? selected_->mailbox().name() : std::string();
  if (!parsed.mbox.empty()) {
    auto internal = ns_.to_internal(utf8_to_mutf7(percent_decoded(parsed.mbox)));
    if (!internal.ok()) return std::string("Mailbox does not exist");
    name = *internal;
  }
  auto e = instance_.lookup(name);
  if (!e.ok()) {
    if (e.status().code() == Code::kMailboxNonexistent)
      return std::string("Mailbox does not exist");
    return e.status();
  }
  std::string rights = rights_of(*e);
  if (rights.find('r') == std::string::npos) {
    return std::string(is_admin_ || rights.find('l') != std::string::npos
                           ? "Permission denied"
                           : "Mailbox does not exist");
  }
  auto mailbox = instance_.open_mailbox(name);
  if (!mailbox.ok()) return mailbox.status();
  return send_url_bytes(**mailbox, parsed, sink, badurl);
}

void Session::message_begin(std::string_view command_so_far, uint64_t /*size*/, bool binary) {
  std::unique_ptr<store::StagedMessage> msg;
  // Before login nothing touches the disk: the bytes are discarded and the
  // command refused when complete.
  if (state_ == State::kAuthenticated || state_ == State::kSelected) {
    // Staged on the target's partition, so the append is a hard link. The
    // mailbox is looked up once per command, at its first message.
    if (staged_.empty()) {
      auto prefix = parse_command(command_so_far, nullptr, options_.parse);
      if (prefix.ok() && !prefix->args.empty()) {
        auto name = mailbox_arg(prefix->args[0]);
        if (name.ok()) {
          auto e = instance_.lookup(*name);
          if (e.ok()) staging_partition_ = e->partition;
        }
      }
    }
    auto staged = instance_.stage_message(staging_partition_);
    if (staged.ok()) {
      msg = std::move(staged).value();
    } else if (staging_status_.is_ok()) {
      staging_status_ = staged.status();
    }
  }
  staged_.push_back({std::move(msg), MessageCheck(binary)});
}

void Session::message_data(std::string_view bytes) {
  StagedLiteral& m = staged_.back();
  m.check.feed(bytes);
  if (m.file && staging_status_.is_ok()) staging_status_ = m.file->write(bytes);
}

void Session::message_end() {
  StagedLiteral& m = staged_.back();
  if (m.file && staging_status_.is_ok()) staging_status_ = m.file->finish();
}

void Session::cmd_append(const Command& cmd) {
  const auto& a = cmd.args;
  if (a.size() < 2) return tagged(cmd, "BAD", "Invalid APPEND arguments");
  auto name = mailbox_arg(a[0]);
  if (!name.ok()) return tagged_error(cmd, name.status());
  std::vector<AppendItem> items;
  if (Status st = parse_append_items(a, staged_.size(), &items); !st.is_ok())
    return tagged_error(cmd, st);
  if (!staging_status_.is_ok()) return tagged_error(cmd, staging_status_);
  for (const AppendItem& item : items) {
    if (!item.catenate && staged_[item.staged].file->size() == 0) {
      return tagged(cmd, "NO", "Message has no content");
    }
  }

  auto e = instance_.lookup(*name);
  if (!e.ok()) {
    if (e.status().code() == Code::kMailboxNonexistent) {
      return tagged(cmd, "NO", "[TRYCREATE] Mailbox does not exist");
    }
    return tagged_error(cmd, e.status());
  }
  std::string rights = rights_of(*e);
  if (rights.find('i') == std::string::npos) {
    bool hidden = rights.find('l') == std::string::npos && rights.find('r') == std::string::npos;
    return tagged_error(cmd, Status(hidden ? Code::kMailboxNonexistent : Code::kPermissionDenied,
                                    "permission denied"));
  }
  // Each CATENATE is built into a staging file of its own, checked whole.
  std::vector<std::unique_ptr<store::StagedMessage>> built;
  for (AppendItem& item : items) {
    if (!item.catenate) {
      item.file = staged_[item.staged].file.get();
      continue;
    }
    auto out = instance_.stage_message(e->partition);
    if (!out.ok()) return tagged_error(cmd, out.status());
    if (!catenate(cmd, item, **out)) return;
    item.file = out->get();
    built.push_back(std::move(out).value());
  }
  for (const AppendItem& item : items) {
    if (item.catenate) continue;
    std::string why = staged_[item.staged].check.result();
    if (!why.empty()) return tagged(cmd, "NO", why);
  }
  append_items(cmd, *name, items);
}

bool Session::catenate(const Command& cmd, const AppendItem& item, store::StagedMessage& out) {
  bool binary = false;
  for (const CatenatePart& p : item.parts) {
    binary = binary || (!p.url && staged_[*p.staged].check.binary());
  }
  MessageCheck check(binary);
  auto sink = [&](std::string_view bytes) -> Status {
    if (out.size() + bytes.size() > options_.max_message) {
      return Status(Code::kMessageTooLarge, "catenated message too large");
    }
    check.feed(bytes);
    return out.write(bytes);
  };
  auto fail = [&](std::string_view status, const std::string& text) {
    tagged(cmd, status, text);
    return false;
  };
  auto error = [&](const Status& st) {
    tagged_error(cmd, st);
    return false;
  };
  for (const CatenatePart& p : item.parts) {
    if (!p.url) {
      Status st = copy_staged(*staged_[*p.staged].file, sink);
      if (!st.is_ok()) return error(st);
      continue;
    }
    std::string url = p.text;
    if (p.staged) {
      const store::StagedMessage& f = *staged_[*p.staged].file;
      if (f.size() > 8192) return fail("BAD", "Invalid APPEND arguments");
      Status st = copy_staged(f, [&](std::string_view b) {
        url += b;
        return Status();
      });
      if (!st.is_ok()) return error(st);
    }
    bool badurl = true;
    auto r = catenate_url(url, sink, &badurl);
    if (!r.ok()) return error(r.status());
    if (!r->empty()) return fail("NO", (badurl ? "[BADURL " + cyrus_string(url) + "] " : "") + *r);
  }
  Status st = out.finish();
  if (!st.is_ok()) return error(st);
  std::string why = check.result();
  if (!why.empty()) return fail("NO", why);
  if (out.size() == 0) return fail("NO", "Message has no content");
  return true;
}

void Session::append_items(const Command& cmd, const std::string& name,
                           const std::vector<AppendItem>& items) {
  uint64_t total = 0;
  for (const AppendItem& item : items) total += item.file->size();
  // Only the owner's \Seen lives in the record; others keep theirs apart.
  bool owner = store::mboxname_owner(name) == userid_;

  uint32_t uidvalidity = 0;
  std::vector<uint32_t> uids;
  {
    auto mbox = instance_.open_mailbox(name);
    if (!mbox.ok()) return tagged_error(cmd, mbox.status());
    auto txn = (*mbox)->begin();
    if (!txn.ok()) return tagged_error(cmd, txn.status());
    // Under the mailbox lock: a DELETE or RENAME may have won it first.
    auto now = instance_.lookup(name);
    if (!now.ok() || now->uniqueid != (*mbox)->entry().uniqueid) {
      return tagged(cmd, "NO", "[TRYCREATE] Mailbox does not exist");
    }
    Status q = instance_.check_quota(name, total, items.size());
    if (!q.is_ok()) return tagged_error(cmd, q);
    // An error before commit() rolls every message of the command back.
    for (const AppendItem& item : items) {
      uint32_t flags = owner ? item.flags : item.flags & ~store::kFlagSeen;
      auto rec = (*txn)->append_new(*item.file, flags, item.keywords, item.internaldate);
      if (!rec.ok()) return tagged_error(cmd, rec.status());
      uids.push_back(rec->uid);
    }
    uidvalidity = (*txn)->counters().uidvalidity;
    Status st = instance_.commit(**mbox, **txn);
    if (!st.is_ok()) return tagged_error(cmd, st);
  }
  tagged(cmd, "OK",
         "[APPENDUID " + std::to_string(uidvalidity) + " " + format_sequence(uids) + "] Completed");
}

}  // namespace replimail::imap
