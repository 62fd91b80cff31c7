// APPEND (RFC 3501 §6.3.11) with MULTIAPPEND (RFC 3502): the message
// literals are streamed to staging files while the command is read (see the
// framing in session.cc), then appended to the mailbox in one transaction,
// so that either every message of the command goes in or none does.
#include <algorithm>

#include "imap/format.h"
#include "imap/session.h"
#include "store/mboxname.h"
#include "store/record.h"
#include "store/staged_message.h"

namespace replimail::imap {
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

// One message of an APPEND: its flags, internal date and staged file.
struct AppendItem {
  uint32_t flags = 0;
  std::vector<std::string> keywords;
  int64_t internaldate = 0;
  size_t staged = 0;  // index into the session's staged messages
};

}  // namespace

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
  // mailbox 1*(SP [flag-list SP] [date-time SP] literal): each message is a
  // literal (the stand-in for a staged file); a date-time is quoted.
  std::vector<AppendItem> items;
  for (size_t i = 1; i < a.size();) {
    AppendItem item;
    if (a[i].is_list()) {
      Status st;
      item.flags = flags_from(a[i].items, &item.keywords, &st);
      if (!st.is_ok()) return tagged_error(cmd, st);
      ++i;
    }
    if (i < a.size() && a[i].is_string() && !a[i].literal) {
      auto t = parse_date_time(a[i].text);
      if (!t) return tagged(cmd, "BAD", "Invalid date-time");
      item.internaldate = *t;
      ++i;
    }
    if (i == a.size() || !a[i].is_string() || !a[i].literal || items.size() >= staged_.size()) {
      return tagged(cmd, "BAD", "Invalid APPEND arguments");
    }
    item.staged = items.size();
    items.push_back(std::move(item));
    ++i;
  }
  if (items.size() != staged_.size()) return tagged(cmd, "BAD", "Invalid APPEND arguments");
  if (!staging_status_.is_ok()) return tagged_error(cmd, staging_status_);
  uint64_t total = 0;
  for (const auto& m : staged_) {
    if (m.file->size() == 0) return tagged(cmd, "NO", "Message has no content");
    total += m.file->size();
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
  for (const auto& m : staged_) {
    std::string why = m.check.result();
    if (!why.empty()) return tagged(cmd, "NO", why);
  }
  // Only the owner's \Seen lives in the record; others keep theirs apart.
  bool owner = store::mboxname_owner(*name) == userid_;

  uint32_t uidvalidity = 0;
  std::vector<uint32_t> uids;
  {
    auto mbox = instance_.open_mailbox(*name);
    if (!mbox.ok()) return tagged_error(cmd, mbox.status());
    auto txn = (*mbox)->begin();
    if (!txn.ok()) return tagged_error(cmd, txn.status());
    // Under the mailbox lock: a DELETE or RENAME may have won it first.
    auto now = instance_.lookup(*name);
    if (!now.ok() || now->uniqueid != (*mbox)->entry().uniqueid) {
      return tagged(cmd, "NO", "[TRYCREATE] Mailbox does not exist");
    }
    Status q = instance_.check_quota(*name, total, items.size());
    if (!q.is_ok()) return tagged_error(cmd, q);
    // An error before commit() rolls every message of the command back.
    for (const AppendItem& item : items) {
      uint32_t flags = owner ? item.flags : item.flags & ~store::kFlagSeen;
      auto rec =
          (*txn)->append_new(*staged_[item.staged].file, flags, item.keywords, item.internaldate);
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
