#include "common/status.h"

#include <cerrno>
#include <cstring>

namespace replimail {

std::string_view code_name(Code c) {
  switch (c) {
    case Code::kOk: return "OK";
    case Code::kIoError: return "IMAP_IOERROR";
    case Code::kMailboxNonexistent: return "IMAP_MAILBOX_NONEXISTENT";
    case Code::kMailboxExists: return "IMAP_MAILBOX_EXISTS";
    case Code::kMailboxBadName: return "IMAP_MAILBOX_BADNAME";
    case Code::kMailboxLocked: return "IMAP_MAILBOX_LOCKED";
    case Code::kMailboxMoved: return "IMAP_MAILBOX_MOVED";
    case Code::kMailboxNotSupported: return "IMAP_MAILBOX_NOTSUPPORTED";
    case Code::kInvalidUser: return "IMAP_INVALID_USER";
    case Code::kPermissionDenied: return "IMAP_PERMISSION_DENIED";
    case Code::kQuotaExceeded: return "IMAP_QUOTA_EXCEEDED";
    case Code::kMessageTooLarge: return "IMAP_MESSAGE_TOO_LARGE";
    case Code::kProtocolError: return "IMAP_PROTOCOL_ERROR";
    case Code::kProtocolBadParameters: return "IMAP_PROTOCOL_BAD_PARAMETERS";
    case Code::kSyncChecksum: return "IMAP_SYNC_CHECKSUM";
    case Code::kSyncChanged: return "IMAP_SYNC_CHANGED";
    case Code::kAgain: return "IMAP_AGAIN";
    case Code::kNotFound: return "IMAP_NOTFOUND";
    case Code::kInvalidArgument: return "IMAP_INVALID_ARGUMENT";
    case Code::kConfigError: return "IMAP_CONFIG_ERROR";
    case Code::kInternal: return "IMAP_INTERNAL";
    case Code::kNoSpace: return "IMAP_NOSPACE";
    case Code::kReadOnly: return "IMAP_READ_ONLY";
    case Code::kNotReplicated: return "IMAP_NOT_REPLICATED";
  }
  return "IMAP_UNKNOWN";
}

Status Status::from_errno(int err, std::string message) {
  bool full = err == ENOSPC || err == EDQUOT;
  return Status(full ? Code::kNoSpace : Code::kIoError, std::move(message));
}

Status errno_status(std::string_view what) {
  int err = errno;
  std::string message(what);
  message += ": ";
  message += std::strerror(err);
  return Status::from_errno(err, std::move(message));
}

Status errno_status(std::string_view what, std::string_view target) {
  int err = errno;
  std::string message(what);
  message += ' ';
  message += target;
  message += ": ";
  message += std::strerror(err);
  return Status::from_errno(err, std::move(message));
}

std::string Status::to_string() const {
  if (is_ok()) return "OK";
  std::string s(code_name(code_));
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

}  // namespace replimail
