// A message of one text part, for the tests of what is read from a part's
// bytes: the message, its one body segment, and the segment's content with
// its transfer encoding undone.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "mime/body_text.h"
#include "mime/message.h"

namespace replimail::mime {

struct OnePart {
  // "Content-Type: text/plain; charset=CHARSET", 8bit, then `content`.
  OnePart(const std::string& charset, const std::string& content)
      : message(Message::from_bytes("Content-Type: text/plain; charset=" + charset +
                                    "\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + content)) {
    list_body_segments(message.root(), segments);
    EXPECT_EQ(segments.size(), 1u);
    if (!segments.empty()) undone = undone_content(message.bytes(), *segments[0].part, scratch);
  }
  OnePart(const OnePart&) = delete;  // `undone` may point into `scratch`
  OnePart& operator=(const OnePart&) = delete;

  const BodySegment& segment() const { return segments.at(0); }

  Message message;
  std::vector<BodySegment> segments;
  std::string scratch;
  std::string_view undone;
};

}  // namespace replimail::mime
