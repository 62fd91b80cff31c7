#include "dlist/printer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "common/fs.h"

namespace replimail::dlist {
namespace {

std::string astring(std::string_view s) {
  std::string out;
  append_astring(s, &out);
  return out;
}

std::string wire(const Value& v) {
  auto r = to_wire(v);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? *r : "";
}

TEST(Astring, CyrusRules) {
  EXPECT_EQ(astring(""), "\"\"");
  EXPECT_EQ(astring("user.testuser"), "user.testuser");
  EXPECT_EQ(astring("/vendor/cmu/cyrus-imapd/savedate"), "/vendor/cmu/cyrus-imapd/savedate");
  EXPECT_EQ(astring("$Important"), "$Important");
  EXPECT_EQ(astring("NIL"), "\"NIL\"");
  EXPECT_EQ(astring("nil"), "nil");
  EXPECT_EQ(astring("testuser\tlrswipkxtecdan\t"), "\"testuser\tlrswipkxtecdan\t\"");
  for (const char* s : {"a b", "a{b", "a(b", "a)b", "a*b"}) {
    EXPECT_EQ(astring(s), std::string("\"") + s + "\"") << s;
  }
  EXPECT_EQ(astring(std::string("a\x1f", 2)), std::string("a\x1f", 2));
  EXPECT_EQ(astring(std::string("a\x1e", 2)), std::string("\"a\x1e\"", 4));
  EXPECT_EQ(astring("a\x7f"), "\"a\x7f\"");
  for (const char* s : {"a\"b", "a%b", "a\\b", "a\rb", "a\nb", "caf\xc3\xa9"}) {
    std::string v(s);
    // fmt, not a chain of operator+: GCC 12 -O3's false -Wrestrict.
    EXPECT_EQ(astring(v), fmt::format("{{{}+}}\r\n{}", v.size(), v)) << s;
  }
  EXPECT_EQ(astring(std::string("a\0b", 3)), std::string("{3+}\r\na\0b", 9));
  EXPECT_EQ(astring(std::string(1023, 'x')), std::string(1023, 'x'));
  EXPECT_EQ(astring(std::string(1024, 'x')), "{1024+}\r\n" + std::string(1024, 'x'));
  EXPECT_EQ(astring(std::string(1023, ' ')), "\"" + std::string(1023, ' ') + "\"");
}

TEST(Printer, Scalars) {
  EXPECT_EQ(wire(Value::nil()), "NIL");
  EXPECT_EQ(wire(Value::num(0)), "0");
  EXPECT_EQ(wire(Value::num(4294967295u)), "4294967295");
  EXPECT_EQ(wire(Value::hex64(0x1234)), "0000000000001234");
  EXPECT_EQ(wire(Value::flag("\\Seen")), "\\Seen");
  EXPECT_EQ(wire(Value::literal("abc")), "{3+}\r\nabc");
  EXPECT_EQ(wire(Value::literal("")), "{0+}\r\n");
  EXPECT_EQ(wire(Value::atom("")), "\"\"");
}

TEST(Printer, ListsAndKvlists) {
  EXPECT_EQ(wire(Value::list()), "()");
  EXPECT_EQ(wire(Value::kvlist()), "%()");
  Value l = Value::list();
  l.push(Value::atom("SIEVE-MAILBOX"));
  EXPECT_EQ(*item_to_wire([&] {
    Value v = l;
    v.set_key("CAPABILITIES");
    return v;
  }()),
            "CAPABILITIES (SIEVE-MAILBOX)");
  Value rec = Value::kvlist();
  rec.add("UID", Value::num(2));
  rec.add("MODSEQ", Value::num(6));
  Value& flags = rec.add("FLAGS", Value::list());
  flags.push(Value::flag("\\Seen"));
  Value& annots = rec.add("ANNOTATIONS", Value::list());
  Value& a = annots.push(Value::kvlist());
  a.add("ENTRY", Value::atom("/vendor/cmu/cyrus-imapd/savedate"));
  a.add("USERID", Value::atom(""));
  a.add("VALUE", Value::literal("x y"));
  EXPECT_EQ(wire(rec),
            "%(UID 2 MODSEQ 6 FLAGS (\\Seen) ANNOTATIONS (%(ENTRY "
            "/vendor/cmu/cyrus-imapd/savedate USERID \"\" VALUE {3+}\r\nx y)))");
}

TEST(Printer, MailboxReplyMatchesCyrusBytes) {
  // `* MAILBOX` line of session 3 in testdata/transcript.txt.
  Value mb = Value::kvlist();
  mb.set_key("MAILBOX");
  mb.add("UNIQUEID", Value::atom("ecx1ps7244f2voy65oeez80t"));
  mb.add("MBOXNAME", Value::atom("user.testuser"));
  for (auto [k, n] :
       std::initializer_list<std::pair<const char*, uint64_t>>{{"SYNC_CRC", 481941939},
                                                               {"SYNC_CRC_ANNOT", 1389046167},
                                                               {"LAST_UID", 4},
                                                               {"HIGHESTMODSEQ", 9},
                                                               {"RECENTUID", 4},
                                                               {"RECENTTIME", 1795554947},
                                                               {"LAST_APPENDDATE", 1795554947},
                                                               {"POP3_LAST_LOGIN", 0},
                                                               {"POP3_SHOW_AFTER", 0},
                                                               {"UIDVALIDITY", 1795554948}}) {
    mb.add(k, Value::num(n));
  }
  mb.add("PARTITION", Value::atom("default"));
  mb.add("ACL", Value::atom("testuser\tlrswipkxtecdan\t"));
  mb.add("OPTIONS", Value::atom("P"));
  mb.add("CREATEDMODSEQ", Value::num(1));
  mb.add("FOLDERMODSEQ", Value::num(1));
  EXPECT_EQ(*item_to_wire(mb),
            "MAILBOX %(UNIQUEID ecx1ps7244f2voy65oeez80t MBOXNAME user.testuser SYNC_CRC "
            "481941939 SYNC_CRC_ANNOT 1389046167 LAST_UID 4 HIGHESTMODSEQ 9 RECENTUID 4 "
            "RECENTTIME 1795554947 LAST_APPENDDATE 1795554947 POP3_LAST_LOGIN 0 "
            "POP3_SHOW_AFTER 0 UIDVALIDITY 1795554948 PARTITION default ACL "
            "\"testuser\tlrswipkxtecdan\t\" OPTIONS P CREATEDMODSEQ 1 FOLDERMODSEQ 1)");
}

// Records every write, to check that file bodies are streamed in chunks.
class ChunkOutput : public Output {
 public:
  Status write(std::string_view bytes) override {
    largest = std::max(largest, bytes.size());
    all.append(bytes);
    return Status::success();
  }
  std::string all;
  size_t largest = 0;
};

TEST(Printer, FileLiteralsStreamFromDisk) {
  std::string dir =
      (std::filesystem::temp_directory_path() / ("dlist-printer-" + std::to_string(::getpid())))
          .string();
  ASSERT_TRUE(fs::make_dirs(dir));
  const std::string body(300000, 'm');
  ASSERT_TRUE(fs::write_file_atomic(dir + "/msg", body));
  const std::string g(40, 'a');
  Value msgs = Value::list();
  msgs.set_key("MESSAGE");
  msgs.push(Value::file({"default", g, body.size(), dir + "/msg"}));
  ChunkOutput out;
  ASSERT_TRUE(print_item(msgs, out));
  EXPECT_EQ(out.all, "MESSAGE (%{default " + g + " 300000}\r\n" + body + ")");
  EXPECT_LE(out.largest, 65536u);

  Value short_file = Value::file({"default", g, body.size() + 1, dir + "/msg"});
  EXPECT_EQ(to_wire(short_file).status().code(), Code::kIoError);
  Value missing = Value::file({"p", g, 1, dir + "/absent"});
  EXPECT_EQ(to_wire(missing).status().code(), Code::kIoError);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace replimail::dlist
