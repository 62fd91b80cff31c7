#include "dlist/value.h"

#include <gtest/gtest.h>

namespace replimail::dlist {
namespace {

TEST(Value, ScalarsConvertOnDemand) {
  EXPECT_EQ(Value::atom("42").num(), 42u);
  EXPECT_EQ(Value::num(18446744073709551615ull).num(), 18446744073709551615ull);
  EXPECT_EQ(Value::atom("18446744073709551616").num(), std::nullopt);
  EXPECT_EQ(Value::atom("-1").num(), std::nullopt);
  EXPECT_EQ(Value::atom("+1").num(), std::nullopt);
  EXPECT_EQ(Value::atom("12a").num(), std::nullopt);
  EXPECT_EQ(Value::atom("").num(), std::nullopt);
  EXPECT_EQ(Value::atom("4294967295").num32(), 4294967295u);
  EXPECT_EQ(Value::atom("4294967296").num32(), std::nullopt);
  EXPECT_EQ(Value::nil().num(), std::nullopt);
  EXPECT_EQ(Value::hex64(255).str(), "00000000000000ff");
  EXPECT_EQ(Value::atom("00000000000000FF").hex64(), 255u);
  EXPECT_EQ(Value::atom("0x1").hex64(), std::nullopt);
  EXPECT_EQ(Value::atom("11112222333344445").hex64(), std::nullopt);
  EXPECT_EQ(Value::num(7).str(), "7");
  EXPECT_EQ(Value::flag("\\Seen").str(), "\\Seen");
  EXPECT_EQ(Value::nil().str(), std::nullopt);
  EXPECT_EQ(Value::list().str(), std::nullopt);
}

TEST(Value, Guids) {
  const std::string g = "5DF00C69709A1F75B57E3A94CEFDE1AF46D82BB3";
  EXPECT_TRUE(is_guid(g));
  EXPECT_FALSE(is_guid(g.substr(1)));
  EXPECT_FALSE(is_guid(g.substr(1) + "g"));
  EXPECT_EQ(Value::guid(g).str(), "5df00c69709a1f75b57e3a94cefde1af46d82bb3");
  EXPECT_EQ(Value::atom(g).guid(), "5df00c69709a1f75b57e3a94cefde1af46d82bb3");
  EXPECT_EQ(Value::atom("abc").guid(), std::nullopt);
  EXPECT_EQ(Value::file({"default", g, 3, ""}).file()->guid,
            "5df00c69709a1f75b57e3a94cefde1af46d82bb3");
}

TEST(Value, Containers) {
  Value kv = Value::kvlist();
  kv.add("UID", Value::num(4));
  Value& flags = kv.add("FLAGS", Value::list());
  flags.push(Value::flag("\\Seen"));
  flags.push(Value::atom("$Important"));
  EXPECT_EQ(flags.find("x"), nullptr);
  kv.add("UID", Value::num(5));
  EXPECT_EQ(kv.size(), 3u);
  EXPECT_EQ(kv.find_num("UID"), 4u);
  EXPECT_EQ(kv.find("FLAGS")->size(), 2u);
  EXPECT_EQ(kv.find("NOPE"), nullptr);
  EXPECT_EQ(kv.find_str("NOPE"), std::nullopt);
  EXPECT_TRUE(kv.is_container());
  EXPECT_FALSE(kv.is_scalar());
  EXPECT_EQ(debug_string(kv), "%(UID='4' FLAGS=('\\Seen' '$Important') UID='5')");
  Value copy = kv;
  EXPECT_EQ(copy, kv);
  copy.children()[0] = Value::num(6);
  EXPECT_NE(copy, kv);
}

}  // namespace
}  // namespace replimail::dlist
