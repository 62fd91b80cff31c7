// parse_structure's `consumed` reports, and Message::open dropping the pages
// of a mapped file the parser has gone past (issue 17: squatter's peak).
#include "mime/structure.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../../support/temp_dir.h"
#include "mime/imap_format.h"
#include "mime/message.h"

namespace replimail::mime {
namespace {

// A text part, a base64 attachment of `attachment_lines` lines, a nested
// message with its own multipart, and an epilogue.
std::string large_message(size_t attachment_lines) {
  std::string m =
      "From: a@example.org\r\nSubject: large\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\npreamble\r\n"
      "--outer\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nthe word giraffe\r\n"
      "--outer\r\nContent-Type: application/octet-stream; name=big.bin\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n";
  for (size_t i = 0; i < attachment_lines; ++i) {
    m += "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n";
  }
  m += "--outer\r\nContent-Type: message/rfc822\r\n\r\n"
       "From: b@example.org\r\nSubject: inner\r\n"
       "Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
       "--inner\r\nContent-Type: text/plain\r\n\r\nzebra\r\n"
       "--inner\r\nContent-Type: text/html\r\n\r\n<p>zebra</p>\r\n--inner--\r\n"
       "\r\n--outer--\r\nepilogue\r\n";
  return m;
}

// Everything parse_structure computes, printed: what FETCH BODYSTRUCTURE
// and ENVELOPE show plus every part's offsets, sizes and line counts.
void dump(const Part& p, std::string& out) {
  out += std::to_string(p.header_offset) + " " + std::to_string(p.header_size) + " " +
         std::to_string(p.content_offset) + " " + std::to_string(p.content_size) + " " +
         std::to_string(p.header_lines) + " " + std::to_string(p.content_lines) + "\n";
  for (const Part& c : p.children) dump(c, out);
}
std::string dump(const Part& root) {
  std::string out = format_envelope(root) + "\n" + format_body(root, true) + "\n";
  dump(root, out);
  return out;
}

TEST(ParseStructure, BytesBelowAConsumedOffsetAreNeverReadAgain) {
  const std::string original = large_message(20000);  // ~1.5 MB
  const std::string expected = dump(parse_structure(original));
  // Each report wipes what lies below it: had the parser looked there again
  // (a boundary, a header), the tree would differ.
  std::string bytes = original;
  std::vector<size_t> reports;
  Part root = parse_structure(bytes, [&](size_t consumed) {
    size_t from = reports.empty() ? 0 : reports.back();
    ASSERT_GE(consumed, from);
    ASSERT_LE(consumed, bytes.size());
    std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(from),
              bytes.begin() + static_cast<std::ptrdiff_t>(consumed), '\0');
    reports.push_back(consumed);
  });
  EXPECT_EQ(dump(root), expected);
  EXPECT_GE(reports.size(), original.size() / kConsumedStep - 1);
  for (size_t i = 1; i < reports.size(); ++i) {
    EXPECT_GE(reports[i] - reports[i - 1], kConsumedStep);
  }
}

TEST(ParseStructure, SmallMessageGetsNoReport) {
  std::string msg = large_message(10);
  size_t calls = 0;
  Part root = parse_structure(msg, [&](size_t) { ++calls; });
  EXPECT_EQ(calls, 0u);
  EXPECT_EQ(dump(root), dump(parse_structure(msg)));
}

// KiB of this process's memory mapped from `data`'s mapping (smaps Rss).
long resident_kib(const void* data) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  const auto at = reinterpret_cast<uintptr_t>(data);
  while (std::getline(smaps, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2) {  // a mapping's first line
      inside = lo <= at && at < hi;
      continue;
    }
    if (inside && line.rfind("Rss:", 0) == 0) return std::stol(line.substr(4));
  }
  return -1;
}

TEST(MessageFile, LargeFileIsNotResidentWholeAfterOpen) {
  const std::string dir = testing::make_temp_dir("rm_mime_structure_");
  ASSERT_NE(dir, "");
  const std::string path = dir + "/1.";
  const std::string bytes = large_message(50000);  // ~3.7 MB: mapped, not read
  {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
  }
  auto m = Message::open(path);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  // Without the release, every page of the file is resident here (the
  // parser read each line); with it, about the last kConsumedStep.
  long kib = resident_kib(m->bytes().data());
  EXPECT_GE(kib, 0);
  EXPECT_LE(kib, static_cast<long>(2 * kConsumedStep / 1024)) << "of " << bytes.size() / 1024;
  // The bytes read back (faulted in again) and what is computed from them
  // are those of the message.
  Message held = Message::from_bytes(bytes);
  EXPECT_EQ(m->bodystructure(), held.bodystructure());
  EXPECT_EQ(m->envelope(), held.envelope());
  EXPECT_EQ(m->body_text(), held.body_text());
  EXPECT_EQ(m->bytes(), bytes);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace replimail::mime
