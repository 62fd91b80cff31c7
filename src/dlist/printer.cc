#include "dlist/printer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace replimail::dlist {

namespace {

constexpr size_t kMaxQuoted = 1024;
// A file literal's bytes go to the Output this much at a time, whether read
// from the file (write_file) or given whole (StreamedItem::add_file): an
// Output may buffer all of what one call gives it.
constexpr size_t kFilePiece = 64 * 1024;

bool atom_ok(std::string_view s) {
  if (s.size() >= kMaxQuoted || s == "NIL") return false;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    // Cyrus tests "< 0x1f", so 0x1F itself passes: kept for byte equality.
    if (c < 0x1f || c >= 0x7f) return false;
    switch (c) {
      case ' ':
      case '{':
      case '(':
      case ')':
      case '"':
      case '%':
      case '*':
      case '\\':
        return false;
      default:
        break;
    }
  }
  return true;
}

bool quoted_ok(std::string_view s) {
  if (s.size() >= kMaxQuoted) return false;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80 || c == '\r' || c == '\n' || c == '\0' || c == '"' || c == '%' || c == '\\') {
      return false;
    }
  }
  return true;
}

void append_literal(std::string_view s, std::string* out) {
  *out += "{";
  *out += std::to_string(s.size());
  *out += "+}\r\n";
  out->append(s);
}

// `%{partition guid size}\r\n`, what precedes a file literal's bytes.
void append_file_header(const FileRef& f, std::string* out) {
  *out += "%{";
  append_astring(f.partition, out);
  *out += ' ';
  *out += f.guid;
  *out += ' ';
  *out += std::to_string(f.size);
  *out += "}\r\n";
}

}  // namespace

Status Output::write_file(const FileRef& ref) {
  int fd = ::open(ref.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return errno_status("open", ref.path);
  }
  char buf[kFilePiece];
  uint64_t left = ref.size;
  Status s;
  while (s && left > 0) {
    ssize_t n = ::read(fd, buf, left < sizeof buf ? left : sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s = errno_status("read", ref.path);
    } else if (n == 0) {
      s = Status(Code::kIoError, "file " + ref.path + " shorter than " + std::to_string(ref.size));
    } else {
      left -= static_cast<uint64_t>(n);
      s = write(std::string_view(buf, static_cast<size_t>(n)));
    }
  }
  ::close(fd);
  return s;
}

Status StringOutput::write(std::string_view bytes) {
  out_.append(bytes);
  return Status::success();
}

void append_astring(std::string_view s, std::string* out) {
  if (s.empty()) {
    *out += "\"\"";
  } else if (atom_ok(s)) {
    out->append(s);
  } else if (quoted_ok(s)) {
    *out += '"';
    out->append(s);
    *out += '"';
  } else {
    append_literal(s, out);
  }
}

namespace {

// Prints into `buf`, handing it to `out` only before a file body so that
// small values are not written one token at a time.
Status print_into(const Value& v, std::string* buf, Output& out) {
  switch (v.kind()) {
    case Value::Kind::kNil:
      *buf += "NIL";
      return Status::success();
    case Value::Kind::kAtom:
      append_astring(*v.str(), buf);
      return Status::success();
    case Value::Kind::kLiteral:
      append_literal(*v.str(), buf);
      return Status::success();
    case Value::Kind::kFlag:
    case Value::Kind::kNum:
    case Value::Kind::kHex64:
    case Value::Kind::kGuid:
      buf->append(*v.str());
      return Status::success();
    case Value::Kind::kList:
    case Value::Kind::kKvList: {
      *buf += v.is_kvlist() ? "%(" : "(";
      bool first = true;
      for (const auto& c : v.children()) {
        if (!first) *buf += ' ';
        first = false;
        if (v.is_kvlist()) {
          append_astring(c.key(), buf);
          *buf += ' ';
        }
        if (Status s = print_into(c, buf, out); !s) return s;
      }
      *buf += ')';
      return Status::success();
    }
    case Value::Kind::kFile: {
      const FileRef& f = *v.file();
      append_file_header(f, buf);
      if (Status s = out.write(*buf); !s) return s;
      buf->clear();
      return out.write_file(f);
    }
  }
  return Status(Code::kInternal, "unknown dlist kind");
}

Status print(const Value& v, bool with_key, Output& out) {
  std::string buf;
  if (with_key) {
    append_astring(v.key(), &buf);
    buf += ' ';
  }
  if (Status s = print_into(v, &buf, out); !s) return s;
  return buf.empty() ? Status::success() : out.write(buf);
}

// Members are printed into one buffer, handed on once it is this big.
constexpr size_t kStreamBuffer = 64 * 1024;

}  // namespace

Status StreamedItem::open(const Value& head, std::string_view list_key) {
  if (!head.is_kvlist()) return Status(Code::kInternal, "streamed item head is not a kvlist");
  append_astring(head.key(), &buf_);
  buf_ += " %(";
  for (const auto& c : head.children()) {
    append_astring(c.key(), &buf_);
    buf_ += ' ';
    if (Status s = print_into(c, &buf_, out_); !s) return s;
    buf_ += ' ';
  }
  append_astring(list_key, &buf_);
  buf_ += " (";
  return Status::success();
}

Status StreamedItem::open_list(std::string_view key) {
  append_astring(key, &buf_);
  buf_ += " (";
  plain_ = true;
  return Status::success();
}

Status StreamedItem::add_file(const FileRef& ref, std::string_view bytes) {
  if (bytes.size() != ref.size) return Status(Code::kInternal, "file literal of the wrong size");
  if (!first_) buf_ += ' ';
  first_ = false;
  append_file_header(ref, &buf_);
  Status s = out_.write(buf_);
  buf_.clear();
  for (size_t at = 0; s && at < bytes.size(); at += kFilePiece) {
    s = out_.write(bytes.substr(at, kFilePiece));
  }
  return s;
}

Status StreamedItem::add(const Value& member) {
  if (!first_) buf_ += ' ';
  first_ = false;
  if (Status s = print_into(member, &buf_, out_); !s) return s;
  if (buf_.size() < kStreamBuffer) return Status::success();
  Status s = out_.write(buf_);
  buf_.clear();
  return s;
}

Status StreamedItem::close() {
  buf_ += plain_ ? ")" : "))";
  Status s = out_.write(buf_);
  buf_.clear();
  return s;
}

Status print_value(const Value& v, Output& out) { return print(v, false, out); }
Status print_item(const Value& v, Output& out) { return print(v, true, out); }

Result<std::string> to_wire(const Value& v) {
  StringOutput out;
  if (Status s = print_value(v, out); !s) return s;
  return out.take();
}

Result<std::string> item_to_wire(const Value& v) {
  StringOutput out;
  if (Status s = print_item(v, out); !s) return s;
  return out.take();
}

}  // namespace replimail::dlist
