// The protocol types against real Cyrus 3.6 traffic (transcript.txt): every
// line parses into the expected fields and prints back byte for byte.
#include "sync/protocol.h"

#include <gtest/gtest.h>

#include "dlist/parser.h"
#include "dlist/printer.h"

namespace replimail::sync {
namespace {

const char* const kApplyMailboxFirst =
    "APPLY MAILBOX %(UNIQUEID ecx1ps7244f2voy65oeez80t MBOXNAME user.testuser SYNC_CRC 481941"
    "939 SYNC_CRC_ANNOT 1389046167 LAST_UID 4 HIGHESTMODSEQ 9 RECENTUID 4 RECENTTIME 17955549"
    "47 LAST_APPENDDATE 1795554947 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1795554948"
    " PARTITION default ACL \"testuser\tlrswipkxtecdan\t\" OPTIONS P CREATEDMODSEQ 1 FOLDERMO"
    "DSEQ 1 RECORD (%(UID 1 MODSEQ 2 LAST_UPDATED 1795554947 FLAGS () INTERNALDATE 1795554947"
    " SIZE 4045 GUID 5df00c69709a1f75b57e3a94cefde1af46d82bb3 ANNOTATIONS (%(ENTRY /vendor/cm"
    "u/cyrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 1795554947) %(ENTRY /vendor/cmu/cyrus-"
    "imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE 2))) %(UID 2 MODSEQ 6 LAST_UPDATED 179555"
    "4947 FLAGS (\\Seen) INTERNALDATE 1795554947 SIZE 2691 GUID 02af1af364eada8c1c53dc1c79e52"
    "486a85aa03b ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0 V"
    "ALUE 1795554947) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VALU"
    "E 3))) %(UID 3 MODSEQ 9 LAST_UPDATED 1795554947 FLAGS (\\Deleted \\Expunged) INTERNALDAT"
    "E 1795554947 SIZE 1907 GUID c880bb3ec51a87a30247ee8def160fc770fa6fd4 ANNOTATIONS (%(ENTR"
    "Y /vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 1795554947) %(ENTRY /vendo"
    "r/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE 4))) %(UID 4 MODSEQ 7 LAST_UP"
    "DATED 1795554947 FLAGS (\\Seen) INTERNALDATE 1795554947 SIZE 4194 GUID 88d3fa1d5ecd5db58"
    "ec1ca20fcc73b23854f5e48 ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID \""
    "\" MODSEQ 0 VALUE 1795554947) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" "
    "MODSEQ 0 VALUE 5)))))";

const char* const kApplyMailboxDelta =
    "APPLY MAILBOX %(UNIQUEID ecx1ps7244f2voy65oeez80t MBOXNAME user.testuser SYNC_CRC 156211"
    "9358 SYNC_CRC_ANNOT 3422398246 LAST_UID 5 HIGHESTMODSEQ 15 RECENTUID 4 RECENTTIME 179555"
    "4947 LAST_APPENDDATE 1795554949 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 17955549"
    "48 PARTITION default ACL \"testuser\tlrswipkxtecdan\t\" OPTIONS P CREATEDMODSEQ 1 FOLDER"
    "MODSEQ 1 SINCE_MODSEQ 9 SINCE_CRC 481941939 SINCE_CRC_ANNOT 1389046167 RECORD (%(UID 1 M"
    "ODSEQ 12 LAST_UPDATED 1795554949 FLAGS (\\Deleted \\Expunged) INTERNALDATE 1795554947 SI"
    "ZE 4045 GUID 5df00c69709a1f75b57e3a94cefde1af46d82bb3 ANNOTATIONS (%(ENTRY /vendor/cmu/c"
    "yrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 1795554947) %(ENTRY /vendor/cmu/cyrus-ima"
    "pd/createdmodseq USERID \"\" MODSEQ 0 VALUE 2))) %(UID 2 MODSEQ 13 LAST_UPDATED 17955549"
    "49 FLAGS (\\Deleted \\Expunged \\Seen) INTERNALDATE 1795554947 SIZE 2691 GUID 02af1af364"
    "eada8c1c53dc1c79e52486a85aa03b ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USE"
    "RID \"\" MODSEQ 0 VALUE 1795554947) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID"
    " \"\" MODSEQ 0 VALUE 3))) %(UID 4 MODSEQ 14 LAST_UPDATED 1795554949 FLAGS (\\Seen $Impor"
    "tant) INTERNALDATE 1795554947 SIZE 4194 GUID 88d3fa1d5ecd5db58ec1ca20fcc73b23854f5e48 AN"
    "NOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 179555494"
    "7) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE 5))) %(UID 5"
    " MODSEQ 15 LAST_UPDATED 1795554949 FLAGS () INTERNALDATE 1795554949 SIZE 2629 GUID da98e"
    "55f3ec16aafa94a7504d83105309f089342 ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedat"
    "e USERID \"\" MODSEQ 0 VALUE 1795554949) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq U"
    "SERID \"\" MODSEQ 0 VALUE 15)))))";

const char* const kReplyMailbox =
    "* MAILBOX %(UNIQUEID ecx1ps7244f2voy65oeez80t MBOXNAME user.testuser SYNC_CRC 481941939 "
    "SYNC_CRC_ANNOT 1389046167 LAST_UID 4 HIGHESTMODSEQ 9 RECENTUID 4 RECENTTIME 1795554947 L"
    "AST_APPENDDATE 1795554947 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1795554948 PAR"
    "TITION default ACL \"testuser\tlrswipkxtecdan\t\" OPTIONS P CREATEDMODSEQ 1 FOLDERMODSEQ"
    " 1)";

const char* const kApplyReserve =
    "APPLY RESERVE %(PARTITION default MBOXNAME (user.testuser) GUID (da98e55f3ec16aafa94a750"
    "4d83105309f089342 5df00c69709a1f75b57e3a94cefde1af46d82bb3 02af1af364eada8c1c53dc1c79e52"
    "486a85aa03b 88d3fa1d5ecd5db58ec1ca20fcc73b23854f5e48))";

// Parses "VERB KEY value" and returns the keyed value.
dlist::Value keyed_value(const std::string& line) {
  auto values = dlist::parse_line(line);
  EXPECT_TRUE(values.ok()) << values.status().to_string();
  auto v = dlist::keyed(std::move(*values), 1);
  EXPECT_TRUE(v.ok()) << v.status().to_string();
  return *v;
}

std::string print(const std::string& verb, const std::string& key, dlist::Value v) {
  v.set_key(key);
  auto wire = dlist::item_to_wire(v);
  EXPECT_TRUE(wire.ok());
  return verb + " " + *wire;
}

TEST(Protocol, ApplyMailboxFromCyrusRoundTrips) {
  auto m = mailbox_from_dlist(keyed_value(kApplyMailboxFirst));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->uniqueid, "ecx1ps7244f2voy65oeez80t");
  EXPECT_EQ(m->mboxname, "user.testuser");
  EXPECT_EQ(m->mbtype, "");
  EXPECT_EQ(m->sync_crc, 481941939u);
  EXPECT_EQ(m->sync_crc_annot, 1389046167u);
  EXPECT_EQ(m->last_uid, 4u);
  EXPECT_EQ(m->highestmodseq, 9u);
  EXPECT_EQ(m->uidvalidity, 1795554948u);
  EXPECT_EQ(m->acl, "testuser\tlrswipkxtecdan\t");
  EXPECT_EQ(m->options, "P");
  EXPECT_FALSE(m->since_modseq.has_value());
  ASSERT_TRUE(m->records.has_value());
  ASSERT_EQ(m->records->size(), 4u);
  const store::IndexRecord& r3 = (*m->records)[2].record;
  EXPECT_EQ(r3.uid, 3u);
  EXPECT_EQ(r3.modseq, 9u);
  EXPECT_TRUE(r3.expunged());
  EXPECT_TRUE(r3.system_flags & store::kFlagDeleted);
  EXPECT_EQ(r3.guid, "c880bb3ec51a87a30247ee8def160fc770fa6fd4");
  EXPECT_EQ(r3.savedate, 1795554947);
  EXPECT_EQ(r3.createdmodseq, 4u);
  EXPECT_TRUE((*m->records)[2].annotations.empty());
  EXPECT_EQ((*m->records)[1].record.system_flags, store::kFlagSeen);
  EXPECT_EQ(print("APPLY", "MAILBOX", to_dlist(*m)), kApplyMailboxFirst);
}

TEST(Protocol, DeltaWithSinceAndUserFlagRoundTrips) {
  auto m = mailbox_from_dlist(keyed_value(kApplyMailboxDelta));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  ASSERT_TRUE(m->since_modseq.has_value());
  EXPECT_EQ(*m->since_modseq, 9u);
  EXPECT_EQ(m->since_crc, 481941939u);
  EXPECT_EQ(m->since_crc_annot, 1389046167u);
  const store::IndexRecord& r4 = (*m->records)[2].record;
  EXPECT_EQ(r4.uid, 4u);
  EXPECT_EQ(r4.user_flags, std::vector<std::string>{"$Important"});
  EXPECT_EQ(print("APPLY", "MAILBOX", to_dlist(*m)), kApplyMailboxDelta);
}

TEST(Protocol, GetReplyMailboxRoundTrips) {
  auto m = mailbox_from_dlist(keyed_value(kReplyMailbox));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_FALSE(m->records.has_value());
  EXPECT_EQ(m->createdmodseq, 1u);
  EXPECT_EQ(m->foldermodseq, 1u);
  EXPECT_EQ(print("*", "MAILBOX", to_dlist(*m, MailboxForm::kReply)), kReplyMailbox);
}

TEST(Protocol, ReserveRoundTrips) {
  auto r = reserve_from_dlist(keyed_value(kApplyReserve));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->partition, "default");
  EXPECT_EQ(r->mboxnames, std::vector<std::string>{"user.testuser"});
  ASSERT_EQ(r->guids.size(), 4u);
  EXPECT_EQ(r->guids[0], "da98e55f3ec16aafa94a7504d83105309f089342");
  EXPECT_EQ(print("APPLY", "RESERVE", to_dlist(*r)), kApplyReserve);
}

TEST(Protocol, MissingRequiredKeysAreBadParameters) {
  dlist::Value v = dlist::Value::kvlist();
  v.add("UNIQUEID", dlist::Value::atom("x"));
  v.add("MBOXNAME", dlist::Value::atom("user.a"));
  auto m = mailbox_from_dlist(v);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kProtocolBadParameters);
  v.add("HIGHESTMODSEQ", dlist::Value::atom("12x"));
  EXPECT_EQ(mailbox_from_dlist(v).status().code(), Code::kProtocolBadParameters);
  EXPECT_EQ(mailbox_from_dlist(dlist::Value::list()).status().code(), Code::kProtocolBadParameters);
}

// A replimail master's record carries its message cache (CACHE, after
// Cyrus's keys): every byte of each string survives the wire, through the
// parser too; a cache of another version is dropped (the replica computes
// its own), a malformed one is refused.
TEST(Protocol, RecordCacheRoundTripsAndAnotherVersionIsDropped) {
  auto m = mailbox_from_dlist(keyed_value(kApplyMailboxFirst));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  RecordItem item = (*m->records)[0];
  EXPECT_FALSE(item.cache.has_value());
  store::MessageCache c;
  c.header = "Subject: caf\xc3\xa9 \"quoted\" (paren)\r\nX: {3}\r\n\r\n";
  c.envelope = "(\"Mon, 1 Jan 2024\" \"caf\xc3\xa9\" NIL NIL)";
  c.bodystructure = "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 12 1)";
  c.body = "";
  c.text_segments = std::string("\0\x01\r\n\xff", 5);
  item.cache = c;
  dlist::Value v = to_dlist(item);
  auto back = record_from_dlist(v);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, item);

  std::string line = print("APPLY", "RECORD", v);
  EXPECT_NE(line.find(" GUID 5df00c69709a1f75b57e3a94cefde1af46d82bb3 ANNOTATIONS ("),
            std::string::npos)
      << line;
  EXPECT_NE(line.find(") CACHE %(VERSION "), std::string::npos) << line;
  auto reparsed = record_from_dlist(keyed_value(line));
  ASSERT_TRUE(reparsed.ok()) << reparsed.status().to_string();
  ASSERT_TRUE(reparsed->cache.has_value());
  EXPECT_EQ(*reparsed->cache, c);

  dlist::Value other = v;
  int bumped = 0;
  for (dlist::Value& field : other.children()) {
    if (field.key() != "CACHE") continue;
    for (dlist::Value& f : field.children()) {
      if (f.key() != "VERSION") continue;
      f = dlist::Value::num(store::MessageCache::kVersion + 1);
      f.set_key("VERSION");
      bumped++;
    }
  }
  ASSERT_EQ(bumped, 1);
  auto dropped = record_from_dlist(other);
  ASSERT_TRUE(dropped.ok()) << dropped.status().to_string();
  EXPECT_FALSE(dropped->cache.has_value());
  EXPECT_EQ(dropped->record, item.record);

  dlist::Value broken = dlist::Value::kvlist();
  broken.add("VERSION", dlist::Value::num(store::MessageCache::kVersion));
  broken.add("HEADER", dlist::Value::literal("x"));
  dlist::Value bad = to_dlist((*m->records)[0]);
  bad.add("CACHE", broken);
  EXPECT_EQ(record_from_dlist(bad).status().code(), Code::kProtocolBadParameters);
  dlist::Value not_kv = to_dlist((*m->records)[0]);
  not_kv.add("CACHE", dlist::Value::atom("x"));
  EXPECT_EQ(record_from_dlist(not_kv).status().code(), Code::kProtocolBadParameters);
}

TEST(Protocol, IntermediateApplyFormIsShort) {
  MailboxState m;
  m.uniqueid = "u1";
  m.mboxname = "user.a.b";
  m.mbtype = "ei";
  m.highestmodseq = 7;
  m.createdmodseq = 3;
  m.foldermodseq = 7;
  dlist::Value v = to_dlist(m);
  EXPECT_EQ(print("APPLY", "MAILBOX", v),
            "APPLY MAILBOX %(UNIQUEID u1 MBOXNAME user.a.b MBOXTYPE ei HIGHESTMODSEQ 7 "
            "CREATEDMODSEQ 3 FOLDERMODSEQ 7)");
  auto back = mailbox_from_dlist(v);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_TRUE(back->intermediate());
  EXPECT_EQ(back->highestmodseq, 7u);
}

TEST(Protocol, QuotaUnlimitedAndLimits) {
  QuotaItem q{"user.a", -1, 100, 5};
  dlist::Value v = to_dlist(q);
  EXPECT_EQ(print("APPLY", "QUOTA", v),
            "APPLY QUOTA %(ROOT user.a LIMIT 4294967295 MESSAGE 100 MODSEQ 5)");
  auto back = quota_from_dlist(v);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, q);
  QuotaItem s{"user.b", 2048, -1, 9};
  auto back2 = quota_from_dlist(to_dlist(s));
  ASSERT_TRUE(back2.ok());
  EXPECT_EQ(*back2, s);
}

TEST(Protocol, SmallRequestsRoundTrip) {
  SeenItem seen{"alice", {"uid-1", 100, 42, 200, "1:40,42"}};
  auto s = seen_from_dlist(to_dlist(seen, true), true);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, seen);
  RenameRequest rn{"user.a.x", "user.a.y", "default", 17};
  auto r = rename_from_dlist(to_dlist(rn));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, rn);
  ExpungeRequest ex{"user.a", "uid-1", {3, 5, 9}};
  auto e = expunge_from_dlist(to_dlist(ex));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, ex);
  SubRequest sub{"alice", "user.alice.Sent"};
  auto b = sub_from_dlist(to_dlist(sub));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, sub);
  ServerAnnotation an{"", "/comment", "", "hello world"};
  auto a = annotation_from_dlist(to_dlist(an, true), true);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, an);
  EXPECT_FALSE(annotation_from_dlist(to_dlist(an, false), true).ok());
}

// Every name that could reach a path is checked where it enters: each
// hostile line is refused as bad parameters, and its honest twin parses.
TEST(Protocol, NamesThatCouldReachAPathAreCheckedOnEntry) {
  const std::string mbox =
      "APPLY MAILBOX %(UNIQUEID {U} MBOXNAME {N} LAST_UID 0 HIGHESTMODSEQ 1 RECENTUID 0 "
      "RECENTTIME 0 LAST_APPENDDATE 0 POP3_LAST_LOGIN 0 UIDVALIDITY 7 PARTITION {P} ACL \"\" "
      "OPTIONS P RECORD ())";
  auto fill = [](std::string t, const std::string& u, const std::string& n, const std::string& p) {
    t.replace(t.find("{U}"), 3, u);
    t.replace(t.find("{N}"), 3, n);
    t.replace(t.find("{P}"), 3, p);
    return t;
  };
  auto refused = [](const Status& s) { return s.code() == Code::kProtocolBadParameters; };
  EXPECT_TRUE(
      mailbox_from_dlist(keyed_value(fill(mbox, "ecx1ps7244f2", "user.x", "default"))).ok());
  for (const char* u : {"../../../../some/dir", "a/b", "..", "\"a b\"",
                        "0123456789012345678901234567890123456789012345678901234567890123456789"})
    EXPECT_TRUE(
        refused(mailbox_from_dlist(keyed_value(fill(mbox, u, "user.x", "default"))).status()))
        << u;
  for (const char* n : {"user.x/../..", "user...", "user..x", "user"})
    EXPECT_TRUE(refused(mailbox_from_dlist(keyed_value(fill(mbox, "u1", n, "default"))).status()))
        << n;
  for (const char* p : {"../p", "a/b", ".hidden", "\"p q\""})
    EXPECT_TRUE(refused(mailbox_from_dlist(keyed_value(fill(mbox, "u1", "user.x", p))).status()))
        << p;

  EXPECT_TRUE(refused(
      reserve_from_dlist(keyed_value("APPLY RESERVE %(PARTITION ../x MBOXNAME (user.a) GUID ())"))
          .status()));
  EXPECT_TRUE(refused(
      reserve_from_dlist(keyed_value("APPLY RESERVE %(PARTITION p MBOXNAME (user/a) GUID ())"))
          .status()));
  EXPECT_TRUE(
      reserve_from_dlist(keyed_value("APPLY RESERVE %(PARTITION p MBOXNAME (user.a) GUID ())"))
          .ok());

  const std::string sieve = "APPLY SIEVE %(USERID {N} FILENAME {F} LAST_UPDATE 1 CONTENT x)";
  auto sv = [&](const std::string& user, const std::string& file) {
    std::string t = sieve;
    t.replace(t.find("{N}"), 3, user);
    t.replace(t.find("{F}"), 3, file);
    return sieve_from_dlist(keyed_value(t), "SIEVE").status();
  };
  EXPECT_TRUE(sv("alice", "main.script").is_ok());
  EXPECT_TRUE(refused(sv("alice", "../../etc/x.script")));
  EXPECT_TRUE(refused(sv("alice", ".hidden.script")));
  EXPECT_TRUE(refused(sv("../alice", "main.script")));
  EXPECT_TRUE(refused(sv("al/ice", "main.script")));

  EXPECT_TRUE(refused(
      seen_from_dlist(keyed_value("APPLY SEEN %(USERID ../a UNIQUEID u1 LASTREAD 0 LASTUID 0 "
                                  "LASTCHANGE 0 SEENUIDS \"\")"),
                      true)
          .status()));
  EXPECT_TRUE(refused(
      seen_from_dlist(keyed_value("APPLY SEEN %(USERID a UNIQUEID ../u1 LASTREAD 0 LASTUID 0 "
                                  "LASTCHANGE 0 SEENUIDS \"\")"),
                      true)
          .status()));
  EXPECT_TRUE(refused(
      expunge_from_dlist(keyed_value("APPLY EXPUNGE %(MBOXNAME user.a UNIQUEID ../u UID (1))"))
          .status()));
  EXPECT_TRUE(
      refused(sub_from_dlist(keyed_value("APPLY SUB %(USERID ../a MBOXNAME user.a)")).status()));
  EXPECT_TRUE(refused(rename_from_dlist(keyed_value("APPLY RENAME %(OLDMBOXNAME user.a "
                                                    "NEWMBOXNAME user.b PARTITION ../p)"))
                          .status()));
  for (const char* e : {"/../../x", "x", "/a//b", "/a/", "/a/*", "/"})
    EXPECT_TRUE(refused(
        annotation_from_dlist(keyed_value(std::string("APPLY ANNOTATION %(MBOXNAME user.a ENTRY ") +
                                          e + " USERID \"\" VALUE v)"),
                              true)
            .status()))
        << e;
  EXPECT_TRUE(annotation_from_dlist(keyed_value("APPLY ANNOTATION %(MBOXNAME user.a ENTRY "
                                                "/comment USERID \"\" VALUE v)"),
                                    true)
                  .ok());
}

}  // namespace
}  // namespace replimail::sync
