#include "imap/quota_warning.h"

#include <gtest/gtest.h>

namespace replimail::imap {
namespace {

store::QuotaRoot root(int64_t kib, uint64_t used_bytes, int64_t msgs = -1, uint64_t used_msgs = 0) {
  store::QuotaRoot q;
  q.root = "user.alice";
  q.storage_limit_kib = kib;
  q.storage_used = used_bytes;
  q.message_limit = msgs;
  q.message_used = used_msgs;
  return q;
}

TEST(QuotaWarning, AboveQuotawarnPercentInCyrusWords) {
  QuotaWarnOptions o;                                          // 90%, no kB or message threshold
  EXPECT_TRUE(quota_alerts(root(100, 90 * 1024), o).empty());  // 90% is not above 90
  EXPECT_EQ(quota_alerts(root(100, 95 * 1024), o),
            std::vector<std::string>{"Mailbox is at 95% of STORAGE quota"});
  EXPECT_EQ(quota_alerts(root(100, 101 * 1024), o),
            std::vector<std::string>{"Mailbox is over STORAGE quota"});
  EXPECT_EQ(quota_alerts(root(-1, 0, 10, 10), o),
            std::vector<std::string>{"Mailbox is at 100% of MESSAGE quota"});
  EXPECT_TRUE(quota_alerts(root(-1, 1 << 30), o).empty());  // unlimited
  o.percent = 50;
  EXPECT_EQ(quota_alerts(root(100, 60 * 1024), o).size(), 1u);
}

TEST(QuotaWarning, KilobyteAndMessageThresholdsHoldTheWarningBack) {
  QuotaWarnOptions o;
  o.storage_kib = 5;  // warn only once fewer than 5 KiB are left
  EXPECT_TRUE(quota_alerts(root(100, 94 * 1024), o).empty());
  EXPECT_EQ(quota_alerts(root(100, 96 * 1024), o).size(), 1u);
  o.storage_kib = 1000;  // at least the limit: always warns
  EXPECT_EQ(quota_alerts(root(100, 94 * 1024), o).size(), 1u);
  o.messages = 2;
  EXPECT_TRUE(quota_alerts(root(-1, 0, 100, 95), o).empty());
  EXPECT_EQ(quota_alerts(root(-1, 0, 100, 99), o).size(), 1u);
}

TEST(QuotaWarning, PacedTenMinutesPerRoot) {
  QuotaAlertPacer p;
  auto t = std::chrono::steady_clock::now();
  EXPECT_TRUE(p.due("user.a", t));
  EXPECT_FALSE(p.due("user.a", t + std::chrono::minutes(9)));
  EXPECT_TRUE(p.due("user.b", t));
  EXPECT_TRUE(p.due("user.a", t + std::chrono::minutes(10)));
}

}  // namespace
}  // namespace replimail::imap
