// logins.db: failure budgets with their window and lockout, and the
// logged-in sessions counted for maxlogins_per_host / maxlogins_per_user.
#include "store/logins.h"

#include <gtest/gtest.h>

#include <set>

#include "store_test_util.h"

namespace replimail::store {
namespace {

TEST(LoginDb, FailuresWithinTheWindowLockTheKeyOutForTheLockout) {
  testing::TempInstance t;
  auto db = LoginDb::open(t.cfg().configdirectory());
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  FailureBudget b{3, 600, 900};
  const int64_t t0 = 1'000'000;
  EXPECT_EQ(*(*db)->record_failure("host:[192.0.2.1]", t0, b), false);
  EXPECT_EQ(*(*db)->record_failure("host:[192.0.2.1]", t0 + 10, b), false);
  EXPECT_EQ(*(*db)->locked_for("host:[192.0.2.1]", t0 + 10), 0);
  EXPECT_EQ(*(*db)->record_failure("host:[192.0.2.1]", t0 + 20, b), true);
  EXPECT_EQ(*(*db)->locked_for("host:[192.0.2.1]", t0 + 20), 900);
  EXPECT_EQ(*(*db)->locked_for("host:[192.0.2.2]", t0 + 20), 0);   // keys apart
  EXPECT_EQ(*(*db)->locked_for("host:[192.0.2.1]", t0 + 920), 0);  // lockout over

  // Failures further apart than the window never add up.
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(*(*db)->record_failure("user:bob", t0 + i * 601, b), false) << i;
  EXPECT_EQ(*(*db)->locked_for("user:bob", t0 + 5 * 601), 0);

  // Shared: another connection (another process) sees the lockout.
  auto other = LoginDb::open(t.cfg().configdirectory());
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*db)->record_failure("user:carol", t0, {1, 600, 60}).ok());
  EXPECT_EQ(*(*other)->locked_for("user:carol", t0 + 1), 59);
}

TEST(LoginDb, SessionsOfLiveProcessesCountAndTheLastPlaceIsTakenOnce) {
  testing::TempInstance t;
  std::set<int64_t> dead;
  auto alive = [&dead](int64_t pid) { return !dead.count(pid); };
  auto db = LoginDb::open(t.cfg().configdirectory(), alive);
  ASSERT_TRUE(db.ok());
  SessionLimits limits{3, 2};
  auto a = (*db)->register_session(101, "imapd", "[192.0.2.1]", "alice", limits);
  ASSERT_TRUE(a.ok() && a->allowed);
  auto b = (*db)->register_session(102, "pop3d", "[192.0.2.1]", "alice", limits);
  ASSERT_TRUE(b.ok() && b->allowed);
  EXPECT_EQ(b->host, 1);
  EXPECT_EQ(b->user, 1);
  // A third alice session: two others already reach maxlogins_per_user.
  auto c = (*db)->register_session(103, "imapd", "[192.0.2.9]", "alice", limits);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->allowed);
  EXPECT_EQ(c->user, 2);
  EXPECT_EQ(c->host, 0);
  // bob from the same host: host 2 of 3, allowed; then the host is full.
  auto d = (*db)->register_session(104, "imapd", "[192.0.2.1]", "bob", limits);
  ASSERT_TRUE(d.ok() && d->allowed);
  auto e = (*db)->register_session(105, "imapd", "[192.0.2.1]", "carol", limits);
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->allowed);
  EXPECT_EQ(e->host, 3);
  // A logout and a process that died free their places.
  ASSERT_TRUE((*db)->unregister_session(101).is_ok());
  dead.insert(102);
  auto f = (*db)->register_session(103, "imapd", "[192.0.2.9]", "alice", limits);
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->allowed);
  EXPECT_EQ(f->user, 0);
}

}  // namespace
}  // namespace replimail::store
