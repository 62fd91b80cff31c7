// The check Cyrus makes of a message given to APPEND before it accepts it
// (message_copy_strict): no NUL byte, no bare LF (outside a binary literal's
// body), and a header section whose lines are "Name: value" (or a "From "
// line, or a continuation) and that does not end in the middle of a line.
// Fed incrementally, as the literal streams in, so the message is never
// held in memory. Pure.
#pragma once

#include <string>
#include <string_view>

namespace replimail::imap {

class MessageCheck {
 public:
  // `binary`: the message came as a literal8 (RFC 3516), which may carry
  // NUL and bare LF in its body.
  explicit MessageCheck(bool binary = false) : binary_(binary) {}

  bool binary() const { return binary_; }
  void feed(std::string_view bytes);
  // After the last byte: "" if the message is acceptable, else the text of
  // the NO reply, as Cyrus words it ("Message contains invalid header").
  std::string result() const;

 private:
  enum class Error { kNone, kNul, kBareNewline, kBadHeader };
  // Where the header-line check is within the current line.
  enum class Line {
    kStart,     // at the first byte of a line
    kName,      // reading a field name up to ':'
    kRest,      // the rest of a line (value, continuation, "From " line)
    kBodyNext,  // the header section has ended
  };
  void byte(unsigned char c);
  void header_byte(unsigned char c);

  bool binary_;
  Error error_ = Error::kNone;
  // Cyrus's first pass: the header ends at the first empty line.
  bool in_header_ = true;
  bool blank_line_ = true;
  bool saw_cr_ = false;
  // Its second pass: the line-by-line field check.
  Line line_ = Line::kStart;
  std::string name_;  // the field name so far (only "From" matters)
  bool saw_newline_ = true;
};

}  // namespace replimail::imap
