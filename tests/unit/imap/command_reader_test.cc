#include "imap/command_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace replimail::imap {
namespace {

using ::testing::ElementsAre;

// Records what the reader delivers, one string per event.
class Recorder : public CommandReader::Sink {
 public:
  std::vector<std::string> events;
  uint64_t message_bytes = 0;

  void command(std::string_view bytes) override { events.push_back("cmd " + std::string(bytes)); }
  void raw_line(std::string_view line) override { events.push_back("raw " + std::string(line)); }
  void go_ahead() override { events.push_back("+"); }
  void message_begin(std::string_view so_far, uint64_t size, bool binary) override {
    events.push_back("msg " + std::to_string(size) + (binary ? "~ " : " ") + std::string(so_far));
  }
  void message_data(std::string_view bytes) override { message_bytes += bytes.size(); }
  void message_end() override { events.push_back("end"); }
  void refused(std::string_view tag, CommandReader::Refusal why, bool sync) override {
    events.push_back("refused " + std::string(tag) + " " + std::to_string(static_cast<int>(why)) +
                     (sync ? " sync" : " nonsync"));
  }
};

void feed_all(CommandReader& r, std::string_view in, Recorder& rec, size_t chunk = SIZE_MAX) {
  while (!in.empty()) {
    size_t used = r.feed(in.substr(0, std::min(chunk, in.size())), rec);
    ASSERT_GT(used, 0u);
    in.remove_prefix(used);
  }
}

TEST(CommandReaderTest, LinesAndInlineLiterals) {
  CommandReader r;
  Recorder rec;
  feed_all(r, "a NOOP\r\nb LOGIN {5}\r\nalice {2+}\r\npw\r\n", rec);
  EXPECT_THAT(rec.events, ElementsAre("cmd a NOOP", "+", "cmd b LOGIN {5}\r\nalice {2+}\r\npw"));
}

TEST(CommandReaderTest, AppendMessagesAreStreamedAndReplacedByEmptyLiterals) {
  CommandReader r;
  Recorder rec;
  feed_all(r,
           "a APPEND INBOX (\\Seen) {3}\r\nabc ~{2+}\r\nxy\r\n"
           "b APPEND {5}\r\nINBOX {4+}\r\nwxyz\r\n",
           rec);
  EXPECT_THAT(rec.events,
              ElementsAre("+", "msg 3 a APPEND INBOX (\\Seen) {0}\r\n", "end",
                          "msg 2~ a APPEND INBOX (\\Seen) {0}\r\n {0}\r\n", "end",
                          "cmd a APPEND INBOX (\\Seen) {0}\r\n {0}\r\n",
                          // The mailbox name as a literal is kept; the message after it not.
                          "+", "msg 4 b APPEND {5}\r\nINBOX {0}\r\n", "end",
                          "cmd b APPEND {5}\r\nINBOX {0}\r\n"));
  EXPECT_EQ(rec.message_bytes, 9u);
}

TEST(CommandReaderTest, ByteByByteGivesTheSameEvents) {
  const std::string in = "a APPEND INBOX {3}\r\nabc\r\nb LOGIN {5+}\r\nalice x\r\n" +
                         std::string(70000, 'z') + "\r\nc NOOP\r\n";
  CommandReader whole, split;
  Recorder a, b;
  feed_all(whole, in, a);
  feed_all(split, in, b, 1);
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(a.message_bytes, b.message_bytes);
  EXPECT_EQ(a.events.back(), "cmd c NOOP");
}

TEST(CommandReaderTest, RefusedLiteralsAreNeverInvitedOrAreSkipped) {
  ReaderLimits l;
  l.literal = 10;
  l.message = 20;
  CommandReader r(l);
  Recorder rec;
  feed_all(r,
           "a LOGIN {11}\r\n"                                   // never invited
           "b LOGIN {11+}\r\n0123456789x {3+}\r\nabc rest\r\n"  // skipped, with its tail
           "c APPEND INBOX {21+}\r\n" +
               std::string(21, 'm') + "\r\nd NOOP\r\n",
           rec);
  EXPECT_THAT(rec.events, ElementsAre("refused a 1 sync", "refused b 1 nonsync",
                                      "refused c 2 nonsync", "cmd d NOOP"));
  EXPECT_EQ(rec.message_bytes, 0u);
}

TEST(CommandReaderTest, MemoryStaysWithinTheCommandBound) {
  ReaderLimits l;
  l.literal = 4096;
  l.command = 64 * 1024;
  CommandReader r(l);
  Recorder rec;
  std::string in = "m1 NOOP";
  for (int i = 0; i < 100; ++i) in += " {4000+}\r\n" + std::string(4000, 'x');
  in += "\r\nm2 NOOP\r\n";
  size_t most = 0;
  std::string_view rest = in;
  while (!rest.empty()) {
    size_t used = r.feed(rest.substr(0, 1000), rec);
    rest.remove_prefix(used);
    most = std::max(most, r.held());
  }
  EXPECT_LE(most, l.command + 16);
  EXPECT_THAT(rec.events, ElementsAre("refused m1 3 nonsync", "cmd m2 NOOP"));

  // A line without end is cut at the line limit.
  CommandReader lines(l);
  Recorder rec2;
  std::string flood(10 * 1024 * 1024, 'a');
  feed_all(lines, flood, rec2, 1 << 16);
  EXPECT_LE(lines.held(), l.line + 1);
  feed_all(lines, "\r\nx NOOP\r\n", rec2);
  EXPECT_THAT(rec2.events, ElementsAre("refused  0 nonsync", "cmd x NOOP"));
}

// The work per input byte is bounded: a command of many literals costs in
// proportion to its size, not to its size squared (the reader once reparsed
// the whole command at every literal).
TEST(CommandReaderTest, WorkIsLinearInTheInput) {
  auto examined_per_byte = [](int literals) {
    ReaderLimits l;
    l.literal = 1 << 20;
    l.command = 1ull << 40;
    CommandReader r(l);
    Recorder rec;
    std::string in = "m1 NOOP";
    for (int i = 0; i < literals; ++i) in += " {65536+}\r\n" + std::string(65536, 'x');
    in += "\r\n";
    feed_all(r, in, rec, 1 << 16);
    EXPECT_EQ(rec.events.size(), 1u);
    return static_cast<double>(r.bytes_examined()) / static_cast<double>(in.size());
  };
  double few = examined_per_byte(4);
  double many = examined_per_byte(256);
  EXPECT_LE(few, 3.0);
  EXPECT_LE(many, 3.0);
  EXPECT_LE(many, few * 1.01);

  // The same with an APPEND of many messages.
  ReaderLimits l;
  CommandReader r(l);
  Recorder rec;
  std::string in = "a APPEND INBOX";
  for (int i = 0; i < 2000; ++i) in += " (\\Seen) {100+}\r\n" + std::string(100, 'm');
  in += "\r\n";
  feed_all(r, in, rec, 4096);
  EXPECT_EQ(rec.message_bytes, 200000u);
  EXPECT_LE(static_cast<double>(r.bytes_examined()) / static_cast<double>(in.size()), 3.0);
}

TEST(CommandReaderTest, RawLinesWhenAsked) {
  CommandReader r;
  Recorder rec;
  r.set_raw_lines(true);
  feed_all(r, "AGFsaWNlAHB3 {5}\r\n", rec);
  EXPECT_THAT(rec.events, ElementsAre("raw AGFsaWNlAHB3 {5}"));
}

}  // namespace
}  // namespace replimail::imap
