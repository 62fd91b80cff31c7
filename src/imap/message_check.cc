#include "imap/message_check.h"

namespace replimail::imap {

void MessageCheck::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (error_ != Error::kNone) return;
    byte(static_cast<unsigned char>(c));
  }
}

void MessageCheck::byte(unsigned char c) {
  bool body_may_be_binary = binary_ && !in_header_;
  if (c == 0) {
    if (!body_may_be_binary) error_ = Error::kNul;
  } else if (c == '\n') {
    if (!saw_cr_ && !body_may_be_binary) error_ = Error::kBareNewline;
    saw_cr_ = false;
    if (blank_line_) in_header_ = false;
    blank_line_ = true;
  } else if (c == '\r') {
    saw_cr_ = true;
  } else {
    saw_cr_ = false;
    blank_line_ = false;
  }
  if (error_ == Error::kNone) header_byte(c);
}

void MessageCheck::header_byte(unsigned char c) {
  switch (line_) {
    case Line::kBodyNext:
      return;
    case Line::kStart:
      if (c == '\r') {
        line_ = Line::kBodyNext;
        return;
      }
      if (c == ':') {
        error_ = Error::kBadHeader;
        return;
      }
      name_.clear();
      line_ = (c == ' ' || c == '\t') ? Line::kRest : Line::kName;
      if (line_ == Line::kRest) break;
      [[fallthrough]];
    case Line::kName:
      if (c == ':') {
        line_ = Line::kRest;
      } else if (c == ' ' && name_ == "From") {
        line_ = Line::kRest;  // an mbox "From " line, as some clients send
      } else if (c <= ' ') {
        error_ = Error::kBadHeader;
        return;
      } else if (name_.size() < 5) {
        name_.push_back(static_cast<char>(c));
      }
      break;
    case Line::kRest:
      break;
  }
  saw_newline_ = c == '\n';
  if (saw_newline_) line_ = Line::kStart;
}

std::string MessageCheck::result() const {
  switch (error_) {
    case Error::kNul:
      return "Message contains NUL characters";
    case Error::kBareNewline:
      return "Message contains bare newlines";
    case Error::kBadHeader:
      return "Message contains invalid header";
    case Error::kNone:
      break;
  }
  // The header section stopped in the middle of a line.
  if (line_ != Line::kBodyNext && !saw_newline_) return "Message contains invalid header";
  return "";
}

}  // namespace replimail::imap
