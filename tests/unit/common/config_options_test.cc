// imapd.conf semantics against imapd.conf(5) of Cyrus 3.6: numbers, units,
// defaults, continuation lines, @include, and what is said about options
// replimail does not implement; and docs/CYRUS-NOTES.md against the table.
#include "common/config_options.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/config.h"

namespace replimail {
namespace {

Config must_parse(const std::string& text) {
  auto cfg = Config::parse(text, "imapd.conf");
  EXPECT_TRUE(cfg.ok()) << cfg.status().to_string();
  return cfg.ok() ? std::move(*cfg) : Config();
}

size_t warnings_naming(const Config& cfg, const std::string& option) {
  size_t n = 0;
  for (const auto& w : cfg.warnings())
    if (w.find("'" + option + "'") != std::string::npos) ++n;
  return n;
}

TEST(ConfigSemantics, NumbersAreReadAsCyrus36ReadsThem) {
  // strtol base 0: hexadecimal and octal too.
  EXPECT_EQ(must_parse("maxmessagesize: 0x100000\n").get_int("maxmessagesize"), 1048576);
  EXPECT_EQ(must_parse("maxmessagesize: 010\n").get_int("maxmessagesize"), 8);
  EXPECT_EQ(must_parse("autocreate_quota: -1\n").get_int("autocreate_quota"), -1);
  // Cyrus 3.6 refuses a size suffix ("non-integer value"): so do we, and
  // say so instead of reading 0 or 128.
  auto k = Config::parse("maxmessagesize: 128K\n", "imapd.conf");
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("imapd.conf:1"), std::string::npos);
  EXPECT_NE(k.status().message().find("K/M"), std::string::npos) << k.status().message();
  EXPECT_FALSE(Config::parse("maxword: 10M\n", "c").ok());
  EXPECT_FALSE(Config::parse("maxword: 12 \n maxquoted: 1 2\n", "c").ok());
}

TEST(ConfigSemantics, DurationsTakeEachOptionsOwnUnit) {
  // timeout: minutes when bare (imapd.conf(5): "32m"); a Cyrus config
  // saying "timeout: 32m" was refused as "not a number" before.
  EXPECT_EQ(must_parse("").get_duration("timeout").count(), 32 * 60);
  EXPECT_EQ(must_parse("timeout: 45\n").get_duration("timeout").count(), 45 * 60);
  EXPECT_EQ(must_parse("timeout: 32m\n").get_duration("timeout").count(), 32 * 60);
  EXPECT_EQ(must_parse("timeout: 1h30m\n").get_duration("timeout").count(), 90 * 60);
  // Seconds when bare for the others.
  EXPECT_EQ(must_parse("failedloginpause: 5\n").get_duration("failedloginpause").count(), 5);
  EXPECT_EQ(must_parse("sync_timeout: 2m\n").get_duration("sync_timeout").count(), 120);
  EXPECT_EQ(must_parse("").get_duration("sync_reconnect_maxwait").count(), 20 * 60);
  // poptimeout: minutes when bare, 10m by default (pop3d keeps 10 minutes
  // as the least, as Cyrus); it was not read, pop3d used a fixed 600 s.
  EXPECT_EQ(must_parse("").get_duration("poptimeout").count(), 600);
  EXPECT_EQ(must_parse("poptimeout: 15\n").get_duration("poptimeout").count(), 900);
  EXPECT_FALSE(Config::parse("timeout: 30x\n", "c").ok());
}

TEST(ConfigSemantics, SwitchesAsCyrusReadsThem) {
  EXPECT_TRUE(*parse_switch("yes"));
  EXPECT_TRUE(*parse_switch("10"));  // Cyrus looks at the first character
  EXPECT_TRUE(*parse_switch("on"));
  EXPECT_FALSE(*parse_switch("off"));
  EXPECT_FALSE(*parse_switch("nope"));
  EXPECT_FALSE(parse_switch("o").has_value());
  EXPECT_FALSE(parse_switch("2").has_value());
}

TEST(ConfigSemantics, DefaultsAreCyrus36s) {
  Config c = must_parse("configdirectory: /x\n");
  EXPECT_EQ(c.get("defaultdomain"), "");        // not read: no default to give
  EXPECT_EQ(c.get("sasl_pwcheck_method"), "");  // libsasl2 decides, as under Cyrus
  EXPECT_EQ(c.get("sasl_auxprop_plugin"), "");
  EXPECT_EQ(c.get("autocreate_quota"), "-1");
  EXPECT_EQ(c.get("sync_log_unsuppressable_channels"), "squatter");
  EXPECT_EQ(c.get_int("maxword"), 131072);
  EXPECT_EQ(c.get("userprefix"), "Other Users");
  EXPECT_EQ(c.get("sharedprefix"), "Shared Folders");
  // Every default in the table is a valid value of its option.
  for (const OptionSpec& o : option_specs()) {
    std::string text = std::string(o.name) + ": " + std::string(o.def) + "\n";
    if (o.def.empty()) continue;
    EXPECT_TRUE(Config::parse(text, "c").ok()) << text;
  }
}

TEST(ConfigSemantics, DefaultPartitionWithoutTheOptionIsAConfiguredOne) {
  // Cyrus 3.6 has no default for defaultpartition: it takes the partition
  // with the most free space. With one partition, that one.
  Config c = must_parse("partition-spool: /\n");
  EXPECT_EQ(c.defaultpartition(), "spool");
  EXPECT_EQ(must_parse("partition-a: /\npartition-b: /\ndefaultpartition: b\n").defaultpartition(),
            "b");
}

TEST(ConfigSemantics, BackslashContinuesALine) {
  Config c = must_parse("autocreate_inbox_folders: Sent |\\\n Trash\\\n|Junk\nadmins: x\n");
  EXPECT_EQ(c.get("autocreate_inbox_folders"), "Sent | Trash|Junk");
  EXPECT_EQ(c.get("admins"), "x");
  auto bad = Config::parse("admins: a\nbroken\\\nline\n", "f");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("f:3"), std::string::npos) << bad.status().message();
}

TEST(ConfigSemantics, IncludeReadsAnotherFileInPlace) {
  std::map<std::string, std::string> files = {
      {"/etc/extra.conf", "admins: boss\nallowanonymouslogin: no\n"},
      {"/etc/loop.conf", "@include: /etc/loop.conf\n"}};
  auto reader = [&](const std::string& path) -> Result<std::string> {
    auto it = files.find(path);
    if (it == files.end()) return Status(Code::kConfigError, path + ": cannot open");
    return it->second;
  };
  auto c = Config::parse("servername: a\n@include: /etc/extra.conf\n", "imapd.conf", reader);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_TRUE(c->is_admin("boss"));
  ASSERT_EQ(warnings_naming(*c, "allowanonymouslogin"), 1u);
  EXPECT_NE(c->warnings()[0].find("/etc/extra.conf:2"), std::string::npos) << c->warnings()[0];
  EXPECT_FALSE(Config::parse("@include: /nonexistent\n", "c", reader).ok());
  EXPECT_FALSE(Config::parse("@include: /etc/loop.conf\n", "c", reader).ok());
  EXPECT_FALSE(Config::parse("@frobnicate: x\n", "c", reader).ok());
}

TEST(ConfigSemantics, EveryIgnoredOptionIsNamedInOneWarning) {
  Config c = must_parse(
      "configdirectory: /x\n"
      "partition-default: /y\n"
      "allowanonymouslogin: no\n"    // Cyrus's, not implemented
      "duplicate_db: twoskip\n"      // Cyrus's, not implemented
      "metapartition-default: /m\n"  // a family we do not implement
      "replica_sync_host: h\n"       // a channel's override of a read option
      "replica_sync_try_imap: 0\n"   // a channel's override of an ignored one
      "imaps_allowplaintext: 1\n"    // Cyrus's per-service override
      "sasl_saslauthd_path: /run\n"  // libsasl2's, passed on
      "xlist-junk: Spam\n"
      "no_such_option: 1\n");
  for (const char* o : {"allowanonymouslogin", "duplicate_db", "metapartition-default",
                        "replica_sync_try_imap", "imaps_allowplaintext", "no_such_option"})
    EXPECT_EQ(warnings_naming(c, o), 1u) << o;
  EXPECT_EQ(c.warnings().size(), 6u);
  EXPECT_NE(c.warnings()[0].find("Cyrus option"), std::string::npos) << c.warnings()[0];
  EXPECT_NE(c.warnings().back().find("unknown option"), std::string::npos);
}

TEST(ConfigSemantics, RefusedOptionsStopTheStartUp) {
  auto v = Config::parse("virtdomains: userid\n", "imapd.conf");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("virtdomains"), std::string::npos);
  EXPECT_FALSE(Config::parse("readonly: yes\n", "c").ok());
  EXPECT_FALSE(Config::parse("tls_required: 1\n", "c").ok());
  // Their harmless value is what replimail does: accepted, nothing to say.
  for (const char* ok :
       {"virtdomains: off\n", "virtdomains: no\n", "readonly: 0\n", "tls_required: false\n"}) {
    auto c = Config::parse(ok, "c");
    ASSERT_TRUE(c.ok()) << ok;
    EXPECT_TRUE(c->warnings().empty()) << ok;
  }
}

TEST(ConfigSemantics, EveryCyrusOptionHasAStatus) {
  std::set<std::string_view> names(cyrus36_options().begin(), cyrus36_options().end());
  EXPECT_GT(names.size(), 500u);
  for (const char* n :
       {"admins", "partition-name", "sync_log_channels", "timeout", "allowanonymouslogin"})
    EXPECT_TRUE(names.count(n)) << n;
  for (std::string_view n : names) EXPECT_NE(option_support(n), Support::kUnknown) << n;
  for (const OptionSpec& o : option_specs())
    EXPECT_TRUE(o.support == Support::kSame || o.support == Support::kDifferent) << o.name;
}

// docs/CYRUS-NOTES.md's option list: one row "| `name` | status | ..." per
// option of imapd.conf(5) and per option of replimail's own, each with the
// status the code gives it.
TEST(ConfigSemantics, CyrusNotesListEveryOptionWithTheCodesStatus) {
  std::ifstream in(std::string(REPLIMAIL_SOURCE_DIR) + "/docs/CYRUS-NOTES.md");
  ASSERT_TRUE(in) << "docs/CYRUS-NOTES.md";
  std::map<std::string, std::string> rows;
  std::string line;
  bool in_list = false;
  while (std::getline(in, line)) {
    if (line.starts_with("## ")) in_list = line == "## imapd.conf options";
    if (!in_list || !line.starts_with("| `")) continue;
    size_t end = line.find('`', 3);
    ASSERT_NE(end, std::string::npos) << line;
    std::string name = line.substr(3, end - 3);
    size_t bar = line.find('|', end);
    size_t bar2 = line.find('|', bar + 1);
    ASSERT_NE(bar2, std::string::npos) << line;
    std::string status = line.substr(bar + 1, bar2 - bar - 1);
    status.erase(0, status.find_first_not_of(' '));
    status.erase(status.find_last_not_of(' ') + 1);
    EXPECT_TRUE(rows.emplace(name, status).second) << "listed twice: " << name;
  }
  ASSERT_FALSE(rows.empty()) << "no '## imapd.conf options' table";
  std::set<std::string> expected;
  for (std::string_view n : cyrus36_options()) expected.emplace(n);
  for (const OptionSpec& o : option_specs()) expected.emplace(o.name);
  for (const std::string& n : expected) {
    auto it = rows.find(n);
    if (it == rows.end()) {
      ADD_FAILURE() << "docs/CYRUS-NOTES.md does not list " << n;
      continue;
    }
    EXPECT_EQ(it->second, support_name(option_support(n))) << n;
  }
  for (const auto& [n, s] : rows) EXPECT_TRUE(expected.count(n)) << "not an option: " << n;
}

}  // namespace
}  // namespace replimail
