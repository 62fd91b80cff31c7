#include "common/base64.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace replimail {
namespace {

using namespace std::string_literals;

TEST(Base64, EncodesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("\0alice\0secret"s), "AGFsaWNlAHNlY3JldA==");
  EXPECT_EQ(base64_encode("\xff\xfe\xfd"), "//79");
}

TEST(Base64, DecodesRfc4648Vectors) {
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_EQ(base64_decode("Zg=="), "f");
  EXPECT_EQ(base64_decode("Zm8="), "fo");
  EXPECT_EQ(base64_decode("Zm9vYmFy"), "foobar");
  EXPECT_EQ(base64_decode("AGFsaWNlAHNlY3JldA=="), "\0alice\0secret"s);
  EXPECT_EQ(base64_decode("//79"), "\xff\xfe\xfd");
}

TEST(Base64, LoneEqualsIsTheEmptySaslResponse) {
  EXPECT_EQ(base64_decode("="), "");
  EXPECT_EQ(base64_decode("=="), std::nullopt);
}

TEST(Base64, RejectsBadInput) {
  for (std::string bad : {
           "Zm8"s,       // length not a multiple of 4
           "Z"s,         //
           "Z==="s,      // three pads
           "===="s,      //
           "Zm=v"s,      // data after a pad
           "Zg==Zg=="s,  // pad before the last quantum
           "Zm9v===="s,  // a whole quantum of pads
           "Zm9*"s,      // outside the alphabet
           "Zm9-"s,      // URL-safe alphabet
           "Zm9_"s,      //
           "Zm 9"s,      // white space inside
           "Zm9v\r\n"s,  // line break (also the wrong length)
           " Zm9v   "s,  // leading white space (OpenSSL's decoder skipped it)
           "Zm9\0"s,     // NUL
           "Zm9\xc3"s,   // 8-bit byte
       }) {
    EXPECT_EQ(base64_decode(bad), std::nullopt) << bad;
  }
}

TEST(Base64, RoundTripsRandomBytes) {
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string s(rng() % 50, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    std::string e = base64_encode(s);
    EXPECT_EQ(e.size() % 4, 0u);
    EXPECT_EQ(base64_decode(e), s);
  }
}

}  // namespace
}  // namespace replimail
