// decode_quoted_printable() and decode_base64() must give what GMime's
// decoders give for any input: canonical text, and text with every kind of
// damage (bad escapes, stray characters, padding in the middle, lone CRs,
// truncation).
#include <gmime/gmime.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "mime/message.h"

namespace replimail::mime {
namespace {

std::string gmime_decode(std::string_view in, GMimeContentEncoding e) {
  GMimeEncoding state;
  g_mime_encoding_init_decode(&state, e);
  std::string out(g_mime_encoding_outlen(&state, in.size()), '\0');
  out.resize(g_mime_encoding_step(&state, in.data(), in.size(), out.data()));
  return out;
}

std::string random_bytes(std::mt19937& rng, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += static_cast<char>(rng() % 256);
  return s;
}

std::string gmime_encode(std::string_view in, GMimeContentEncoding e) {
  GMimeEncoding state;
  g_mime_encoding_init_encode(&state, e);
  std::string out(g_mime_encoding_outlen(&state, in.size()) + 8, '\0');
  out.resize(g_mime_encoding_flush(&state, in.data(), in.size(), out.data()));
  return out;
}

// Damage: a piece of trouble put somewhere, or the end cut off.
std::string damaged(std::mt19937& rng, std::string s, const std::vector<std::string>& trouble) {
  for (size_t k = rng() % 4; k > 0; --k) {
    size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    if (rng() % 5 == 0) {
      s.resize(at);
    } else {
      s.insert(at, trouble[rng() % trouble.size()]);
    }
  }
  return s;
}

TEST(TransferDecode, QuotedPrintableAsGmimeDecodesIt) {
  std::mt19937 rng(11);
  const std::vector<std::string> trouble = {"=",    "=\n", "=\r\n", "=\r", "==",  "=4",  "=4g",
                                            "=g4",  "=a9", "=Fe",  "= \r\n", "=\r=", "\r", "\n",
                                            "\x80", "=\x80\x80", "=0"};
  for (int round = 0; round < 20000; ++round) {
    std::string text = random_bytes(rng, rng() % 300);
    std::string in = gmime_encode(text, GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
    if (round % 2) in = damaged(rng, in, trouble);
    ASSERT_EQ(decode_quoted_printable(in), gmime_decode(in, GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE))
        << "input '" << in << "'";
  }
  EXPECT_EQ(decode_quoted_printable("Z=C3=bcrich =\r\nis=\nnice=3D=\r\n"), "Z\xc3\xbcrich isnice=");
  EXPECT_EQ(decode_quoted_printable("a=zz b= c=4"), "a=zz b= c");
}

TEST(TransferDecode, Base64AsGmimeDecodesIt) {
  std::mt19937 rng(13);
  const std::vector<std::string> trouble = {"=", "==", "\r", "\n", "\r\n", " ", "A", "Zm9v", "!",
                                            "\x80", "QQ==", "=A", "-", "_"};
  for (int round = 0; round < 20000; ++round) {
    std::string text = random_bytes(rng, rng() % 300);
    std::string in = gmime_encode(text, GMIME_CONTENT_ENCODING_BASE64);
    if (round % 3 == 1) {
      // Line breaks as CRLF, as stored messages have them.
      std::string crlf;
      for (char c : in) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
      in = crlf;
    }
    if (round % 3 == 2) in = damaged(rng, in, trouble);
    ASSERT_EQ(decode_base64(in), gmime_decode(in, GMIME_CONTENT_ENCODING_BASE64))
        << "input '" << in << "'";
    if (round % 3 != 2) {
      ASSERT_EQ(decode_base64(in), text);
    }
  }
}

}  // namespace
}  // namespace replimail::mime
