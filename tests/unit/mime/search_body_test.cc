// SearchBody: SEARCH BODY over the text segments the message cache keeps,
// reading only those bytes of the file, must answer exactly as the parsed
// message does.
#include "mime/search_body.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "../../support/temp_dir.h"
#include "mime/message.h"

namespace replimail::mime {
namespace {

namespace fsys = std::filesystem;

// koi8-r "Отчёт: СИНХРОНИЗАЦИЯ папки" in base64 lines of 8 characters, so
// that the word is split across encoded lines.
std::string koi8r_base64() {
  const std::string b64 = "79Teo9Q6 IPPp7ujy 7+7p+uHj 6fEg0MHQ y8k=";
  std::string out;
  for (char c : b64) out += c == ' ' ? std::string("\r\n") : std::string(1, c);
  return out + "\r\n";
}

// An attachment before the text (the first segment is not at the start of
// the range read), quoted-printable Latin-1 with a soft line break inside
// a word, koi8-r in base64, a nested message, and parts that end and start
// with the halves of "wordplay".
std::string mixed_message(size_t attachment) {
  return "From: a@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
         "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
         "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
         std::string(attachment, 'Q') +
         "\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
         "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
         "Sch=F6ne Gr=FC=DFe: the itin=\r\nerary of M=DCLLER, word\r\n"
         "--b\r\nContent-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
         koi8r_base64() +
         "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
         "play <b>Caf&amp;e</b> <script>hidden</script>\r\n"
         "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: =?utf-8?q?Inner_=C3=A9?=\r\n\r\n"
         "inner text\r\n--b--\r\n";
}

// Text, a large attachment, text: the range read is mapped, not read.
std::string large_message() {
  return "Subject: large\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n"
         "--z\r\nContent-Type: text/plain\r\n\r\nfirst itinerary\r\n"
         "--z\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
         std::string(300 * 1024, 'A') +
         "\r\n--z\r\nContent-Type: text/plain; charset=utf-8\r\n"
         "Content-Transfer-Encoding: 8bit\r\n\r\nlast Z\xc3\xbcrich\r\n--z--\r\n";
}

class SearchBodyTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = replimail::testing::make_temp_dir("rm_search_body_"); }
  void TearDown() override { fsys::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& bytes) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // The SearchBody of `bytes` through a file and its text segments.
  SearchBody body_of(const std::string& bytes) {
    std::string path = write(fmt::format("m{}", n_++), bytes);
    auto body = SearchBody::open(path, text_segments(Message::from_bytes(bytes)));
    EXPECT_TRUE(body.ok()) << body.status().to_string();
    return std::move(body).value();
  }

  std::string dir_;
  int n_ = 0;
};

TEST_F(SearchBodyTest, FindsWhatDecodingEachPartFinds) {
  for (size_t attachment : {size_t{8}, size_t{400 * 1024}}) {
    const std::string msg = mixed_message(attachment);
    // A match split by a quoted-printable soft line break, case folded
    // across charsets (Latin-1 Ü, koi8-r capitals split across base64
    // lines), HTML reduced to text, a nested message's header.
    for (const char* needle : {"itinerary", "ITINERARY", "müller", "schöne grüsse", "синхронизация",
                               "отчёт: синхр", "caf&e", "inner é", "INNER TEXT"}) {
      EXPECT_TRUE(body_of(msg).matches(needle)) << needle << " " << attachment;
    }
    // Not across a part boundary, not in an attachment, tags, scripts or
    // the encoded bytes.
    for (const char* needle : {"wordplay", "word play", "QQQQ", "script", "hidden", "itin=",
                               "79Teo9Q6", "M=DC"}) {
      EXPECT_FALSE(body_of(msg).matches(needle)) << needle << " " << attachment;
    }
  }
  SearchBody large = body_of(large_message());
  EXPECT_TRUE(large.matches("FIRST itinerary"));
  EXPECT_TRUE(large.matches("zürich"));
  EXPECT_FALSE(large.matches("AAAA"));
}

TEST_F(SearchBodyTest, AnswersAsTheParsedMessageForEveryNeedle) {
  std::vector<std::string> messages = {mixed_message(8), mixed_message(300 * 1024),
                                       large_message()};
  const fsys::path data = fsys::path(__FILE__).parent_path() / "../../data/mime";
  for (const auto& e : fsys::directory_iterator(data)) {
    if (e.path().extension() != ".eml") continue;
    std::ifstream in(e.path(), std::ios::binary);
    messages.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(messages.size(), 20u);
  std::mt19937 rng(17);
  int found = 0;
  for (const std::string& msg : messages) {
    Message parsed = Message::from_bytes(msg);
    SearchBody body = body_of(msg);
    const std::string text = search_fold(parsed.body_text());
    for (int i = 0; i < 200 && !text.empty(); ++i) {
      std::string needle = text.substr(rng() % text.size(), 1 + rng() % 10);
      if (rng() % 3 == 0) needle[needle.size() - 1] = static_cast<char>('a' + rng() % 26);
      bool expected = parsed.body_matches(needle);
      found += expected;
      ASSERT_EQ(body.matches(needle), expected) << "needle '" << needle << "'";
    }
  }
  EXPECT_GT(found, 1000);
}

TEST_F(SearchBodyTest, MessageWithoutTextMatchesOnlyTheEmptyNeedle) {
  const std::string msg = "Content-Type: image/png\r\n\r\nhello\r\n";
  EXPECT_EQ(text_segments(Message::from_bytes(msg)), "S\n");
  SearchBody body = body_of(msg);
  EXPECT_TRUE(body.matches(""));
  EXPECT_FALSE(body.matches("hello"));
}

TEST_F(SearchBodyTest, BadSegmentsOrAShortFileAreErrors) {
  const std::string msg = mixed_message(8);
  const std::string path = write("short", msg);
  for (const char* bad : {"", "T 1 2\n", "S\nT 1 2\n", "S\nT 5 10 - PLAIN utf-8",
                          "S\nQ 1 2\n", "S\nT 99999999999999999999 1 - PLAIN us-ascii\n",
                          "S\nT x 1 - PLAIN us-ascii\n", "S\nH 1\n"}) {
    auto body = SearchBody::open(path, bad);
    ASSERT_FALSE(body.ok()) << bad;
    EXPECT_EQ(body.status().code(), Code::kInvalidArgument) << bad;
  }
  const std::string segments = text_segments(Message::from_bytes(msg));
  write("short", msg.substr(0, msg.size() - 40));
  auto body = SearchBody::open(path, segments);
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), Code::kIoError);
  EXPECT_FALSE(SearchBody::open(dir_ + "/absent", segments).ok());
}

}  // namespace
}  // namespace replimail::mime
