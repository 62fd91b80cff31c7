// Replication at size (issue 4, first criterion): 3 users, 20 folders and
// 10,000 messages of bench/corpus.py on a primary, `sync_client -u` for each
// user to an empty replica, then both compared as a client sees them through
// IMAP (tests/integration/py/sync_large_compare.py: folder list,
// subscriptions, quota, and per folder UIDVALIDITY, UIDNEXT and per message
// UID, flags, INTERNALDATE, size and body SHA-1). A second sync uploads 0
// messages.
//
// The messages are written through the store API (batched appends, the path
// lmtpd takes, without LMTP's per-message round trips; 4 writers on disjoint
// folders) so the test fits in CI time; delivery over LMTP is what
// delivery_test and bench/ cover.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "digest_check.h"
#include "harness.h"
#include "store/instance.h"
#include "store/staged_message.h"

namespace replimail::testing {
namespace {

constexpr int kMessages = 10000;
constexpr int kSeed = 1;
constexpr int kBatch = 250;
const std::vector<std::string> kUsers = {"anna", "boris", "chen"};
const std::map<std::string, std::string> kPasswords = {
    {"admin", "adminpw"}, {"anna", "annapw"}, {"boris", "borispw"}, {"chen", "chenpw"}};

// 20 folders: INBOX plus 6, 6 and 5 below it (one of them two levels deep).
std::vector<std::string> folders() {
  std::vector<std::string> out;
  const std::vector<std::vector<std::string>> below = {
      {"Sent", "Drafts", "Trash", "Archive", "Archive.2025", "Lists"},
      {"Sent", "Trash", "Work", "Work.Projects", "Family", "Receipts"},
      {"Sent", "Trash", "Travel", "Notes", "Spam"}};
  for (size_t u = 0; u < kUsers.size(); u++) {
    out.push_back("user." + kUsers[u]);
    for (const auto& f : below[u]) out.push_back("user." + kUsers[u] + "." + f);
  }
  return out;
}

Instance::Options options(bool replica) {
  Instance::Options o;
  o.users = kPasswords;
  o.services = {{"imap", "imapd"}};
  if (replica) {
    o.services["csync"] = "sync_server";
  } else {
    o.imapd_extra = {"sync_authname: admin", "sync_password: adminpw"};
  }
  return o;
}

// Flags of message i, a fixed pattern like a real mailbox's.
uint32_t system_flags(int i) {
  uint32_t f = 0;
  if (i % 3 != 0) f |= store::kFlagSeen;
  if (i % 5 == 0) f |= store::kFlagAnswered;
  if (i % 7 == 0) f |= store::kFlagFlagged;
  if (i % 13 == 0) f |= store::kFlagDraft;
  return f;
}

// Writes the corpus messages of folders `part`, `part` + kLoaders, ... into
// the primary (message i to folder i % 20), in batches, as one delivery
// process would; kLoaders of these run at once on disjoint folders.
constexpr int kLoaders = 4;
std::string load(const std::string& conf, const std::string& corpus_dir,
                 const std::vector<std::string>& names, int part) {
  auto cfg = Config::load(conf);
  if (!cfg.ok()) return cfg.status().to_string();
  auto st = store::Instance::open(*cfg);
  if (!st.ok()) return st.status().to_string();
  std::vector<int> mine;
  for (int i = 0; i < kMessages; i++)
    if (static_cast<int>(i % names.size()) % kLoaders == part) mine.push_back(i);
  for (size_t first = 0; first < mine.size(); first += kBatch) {
    std::vector<std::unique_ptr<store::StagedMessage>> staged;
    std::vector<store::AppendRequest> reqs;
    for (size_t k = first; k < std::min(mine.size(), first + kBatch); k++) {
      int i = mine[k];
      auto msg = (*st)->stage_message();
      if (!msg.ok()) return msg.status().to_string();
      std::string bytes = slurp(corpus_dir + "/" + std::to_string(i) + ".eml");
      if (bytes.empty()) return "corpus message " + std::to_string(i) + " missing";
      Status s = (*msg)->write(bytes);
      if (s) s = (*msg)->finish();
      if (!s) return s.to_string();
      store::AppendRequest req;
      req.mailbox = names[i % names.size()];
      req.message = msg->get();
      req.system_flags = system_flags(i);
      if (i % 11 == 0) req.user_flags = {"$Label1"};
      if (i % 17 == 0) req.user_flags.push_back("$Forwarded");
      // corpus.py's internaldate(seed, i).
      req.internaldate = 1750000000LL + kSeed * 86400LL + i * 41LL;
      reqs.push_back(req);
      staged.push_back(std::move(*msg));
    }
    for (const auto& r : (*st)->append(reqs))
      if (!r.status) return r.status.to_string();
  }
  return "";
}

TEST(SyncLarge, TenThousandMessagesReplicateAndCompareEqualThroughImap) {
  auto t0 = std::chrono::steady_clock::now();
  auto since = [&] {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - t0)
                              .count()) +
           " ms";
  };
  TempDir corpus;
  auto gen =
      run({"/usr/bin/python3", source_dir() + "/bench/corpus.py", "-n", std::to_string(kMessages),
           "--seed", std::to_string(kSeed), "--max-size", "32768", "--out", corpus.path()});
  ASSERT_TRUE(gen.ok()) << gen.describe();
  std::cerr << "corpus generated at " << since() << "\n";

  Instance replica(options(true));
  ASSERT_EQ(replica.start(), "");
  Instance primary(options(false));
  ASSERT_EQ(primary.start(), "");
  auto names = folders();
  ASSERT_EQ(names.size(), 20u);
  {
    auto cfg = Config::load(primary.imapd_conf());
    ASSERT_TRUE(cfg.ok());
    auto st = store::Instance::open(*cfg);
    ASSERT_TRUE(st.ok()) << st.status().to_string();
    for (const auto& n : names) ASSERT_TRUE((*st)->create_mailbox(n).ok()) << n;
    std::vector<std::future<std::string>> loaders;
    for (int part = 0; part < kLoaders; part++) {
      loaders.push_back(std::async(std::launch::async, [&, part] {
        return load(primary.imapd_conf(), corpus.path(), names, part);
      }));
    }
    for (auto& l : loaders) ASSERT_EQ(l.get(), "");
    std::cerr << "primary loaded at " << since() << "\n";
    // Expunge every 50th UID of each INBOX, subscribe to some folders, and
    // give every user a quota.
    for (const auto& u : kUsers) {
      std::vector<uint32_t> gone;
      for (uint32_t uid = 50; uid <= kMessages / 20; uid += 50) gone.push_back(uid);
      ASSERT_TRUE((*st)->expunge("user." + u, gone));
      ASSERT_TRUE((*st)->set_subscribed(u, "user." + u + ".Sent", true));
      ASSERT_TRUE((*st)->set_subscribed(u, "user." + u + ".Trash", true));
      ASSERT_TRUE((*st)->set_quota("user." + u, 2000000, -1));
    }
  }
  const uint64_t expunged = 3 * (kMessages / 20 / 50);

  std::vector<std::string> args = {"-v", "-S", "127.0.0.1:" + std::to_string(replica.port("csync")),
                                   "-u"};
  args.insert(args.end(), kUsers.begin(), kUsers.end());
  auto first = primary.tool("sync_client", args);
  ASSERT_TRUE(first.ok()) << first.describe();
  std::cerr << "first sync done at " << since() << ": " << first.out;
  EXPECT_NE(first.out.find("uploaded " + std::to_string(kMessages - expunged) + " messages"),
            std::string::npos)
      << first.out;
  EXPECT_NE(first.out.find("applied 20 mailboxes"), std::string::npos) << first.out;

  std::vector<std::string> cmp = {"--a", std::to_string(primary.port("imap")), "--b",
                                  std::to_string(replica.port("imap"))};
  for (const auto& u : kUsers) {
    cmp.push_back("--user");
    cmp.push_back(u + ":" + kPasswords.at(u));
  }
  auto same = primary.python("sync_large_compare.py", cmp);
  std::cerr << "compared at " << since() << ": " << same.out;
  EXPECT_EQ(same.exit_code, 0) << same.describe();
  EXPECT_NE(same.out.find("\"folders\": 20,"), std::string::npos) << same.out;
  EXPECT_NE(same.out.find("\"messages\": " + std::to_string(kMessages - expunged) + ","),
            std::string::npos)
      << same.out;

  auto second = primary.tool("sync_client", args);
  ASSERT_TRUE(second.ok()) << second.describe();
  EXPECT_NE(second.out.find("uploaded 0 messages"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("applied 0 mailboxes"), std::string::npos) << second.out;
  std::cerr << "second sync done at " << since() << ": " << second.out;
  EXPECT_SAME_DIGEST(primary, replica);
  std::cerr << "digests compared at " << since() << "\n";
  primary.stop();
  replica.stop();
  std::cerr << "both stopped at " << since() << "\n";
}

}  // namespace
}  // namespace replimail::testing
