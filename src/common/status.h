// Errors as values. A Status carries a Cyrus-style error code (the names
// Cyrus uses on the replication wire and in its logs) and a human message.
// Exceptions are reserved for start-up failures a program cannot go on from.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace replimail {

enum class Code {
  kOk = 0,
  kIoError,                  // disk or system call failure
  kMailboxNonexistent,       // IMAP_MAILBOX_NONEXISTENT
  kMailboxExists,            // IMAP_MAILBOX_EXISTS
  kMailboxBadName,           // IMAP_MAILBOX_BADNAME
  kMailboxLocked,            // IMAP_MAILBOX_LOCKED
  kMailboxMoved,             // IMAP_MAILBOX_MOVED
  kMailboxNotSupported,      // IMAP_MAILBOX_NOTSUPPORTED
  kInvalidUser,              // IMAP_INVALID_USER
  kPermissionDenied,         // IMAP_PERMISSION_DENIED
  kQuotaExceeded,            // IMAP_QUOTA_EXCEEDED
  kMessageTooLarge,          // IMAP_MESSAGE_TOO_LARGE
  kProtocolError,            // IMAP_PROTOCOL_ERROR
  kProtocolBadParameters,    // IMAP_PROTOCOL_BAD_PARAMETERS
  kSyncChecksum,             // IMAP_SYNC_CHECKSUM
  kSyncChanged,              // IMAP_SYNC_CHANGED
  kAgain,                    // IMAP_AGAIN: nothing to do yet, try later
  kNotFound,                 // generic lookup miss (not a mailbox)
  kInvalidArgument,          // malformed input
  kConfigError,              // bad imapd.conf / cyrus.conf
  kInternal,                 // invariant broken
  kNoSpace,                  // IMAP_NOSPACE: disk or filesystem quota full (temporary)
  kReadOnly,                 // replimail's: the instance is in read-only mode (temporary)
  kNotReplicated,            // replimail's: sync_wait_replicas not met in time (temporary)
};

// The Cyrus name of a code, e.g. "IMAP_MAILBOX_NONEXISTENT".
std::string_view code_name(Code c);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  // Success. Not named ok(): Result::ok() and is_ok() test, and `s.ok()` on a
  // Status would compile as a call of this factory, always true.
  static Status success() { return Status(); }
  // A failed system call that set `err`: kNoSpace for ENOSPC and EDQUOT,
  // else kIoError.
  static Status from_errno(int err, std::string message);
  bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "IMAP_MAILBOX_NONEXISTENT: user.bob" style, for logs.
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// The Status of a system call that just failed, read from errno (so call it
// before anything else can change errno): "<what>: <strerror>", or with a
// target "<what> <target>: <strerror>", coded as Status::from_errno (kNoSpace
// for a full disk or quota, else kIoError).
Status errno_status(std::string_view what);
Status errno_status(std::string_view what, std::string_view target);

// A value or the Status explaining why there is none.
// REQUIRES: value() only when ok(); status() only when !ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Status status) : v_(std::move(status)) {}
  Result(Code code, std::string message) : v_(Status(code, std::move(message))) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace replimail
