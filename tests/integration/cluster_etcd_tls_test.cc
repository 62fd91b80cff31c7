// TLS and authentication to etcd (issue 19): one real etcd member whose
// client port is https (test_certs.h's CA, its 127.0.0.1 server cert),
// reached through EtcdClient and through cyr_cluster with imapd.conf's
// cluster_etcd_* options: the calls the cluster makes work; a client
// without the client certificate, or trusting another CA, or with a wrong
// password, is refused with a message that says so; a token etcd dropped
// is replaced without the caller noticing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "cluster/etcd_client.h"
#include "cluster_hosts.h"
#include "harness.h"
#include "test_certs.h"

namespace replimail::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kEtcdctl = "/usr/bin/etcdctl";

class EtcdTls : public TestWithCerts {
 protected:
  // One member, https, client certificates required (`client_certs`),
  // `flags` its own.
  void start(bool client_certs, std::vector<std::string> flags = {}) {
    EtcdCluster::Options o;
    o.cert = certs_.dual_cert;
    o.key = certs_.dual_key;
    if (client_certs) o.client_ca = certs_.ca;
    o.extra_flags = std::move(flags);
    o.credentials = good();
    etcd_ = std::make_unique<EtcdCluster>(data_.path(), std::vector<std::string>{"127.0.0.1"},
                                          EtcdCluster::OnHost{}, o);
    ASSERT_TRUE(etcd_->wait_ready()) << "etcd over TLS did not come up";
  }
  // The CA and the client certificate.
  cluster::EtcdCredentials good() const {
    return {certs_.ca, certs_.client_cert, certs_.client_key, "", ""};
  }
  cluster::EtcdSettings settings(cluster::EtcdCredentials c) const {
    return {etcd_->endpoint_list(), std::move(c)};
  }
  // etcdctl as etcd's root user (once auth is on) over the same TLS.
  RunResult etcdctl(std::vector<std::string> args, const std::string& input = "") {
    std::vector<std::string> argv = {
        kEtcdctl,           "--endpoints", etcd_->endpoints(), "--cacert", certs_.ca,    "--cert",
        certs_.client_cert, "--key",       certs_.client_key,  "--user",   "root:rootpw"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, input, 30s);
  }
  // Users root and app (readwrite on /tls/), then `auth enable`.
  void enable_auth() {
    for (std::vector<std::string> args :
         {std::vector<std::string>{"user", "add", "root:rootpw"},
          {"user", "add", "app:apppw"},
          {"role", "add", "rw"},
          {"role", "grant-permission", "rw", "--prefix=true", "readwrite", "/tls/"},
          {"user", "grant-role", "app", "rw"},
          {"auth", "enable"}}) {
      // Before `auth enable` the --user flag is ignored.
      auto r = etcdctl(args);
      ASSERT_TRUE(r.ok()) << r.describe();
    }
  }
  // An imapd.conf for cyr_cluster with `extra` lines.
  std::string conf(const std::string& extra) {
    std::string path = data_.path() + "/imapd" + std::to_string(++confs_) + ".conf";
    std::ofstream(path) << "cluster_etcd_endpoints: " << etcd_->endpoints()
                        << "\ncluster_etcd_prefix: /tls/\n"
                        << extra;
    return path;
  }
  RunResult cyr_cluster(const std::string& conf_path) {
    return run({bin_dir() + "/cyr_cluster", "-C", conf_path, "slots"}, "", 60s);
  }

  TempDir data_;
  std::unique_ptr<EtcdCluster> etcd_;
  int confs_ = 0;
};

// The first message of `key`'s history from `from` on, through a watch.
std::string first_event(cluster::EtcdClient& etcd, const std::string& key, int64_t from) {
  std::atomic<bool> stop{false};
  std::string seen;
  auto end = etcd.watch(
      key, {}, from,
      [&](const cluster::WatchMessage& m) {
        if (m.events.empty()) return true;
        seen = m.events.front().kv.key + "=" + m.events.front().kv.value;
        return false;
      },
      stop, 5s);
  if (!end.status.is_ok()) return end.status.to_string();
  return seen;
}

TEST_F(EtcdTls, PutGetTxnLeaseAndWatchOverTls) {
  if (auto why = why_no_cluster_tools(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_NO_FATAL_FAILURE(start(/*client_certs=*/true));
  cluster::EtcdClient etcd(settings(good()));
  auto rev = etcd.put("/tls/a", "1");
  ASSERT_TRUE(rev.ok()) << rev.status().to_string();
  auto got = etcd.get("/tls/a");
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].value, "1");

  cluster::Txn txn;
  txn.compare.push_back(
      {"/tls/a", cluster::Compare::Target::kValue, cluster::Compare::Result::kEqual, 0, "1"});
  txn.success.push_back({cluster::TxnOp::Kind::kPut, "/tls/b", "2", "", 0});
  auto t = etcd.txn(txn);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_TRUE(t->succeeded);

  auto lease = etcd.lease_grant(30s);
  ASSERT_TRUE(lease.ok()) << lease.status().to_string();
  ASSERT_TRUE(etcd.put("/tls/leased", "x", lease->id).ok());
  EXPECT_TRUE(etcd.lease_keepalive(lease->id).ok());
  ASSERT_TRUE(etcd.lease_revoke(lease->id).is_ok());
  EXPECT_TRUE(etcd.get("/tls/leased")->kvs.empty());

  EXPECT_EQ(first_event(etcd, "/tls/a", *rev), "/tls/a=1");

  // A real cluster program with the options: exit 0 (no slots yet).
  auto ok = cyr_cluster(conf("cluster_etcd_cacert: " + certs_.ca +
                             "\ncluster_etcd_cert: " + certs_.client_cert +
                             "\ncluster_etcd_key: " + certs_.client_key + "\n"));
  EXPECT_TRUE(ok.ok()) << ok.describe();
}

TEST_F(EtcdTls, NoClientCertOrAnotherCaIsRefusedWithAClearError) {
  if (auto why = why_no_cluster_tools(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_NO_FATAL_FAILURE(start(/*client_certs=*/true));

  cluster::EtcdClient no_cert(settings({certs_.ca, "", "", "", ""}));
  auto put = no_cert.put("/tls/a", "1");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), Code::kAgain);
  EXPECT_NE(put.status().message().find("client certificate"), std::string::npos)
      << put.status().message();
  std::atomic<bool> stop{false};
  auto watch = no_cert.watch(
      "/tls/a", {}, 0, [](const cluster::WatchMessage&) { return true; }, stop, 2s);
  EXPECT_EQ(watch.status.code(), Code::kAgain);
  EXPECT_NE(watch.status.message().find("client certificate"), std::string::npos)
      << watch.status.message();

  cluster::EtcdClient other_ca(
      settings({certs_.other_ca, certs_.client_cert, certs_.client_key, "", ""}));
  auto get = other_ca.get("/tls/a");
  ASSERT_FALSE(get.ok());
  EXPECT_NE(get.status().message().find("not trusted"), std::string::npos)
      << get.status().message();
  EXPECT_NE(get.status().message().find("cluster_etcd_cacert"), std::string::npos);

  // The member's certificate names 127.0.0.1 only: "localhost" is refused.
  cluster::EtcdSettings by_name = settings(good());
  by_name.endpoints.at(0).host = "localhost";
  cluster::EtcdClient misnamed(by_name);
  auto name = misnamed.get("/tls/a");
  ASSERT_FALSE(name.ok());
  EXPECT_NE(name.status().message().find("does not name localhost"), std::string::npos)
      << name.status().message();

  // cyr_cluster: the same refusal in its error; a missing file or http://
  // with a TLS option stops it at start (78) naming the option.
  auto refused = cyr_cluster(conf("cluster_etcd_cacert: " + certs_.other_ca +
                                  "\ncluster_etcd_cert: " + certs_.client_cert +
                                  "\ncluster_etcd_key: " + certs_.client_key + "\n"));
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.err.find("not trusted"), std::string::npos) << refused.describe();
  auto missing = cyr_cluster(conf("cluster_etcd_cacert: " + data_.path() + "/none.pem\n"));
  EXPECT_EQ(missing.exit_code, 78) << missing.describe();
  EXPECT_NE(missing.err.find("cluster_etcd_cacert"), std::string::npos) << missing.describe();
  std::string http = data_.path() + "/http.conf";
  std::ofstream(http) << "cluster_etcd_endpoints: http://127.0.0.1:1\ncluster_etcd_cacert: "
                      << certs_.ca << "\n";
  auto plain = cyr_cluster(http);
  EXPECT_EQ(plain.exit_code, 78) << plain.describe();
  EXPECT_NE(plain.err.find("https://"), std::string::npos) << plain.describe();
}

TEST_F(EtcdTls, UserAndPasswordWithTokensRenewedWhenEtcdDropsThem) {
  if (auto why = why_no_cluster_tools(); !why.empty()) GTEST_SKIP() << why;
  if (access(kEtcdctl, X_OK) != 0) GTEST_SKIP() << kEtcdctl << " missing";
  // Server TLS only: with --client-cert-auth etcd would take the client
  // certificate's CN as the user of a request without a token.
  ASSERT_NO_FATAL_FAILURE(start(/*client_certs=*/false, {"--auth-token-ttl", "2"}));
  ASSERT_NO_FATAL_FAILURE(enable_auth());
  cluster::EtcdCredentials app = {certs_.ca, "", "", "app", "apppw"};

  cluster::EtcdClient etcd(settings(app));
  auto rev = etcd.put("/tls/a", "1");
  ASSERT_TRUE(rev.ok()) << rev.status().to_string();
  EXPECT_EQ(etcd.get("/tls/a")->kvs.at(0).value, "1");
  EXPECT_EQ(etcd.authentications(), 1);

  // The password changed (to the same one): etcd drops every token of the
  // user at once; the next call and the next watch authenticate again.
  auto passwd = etcdctl({"user", "passwd", "app", "--interactive=false"}, "apppw\n");
  ASSERT_TRUE(passwd.ok()) << passwd.describe();
  auto again = etcd.put("/tls/a", "2");
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(etcd.authentications(), 2);
  ASSERT_TRUE(etcdctl({"user", "passwd", "app", "--interactive=false"}, "apppw\n").ok());
  EXPECT_EQ(first_event(etcd, "/tls/a", *rev), "/tls/a=1");
  EXPECT_EQ(etcd.authentications(), 3);

  // Past --auth-token-ttl (2 s) without a call: the call still succeeds.
  std::this_thread::sleep_for(4s);
  auto late = etcd.get("/tls/a");
  ASSERT_TRUE(late.ok()) << late.status().to_string();
  EXPECT_EQ(late->kvs.at(0).value, "2");

  cluster::EtcdClient wrong(settings({certs_.ca, "", "", "app", "wrong"}));
  auto refused = wrong.get("/tls/a");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("cluster_etcd_user app"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("invalid user ID or password"), std::string::npos);
  cluster::EtcdClient nobody(settings({certs_.ca, "", "", "", ""}));
  EXPECT_NE(nobody.get("/tls/a").status().message().find("user name is empty"), std::string::npos);

  auto ok = cyr_cluster(conf("cluster_etcd_cacert: " + certs_.ca +
                             "\ncluster_etcd_user: app\ncluster_etcd_password: apppw\n"));
  EXPECT_TRUE(ok.ok()) << ok.describe();
  auto bad = cyr_cluster(conf("cluster_etcd_cacert: " + certs_.ca +
                              "\ncluster_etcd_user: app\ncluster_etcd_password: nope\n"));
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.err.find("invalid user ID or password"), std::string::npos) << bad.describe();
}

}  // namespace
}  // namespace replimail::testing
