// The rolling client: its pure parts (backoff schedules, line ownership,
// batch planning, options) and its loop against an in-process replica (a
// SyncServer per connection on a unix socket, pre-authenticated): one pass,
// following the log through inotify, stop request, shutdown file, a replica
// that is down and comes back, and a failing user re-queued while another
// user goes through.
#include "sync/rolling.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fs.h"
#include "store/instance.h"
#include "sync/server.h"
#include "synclog/synclog.h"

namespace replimail::sync {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// sync_host's Cyrus flags: /tls (TLS from the first byte) and /noauth
// after host[:port]; anything else is refused, not dropped.
TEST(ChannelConnectOptions, SyncHostFlags) {
  auto opts = [](const std::string& host) {
    auto cfg = Config::parse("sync_host: " + host + "\n", "imapd.conf");
    EXPECT_TRUE(cfg.ok());
    return channel_connect_options(*cfg, "", "");
  };
  auto both = opts("replica.example:2006/tls/noauth");
  ASSERT_TRUE(both.ok()) << both.status().to_string();
  EXPECT_EQ(both->host, "replica.example");
  EXPECT_EQ(both->port, 2006);
  EXPECT_TRUE(both->implicit_tls);
  EXPECT_TRUE(both->noauth);
  EXPECT_NE(both->tls, nullptr);
  auto plain = opts("replica.example:2006");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->implicit_tls);
  EXPECT_FALSE(plain->noauth);
  EXPECT_NE(plain->tls, nullptr);  // for STARTTLS
  auto tls_only = opts("replica.example/tls");
  ASSERT_TRUE(tls_only.ok());
  EXPECT_EQ(tls_only->host, "replica.example");
  EXPECT_TRUE(tls_only->implicit_tls);
  auto bad = opts("replica.example:2006/ssl");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown option /ssl"), std::string::npos);
  auto unix_socket = opts("/run/replimail/sync");
  ASSERT_TRUE(unix_socket.ok());
  EXPECT_EQ(unix_socket->tls, nullptr);
}

// The client TLS context is made when a connection first needs it, not
// with the options (loading the system's trust store costs ~2 MiB of
// sync_client's resident set, issue 17); a CA file that cannot be loaded
// then fails that use, each time.
TEST(ChannelConnectOptions, TlsContextIsMadeOnFirstUse) {
  auto cfg = Config::parse("sync_host: replica.example\n", "imapd.conf");
  ASSERT_TRUE(cfg.ok());
  auto co = channel_connect_options(*cfg, "", "");
  ASSERT_TRUE(co.ok()) << co.status().to_string();
  ASSERT_NE(co->tls, nullptr);
  EXPECT_FALSE(co->tls->made());
  auto first = co->tls->get();
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_TRUE(co->tls->made());
  auto again = co->tls->get();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*first, *again);

  auto bad = Config::parse(
      "sync_host: replica.example\ntls_server_ca_file: /nonexistent/replimail-ca.pem\n",
      "imapd.conf");
  ASSERT_TRUE(bad.ok());
  auto bad_co = channel_connect_options(*bad, "", "");
  ASSERT_TRUE(bad_co.ok()) << bad_co.status().to_string();
  for (int i = 0; i < 2; i++) {
    auto ctx = bad_co->tls->get();
    ASSERT_FALSE(ctx.ok());
    EXPECT_EQ(ctx.status().code(), Code::kConfigError);
    EXPECT_NE(ctx.status().message().find("/nonexistent/replimail-ca.pem"), std::string::npos)
        << ctx.status().to_string();
  }
}

TEST(ReconnectBackoff, CheapFailuresRetryFastThenEverySecond) {
  ReconnectBackoff b(milliseconds(20000));
  EXPECT_EQ(b.next(milliseconds(1), milliseconds(0)), milliseconds(250));
  EXPECT_EQ(b.next(milliseconds(1), milliseconds(102000)), milliseconds(250));
  EXPECT_EQ(b.next(milliseconds(1), milliseconds(599999)), milliseconds(250));
  EXPECT_EQ(b.next(milliseconds(1), milliseconds(600000)), milliseconds(1000));
  EXPECT_EQ(b.next(milliseconds(1), milliseconds(3600000)), milliseconds(1000));
}

TEST(ReconnectBackoff, SlowFailuresDoubleUpToMaxwait) {
  ReconnectBackoff b(milliseconds(20000));
  std::vector<int64_t> waits;
  for (int i = 0; i < 7; i++) waits.push_back(b.next(milliseconds(3000), milliseconds(i)).count());
  EXPECT_EQ(waits, (std::vector<int64_t>{1000, 2000, 4000, 8000, 16000, 20000, 20000}));
  b.reset();
  EXPECT_EQ(b.next(milliseconds(3000), milliseconds(0)), milliseconds(1000));
  // A maxwait below the fast wait caps everything.
  ReconnectBackoff tight(milliseconds(100));
  EXPECT_EQ(tight.next(milliseconds(1), milliseconds(0)), milliseconds(100));
  // maxwait 0: uncapped, as Cyrus's <= 0.
  ReconnectBackoff open(milliseconds(0));
  for (int i = 0; i < 6; i++) open.next(milliseconds(3000), milliseconds(0));
  EXPECT_EQ(open.next(milliseconds(3000), milliseconds(0)), milliseconds(64000));
}

TEST(UserRetryDelay, DoublesAndCaps) {
  EXPECT_EQ(user_retry_delay(1, milliseconds(20000)), milliseconds(1000));
  EXPECT_EQ(user_retry_delay(2, milliseconds(20000)), milliseconds(2000));
  EXPECT_EQ(user_retry_delay(5, milliseconds(20000)), milliseconds(16000));
  EXPECT_EQ(user_retry_delay(6, milliseconds(20000)), milliseconds(20000));
  EXPECT_EQ(user_retry_delay(60, milliseconds(20000)), milliseconds(20000));
}

synclog::Line L(std::string k, std::vector<std::string> args) {
  return synclog::Line{std::move(k), std::move(args)};
}

TEST(LineUser, OwnerOfEachKeyword) {
  EXPECT_EQ(line_user(L("USER", {"bob"})), "bob");
  EXPECT_EQ(line_user(L("UNUSER", {"bob"})), "bob");
  EXPECT_EQ(line_user(L("META", {"bob"})), "bob");
  EXPECT_EQ(line_user(L("SEEN", {"bob", "0123-uniqueid"})), "bob");
  EXPECT_EQ(line_user(L("SUB", {"bob", "user.alice.Shared"})), "bob");
  EXPECT_EQ(line_user(L("MAILBOX", {"user.alice.Sent"})), "alice");
  EXPECT_EQ(line_user(L("APPEND", {"user.al^ice"})), "al.ice");
  // virtdomains is off: a '!' is no domain separator (common/mboxname_owner.h).
  EXPECT_EQ(line_user(L("APPEND", {"example.com!user.al^ice"})), "");
  EXPECT_EQ(line_user(L("DOUBLEMAILBOX", {"user.a", "user.b"})), "a");
  EXPECT_EQ(line_user(L("RENAME", {"user.a.x", "user.b.x"})), "a");
  EXPECT_EQ(line_user(L("UNMAILBOX", {"DELETED.user.c.x.5F00"})), "c");
  EXPECT_EQ(line_user(L("QUOTA", {"user.d"})), "d");
  EXPECT_EQ(line_user(L("MAILBOX", {"shared.news"})), "");
  EXPECT_EQ(line_user(L("ANNOTATION", {""})), "");
  EXPECT_EQ(line_user(L("USER", {})), "");
}

TEST(PlanBatches, SplitsByLinesThenByUserWithoutDuplicates) {
  std::vector<synclog::Line> lines = {
      L("MAILBOX", {"user.a"}), L("APPEND", {"user.a"}),    L("MAILBOX", {"user.b"}),
      L("MAILBOX", {"user.a"}), L("SEEN", {"a", "u1"}),     L("MAILBOX", {"shared.x"}),
      L("USER", {"c"}),         L("MAILBOX", {"user.b.y"}), L("MAILBOX", {"user.a"}),
  };
  auto one = plan_batches(lines, 0);
  ASSERT_EQ(one.size(), 1u);
  ASSERT_EQ(one[0].size(), 4u);
  EXPECT_EQ(one[0][0].user, "a");
  EXPECT_EQ(one[0][0].lines,
            (std::vector<synclog::Line>{L("MAILBOX", {"user.a"}), L("APPEND", {"user.a"}),
                                        L("SEEN", {"a", "u1"})}));
  EXPECT_EQ(one[0][1].user, "b");
  EXPECT_EQ(one[0][1].lines.size(), 2u);
  EXPECT_EQ(one[0][2].user, "");
  EXPECT_EQ(one[0][3].user, "c");

  auto batches = plan_batches(lines, 4);
  ASSERT_EQ(batches.size(), 3u);
  ASSERT_EQ(batches[0].size(), 2u);  // a (MAILBOX, APPEND; the 2nd MAILBOX folded), b
  EXPECT_EQ(batches[0][0].lines.size(), 2u);
  ASSERT_EQ(batches[1].size(), 4u);  // a (SEEN), "", c, b
  ASSERT_EQ(batches[2].size(), 1u);  // a again: a later batch repeats what came later
  EXPECT_EQ(batches[2][0].user, "a");
  EXPECT_TRUE(plan_batches({}, 8192).empty());
}

class RollingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // As sync_client does: a replica that goes away must not kill us.
    ::signal(SIGPIPE, SIG_IGN);
    std::string tmpl = (std::filesystem::temp_directory_path() / "rolling-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/csync.sock";
    replica_cfg_ = make_config("r", "sync_log: 0\n");
    primary_cfg_ = make_config("p",
                               "sync_log: 1\nsync_log_channels: replica squatter\n"
                               "sync_host: " +
                                   socket_ + "\nsync_repeat_interval: 30s\n");
    auto p = store::Instance::open(primary_cfg_);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    primary_ = std::move(*p);
    auto r = store::Instance::open(replica_cfg_);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    replica_ = std::move(*r);
  }

  void TearDown() override {
    stop_server();
    primary_.reset();
    replica_.reset();
    std::filesystem::remove_all(dir_);
  }

  Config make_config(const std::string& name, const std::string& extra) {
    auto cfg = Config::parse("configdirectory: " + dir_ + "/" + name +
                                 "/conf\npartition-default: " + dir_ + "/" + name +
                                 "/spool\ndefaultpartition: default\n" + extra,
                             name + ".conf");
    EXPECT_TRUE(cfg.ok());
    return *cfg;
  }

  // The replica: accepts on the unix socket, one SyncServer (with its own
  // store handle) per connection.
  void start_server() {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(listen_fd_, 0);
    struct sockaddr_un sa {};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", socket_.c_str());
    ::unlink(socket_.c_str());
    ASSERT_EQ(::bind(listen_fd_, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa), 0);
    ASSERT_EQ(::listen(listen_fd_, 16), 0);
    serving_ = true;
    acceptor_ = std::thread([this] {
      while (serving_) {
        struct pollfd p {
          listen_fd_, POLLIN, 0
        };
        if (::poll(&p, 1, 50) <= 0) continue;
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        std::lock_guard<std::mutex> g(mu_);
        conns_.push_back(fd);
        sessions_.emplace_back([this, fd] {
          auto inst = store::Instance::open(replica_cfg_);
          if (inst.ok()) {
            net::Stream t(fd, fd);
            ServerOptions so;
            so.preauth = true;
            SyncServer(**inst, t, nullptr, so).run();
          }
          ::shutdown(fd, SHUT_RDWR);
        });
      }
    });
  }

  void stop_server() {
    if (!serving_) return;
    serving_ = false;
    acceptor_.join();
    ::close(listen_fd_);
    ::unlink(socket_.c_str());
    {
      std::lock_guard<std::mutex> g(mu_);
      for (int fd : conns_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : sessions_) t.join();
    for (int fd : conns_) ::close(fd);
    sessions_.clear();
    conns_.clear();
  }

  void deliver(const std::string& mailbox, int n) {
    for (int i = 0; i < n; i++) {
      auto msg = primary_->stage_message();
      ASSERT_TRUE(msg.ok());
      ASSERT_TRUE((*msg)->write("Subject: m" + std::to_string(i) + "\r\n\r\nbody\r\n"));
      ASSERT_TRUE((*msg)->finish());
      store::AppendRequest req;
      req.mailbox = mailbox;
      req.message = msg->get();
      ASSERT_TRUE(primary_->append({req})[0].status);
    }
  }

  // Messages in the replica's copy of `mailbox` (-1: none there).
  int64_t replica_exists(const std::string& mailbox) {
    auto m = replica_->open_mailbox(mailbox);
    if (!m.ok()) return -1;
    auto c = (*m)->counters();
    return c.ok() ? static_cast<int64_t>(c->exists) : -1;
  }

  // Waits up to `limit` for the replica to hold `n` messages in `mailbox`;
  // returns how long it took, or `limit` + 1 ms if it never did.
  milliseconds until_replica_has(const std::string& mailbox, int64_t n, milliseconds limit) {
    auto t0 = Clock::now();
    while (Clock::now() - t0 < limit) {
      if (replica_exists(mailbox) == n)
        return std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
      std::this_thread::sleep_for(milliseconds(2));
    }
    return limit + milliseconds(1);
  }

  RollingOptions options(bool once) {
    auto o = RollingOptions::from_config(primary_cfg_, "replica");
    EXPECT_TRUE(o.ok()) << o.status().to_string();
    o->once = once;
    return *o;
  }

  std::string chan_dir() { return channel_dir(primary_cfg_.configdirectory(), "replica"); }
  nlohmann::json status_json() {
    auto t = fs::read_file(chan_dir() + "/status.json");
    return t.ok() ? nlohmann::json::parse(*t, nullptr, false) : nlohmann::json();
  }

  std::string dir_, socket_;
  Config primary_cfg_, replica_cfg_;
  std::unique_ptr<store::Instance> primary_, replica_;
  int listen_fd_ = -1;
  std::atomic<bool> serving_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> conns_;
  std::vector<std::thread> sessions_;
};

TEST_F(RollingTest, OptionsFromConfig) {
  RollingOptions o = options(false);
  EXPECT_EQ(o.batch_size, 8192u);
  EXPECT_EQ(o.workers, 4);
  EXPECT_EQ(o.repeat_interval, milliseconds(30000));
  EXPECT_EQ(o.reconnect_maxwait, milliseconds(20000));
  EXPECT_EQ(o.shutdown_file, chan_dir() + "/shutdown");
  EXPECT_EQ(o.connect.host, socket_);
  Config c = make_config("x",
                         "replica_sync_host: 10.1.2.3:2999\nreplica_sync_batchsize: 10\n"
                         "sync_client_workers: 2\nsync_reconnect_maxwait: 1m\n"
                         "replica_sync_shutdown_file: /tmp/stop-it\nsync_repeat_interval: 0\n");
  auto x = RollingOptions::from_config(c, "replica");
  ASSERT_TRUE(x.ok()) << x.status().to_string();
  EXPECT_EQ(x->connect.host, "10.1.2.3");
  EXPECT_EQ(x->connect.port, 2999);
  EXPECT_EQ(x->batch_size, 10u);
  EXPECT_EQ(x->workers, 2);
  EXPECT_EQ(x->reconnect_maxwait, milliseconds(60000));
  EXPECT_EQ(x->shutdown_file, "/tmp/stop-it");
  EXPECT_EQ(x->repeat_interval, milliseconds(100));
  EXPECT_FALSE(RollingOptions::from_config(make_config("y", ""), "replica").ok());
  // The config parser checks plain options; channel overrides are checked here.
  EXPECT_FALSE(RollingOptions::from_config(
                   make_config("z", "sync_host: h:2005\nreplica_sync_batchsize: lots\n"), "replica")
                   .ok());
  EXPECT_FALSE(
      RollingOptions::from_config(
          make_config("w", "sync_host: h:2005\nreplica_sync_repeat_interval: soon\n"), "replica")
          .ok());
}

TEST_F(RollingTest, OnePassDrainsTheLogAndEndsLogRun) {
  start_server();
  ASSERT_TRUE(primary_->create_mailbox("user.alice").ok());
  ASSERT_TRUE(primary_->create_mailbox("user.bob").ok());
  deliver("user.alice", 3);
  deliver("user.bob", 2);
  RollingClient client(primary_cfg_, options(true));
  EXPECT_EQ(client.run(), 0);
  EXPECT_EQ(replica_exists("user.alice"), 3);
  EXPECT_EQ(replica_exists("user.bob"), 2);
  EXPECT_FALSE(fs::exists(chan_dir() + "/log"));
  EXPECT_FALSE(fs::exists(chan_dir() + "/log-run"));
  auto st = status_json();
  ASSERT_TRUE(st.is_object());
  EXPECT_EQ(st["state"], "stopped");
  EXPECT_EQ(st["connected"], false);
  EXPECT_GT(st["last_success"].get<int64_t>(), 0);
  EXPECT_GE(st["last_lag_ms"].get<int64_t>(), 0);
  EXPECT_GE(st["lines_applied"].get<int64_t>(), 2);
  EXPECT_EQ(st["batches"], 1);
  // The squatter channel's log is not touched.
  EXPECT_TRUE(fs::exists(synclog::log_path(primary_cfg_.configdirectory(), "squatter")));
}

TEST_F(RollingTest, UnreachableReplicaKeepsTheWork) {
  ASSERT_TRUE(primary_->create_mailbox("user.carol").ok());
  deliver("user.carol", 1);
  RollingClient client(primary_cfg_, options(true));
  EXPECT_EQ(client.run(), 1);
  EXPECT_TRUE(fs::exists(chan_dir() + "/log"));  // not even taken over
  auto st = status_json();
  EXPECT_EQ(st["connected"], false);
  EXPECT_NE(st["last_error"].get<std::string>().find("connecting to"), std::string::npos);
  EXPECT_GT(st["last_error_time"].get<int64_t>(), 0);

  // A log-run left by a crash is reprocessed first.
  ASSERT_EQ(::rename((chan_dir() + "/log").c_str(), (chan_dir() + "/log-run").c_str()), 0);
  start_server();
  RollingClient again(primary_cfg_, options(true));
  EXPECT_EQ(again.run(), 0);
  EXPECT_EQ(replica_exists("user.carol"), 1);
  EXPECT_FALSE(fs::exists(chan_dir() + "/log-run"));
}

TEST_F(RollingTest, OnePassWithAFailingUserKeepsLogRunAndFails) {
  start_server();
  ASSERT_TRUE(primary_->create_mailbox("user.hal").ok());
  deliver("user.hal", 1);
  ASSERT_TRUE(synclog::append_lines(synclog::log_path(primary_cfg_.configdirectory(), "replica"),
                                    "USER bad/user\n"));
  RollingClient client(primary_cfg_, options(true));
  EXPECT_EQ(client.run(), 1);
  EXPECT_EQ(replica_exists("user.hal"), 1);  // the others went through
  auto kept = fs::read_file(chan_dir() + "/log-run");
  ASSERT_TRUE(kept.ok());  // everything stays for the next run
  EXPECT_NE(kept->find("USER bad/user"), std::string::npos);
  EXPECT_NE(kept->find("MAILBOX user.hal"), std::string::npos);
  EXPECT_FALSE(fs::exists(chan_dir() + "/log"));
}

TEST_F(RollingTest, FollowsTheLogOnInotifyAndStopsOnRequest) {
  start_server();
  ASSERT_TRUE(primary_->create_mailbox("user.dave").ok());
  RollingClient client(primary_cfg_, options(false));
  int rc = -1;
  std::thread loop([&] { rc = client.run(); });
  ASSERT_LT(until_replica_has("user.dave", 0, milliseconds(5000)), milliseconds(5000));
  // The poll interval is 30 s: only inotify can make this fast.
  std::vector<int64_t> lags;
  for (int i = 1; i <= 5; i++) {
    deliver("user.dave", 1);
    milliseconds took = until_replica_has("user.dave", i, milliseconds(5000));
    ASSERT_LT(took, milliseconds(5000)) << "message " << i;
    lags.push_back(took.count());
  }
  std::sort(lags.begin(), lags.end());
  std::printf("delivery to replica, ms: min %lld median %lld max %lld\n",
              static_cast<long long>(lags[0]), static_cast<long long>(lags[2]),
              static_cast<long long>(lags[4]));
  EXPECT_LT(lags[2], 1000) << "median delivery-to-replica time in ms";
  auto t0 = Clock::now();
  client.request_stop();
  loop.join();
  EXPECT_EQ(rc, 0);
  EXPECT_LT(Clock::now() - t0, milliseconds(2000));
  EXPECT_EQ(status_json()["state"], "stopped");
}

TEST_F(RollingTest, ShutdownFileStopsTheClientAndIsRemoved) {
  start_server();
  RollingClient client(primary_cfg_, options(false));
  int rc = -1;
  std::thread loop([&] { rc = client.run(); });
  std::this_thread::sleep_for(milliseconds(200));
  ASSERT_TRUE(fs::write_file_atomic(chan_dir() + "/shutdown", ""));
  auto t0 = Clock::now();
  loop.join();
  EXPECT_EQ(rc, 0);
  EXPECT_LT(Clock::now() - t0, milliseconds(2000));
  EXPECT_FALSE(fs::exists(chan_dir() + "/shutdown"));
}

TEST_F(RollingTest, ReconnectsWithinASecondOfTheReplicasReturn) {
  ASSERT_TRUE(primary_->create_mailbox("user.erin").ok());
  deliver("user.erin", 2);
  RollingClient client(primary_cfg_, options(false));
  int rc = -1;
  std::thread loop([&] { rc = client.run(); });
  // Down for longer than the fast phase.
  std::this_thread::sleep_for(milliseconds(6000));
  std::string state = status_json()["state"].get<std::string>();
  EXPECT_TRUE(state == "backoff" || state == "connecting") << state;
  EXPECT_EQ(replica_exists("user.erin"), -1);
  start_server();
  milliseconds took = until_replica_has("user.erin", 2, milliseconds(5000));
  std::printf("replica back to messages on it: %lld ms\n", static_cast<long long>(took.count()));
  EXPECT_LE(took, milliseconds(1500)) << "from the replica's return to the messages on it";
  client.request_stop();
  loop.join();
  EXPECT_EQ(rc, 0);
}

TEST_F(RollingTest, StaleConnectionAfterAReplicaRestartIsReplacedAtOnce) {
  start_server();
  ASSERT_TRUE(primary_->create_mailbox("user.ivy").ok());
  RollingClient client(primary_cfg_, options(false));
  int rc = -1;
  std::thread loop([&] { rc = client.run(); });
  deliver("user.ivy", 1);
  ASSERT_LT(until_replica_has("user.ivy", 1, milliseconds(5000)), milliseconds(5000));
  // The replica's sync_server goes away and comes back while the client
  // idles on its old connection.
  stop_server();
  start_server();
  deliver("user.ivy", 1);
  // Retried at once on a new connection, not failed and re-queued with a
  // retry delay (>= 1 s): no error was ever recorded.
  milliseconds took = until_replica_has("user.ivy", 2, milliseconds(5000));
  EXPECT_LT(took, milliseconds(5000));
  std::printf("replica restart to the message on it: %lld ms\n",
              static_cast<long long>(took.count()));
  EXPECT_EQ(status_json()["last_error"], "") << status_json().dump();
  client.request_stop();
  loop.join();
  EXPECT_EQ(rc, 0);
  EXPECT_FALSE(fs::exists(chan_dir() + "/log"));
}

TEST_F(RollingTest, FailingUserIsQueuedAgainWhileOthersGoThrough) {
  start_server();
  ASSERT_TRUE(primary_->create_mailbox("user.fay").ok());
  deliver("user.fay", 2);
  // An invalid userid fails its sync every time, without harming the link.
  ASSERT_TRUE(synclog::append_lines(synclog::log_path(primary_cfg_.configdirectory(), "replica"),
                                    "USER bad/user\n"));
  RollingClient client(primary_cfg_, options(false));
  int rc = -1;
  std::thread loop([&] { rc = client.run(); });
  EXPECT_LT(until_replica_has("user.fay", 2, milliseconds(5000)), milliseconds(5000));
  std::this_thread::sleep_for(milliseconds(300));
  deliver("user.fay", 1);
  EXPECT_LT(until_replica_has("user.fay", 3, milliseconds(5000)), milliseconds(5000));
  client.request_stop();
  loop.join();
  EXPECT_EQ(rc, 0);
  // The bad line waits in the log for its retry; no log-run is left.
  auto log = fs::read_file(chan_dir() + "/log");
  ASSERT_TRUE(log.ok());
  EXPECT_NE(log->find("USER bad/user"), std::string::npos);
  EXPECT_FALSE(fs::exists(chan_dir() + "/log-run"));
  EXPECT_NE(status_json()["last_error"].get<std::string>().find("bad/user"), std::string::npos);
}

}  // namespace
}  // namespace replimail::sync
