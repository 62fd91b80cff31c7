// The Prometheus endpoint end to end (issue 16): a primary whose master runs
// promstatsd as a DAEMON, scraped by the real Prometheus from Debian
// (./dev installs it; its absence fails the test), queried through
// Prometheus's HTTP API. With the replica stopped, 5 deliveries leave their
// lines in the channel's log: the backlog Prometheus reports is exactly the
// number of lines in log + log-run, the deliveries, LMTP connections and
// commands are counted; once the replica starts, the backlog Prometheus sees drops to 0
// and the channel shows connected, and the replica's sync_server has counted
// the APPLY MESSAGE it answered.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/stats.h"
#include "harness.h"

namespace replimail::testing {
namespace {

using std::chrono::milliseconds;

constexpr const char* kPrometheus = "/usr/bin/prometheus";

// GET url (python's urllib); "" on any failure.
std::string http_get(const std::string& url, const std::string& query = "") {
  auto r = run({"/usr/bin/python3", "-c",
                "import sys, urllib.parse, urllib.request\n"
                "url = sys.argv[1]\n"
                "if sys.argv[2]: url += '?query=' + urllib.parse.quote(sys.argv[2])\n"
                "print(urllib.request.urlopen(url, timeout=5).read().decode(), end='')\n",
                url, query},
               "", std::chrono::seconds(20));
  return r.ok() ? r.out : "";
}

// The value of an instant query's single sample, through Prometheus's HTTP
// API; nullopt while it has none (not scraped yet) or more than one.
std::optional<double> query(int prometheus_port, const std::string& promql) {
  std::string body =
      http_get("http://127.0.0.1:" + std::to_string(prometheus_port) + "/api/v1/query", promql);
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || j.value("status", "") != "success") return std::nullopt;
  const auto& result = j["data"]["result"];
  if (!result.is_array() || result.size() != 1) return std::nullopt;
  return std::stod(result[0]["value"][1].get<std::string>());
}

size_t count_newlines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

TEST(Metrics, PrometheusScrapesTheBacklogOfAStoppedReplicaAndItsDrain) {
  ASSERT_EQ(::access(kPrometheus, X_OK), 0)
      << kPrometheus << " is missing: ./dev installs Debian's prometheus package for this test";

  Instance::Options ro;
  ro.services = {{"csync", "sync_server"}};
  ro.imapd_extra = {"prometheus_enabled: yes"};
  ro.channels = {};
  ro.sync_log = false;
  Instance replica(ro);
  replica.write_configs();  // its port, for the primary's config; not started yet
  const int replica_port = replica.port("csync");

  const int metrics_port = free_port();
  Instance::Options po;
  po.channels = {"replica"};
  po.services = {{"lmtp", "lmtpd -a"}};
  po.imapd_extra = {"prometheus_enabled: yes",
                    "prometheus_update_freq: 1s",
                    "replica_sync_host: 127.0.0.1:" + std::to_string(replica_port),
                    "sync_authname: admin",
                    "sync_password: adminpw",
                    "sync_reconnect_maxwait: 1s"};
  po.daemons = {{"syncreplica", "sync_client -r -n replica"},
                {"promstatsd", "promstatsd -l 127.0.0.1:" + std::to_string(metrics_port)}};
  Instance primary(po);
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(wait_for_port(metrics_port, milliseconds(10000))) << primary.master_log();

  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_EQ(deliver(primary, "alice", 5, "m"), "");
  // Every line of the deliveries is in the channel's log or log-run now
  // (FLUSH through sync_logd), and stays there: the replica is down.
  std::string log = primary.channel_log("replica");
  const size_t lines =
      count_newlines(log) + count_newlines(slurp(primary.channel_log_path("replica") + "-run"));
  ASSERT_GE(lines, 5u) << log;

  // The endpoint itself, before Prometheus.
  std::string text = http_get("http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics");
  EXPECT_NE(text.find("# TYPE replimail_channel_backlog_lines gauge"), std::string::npos) << text;

  TempDir prom;
  const int prom_port = free_port();
  ASSERT_TRUE(spit(prom.path() + "/prometheus.yml",
                   "global:\n"
                   "  scrape_interval: 1s\n"
                   "  evaluation_interval: 1s\n"
                   "scrape_configs:\n"
                   "  - job_name: replimail\n"
                   "    static_configs:\n"
                   "      - targets: ['127.0.0.1:" +
                       std::to_string(metrics_port) + "']\n"));
  Background prometheus({kPrometheus, "--config.file=" + prom.path() + "/prometheus.yml",
                         "--storage.tsdb.path=" + prom.path() + "/data",
                         "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
                        Background::Capture::kStdoutAndStderr);
  ASSERT_GT(prometheus.pid(), 0);
  ASSERT_TRUE(wait_for_port(prom_port, milliseconds(30000)))
      << prometheus.out();

  std::optional<double> backlog;
  EXPECT_TRUE(wait_until(
      [&] {
        backlog = query(prom_port, "replimail_channel_backlog_lines{channel=\"replica\"}");
        return backlog && *backlog == static_cast<double>(lines);
      },
      milliseconds(60000)))
      << "Prometheus says " << (backlog ? std::to_string(*backlog) : "nothing") << ", the log has "
      << lines << " lines\n"
      << prometheus.out();
  EXPECT_EQ(query(prom_port, "up{job=\"replimail\"}"), 1.0);
  EXPECT_EQ(query(prom_port, "replimail_deliveries_total{result=\"ok\"}"), 5.0);
  // The harness's probe of the port is a connection too, without a command.
  auto conns = query(prom_port, "replimail_service_connections_total{service=\"lmtp\"}");
  EXPECT_TRUE(conns && *conns >= 1.0) << (conns ? *conns : -1);
  EXPECT_EQ(query(prom_port, "replimail_commands_total{service=\"lmtp\",command=\"LHLO\"}"), 1.0);
  EXPECT_EQ(query(prom_port, "replimail_commands_total{service=\"lmtp\",command=\"RCPT\"}"), 5.0);
  EXPECT_EQ(query(prom_port, "replimail_channel_connected{channel=\"replica\"}"), 0.0);
  auto age = query(prom_port, "replimail_channel_oldest_line_age_seconds{channel=\"replica\"}");
  EXPECT_TRUE(age && *age >= 0) << (age ? *age : -1);

  // The replica comes: the backlog drains, the channel is connected, and
  // the replica's sync_server counts what it applied.
  ASSERT_EQ(replica.start(), "");
  std::optional<double> connected;
  EXPECT_TRUE(wait_until(
      [&] {
        backlog = query(prom_port, "replimail_channel_backlog_lines{channel=\"replica\"}");
        connected = query(prom_port, "replimail_channel_connected{channel=\"replica\"}");
        return backlog == 0.0 && connected == 1.0;
      },
      milliseconds(60000)))
      << "backlog " << (backlog ? *backlog : -1) << " connected " << (connected ? *connected : -1)
      << "\n"
      << primary.master_log();
  // The replica's sync_server published what it applied (no promstatsd
  // runs there: its stats files are read as promstatsd reads them).
  double applied_messages = 0;
  for (const auto& e : std::filesystem::directory_iterator(replica.config_dir() + "/stats")) {
    auto snap = stats::read_file(e.path().string());
    if (!snap.ok()) continue;
    for (const auto& entry : snap->entries)
      if (entry.text == "replimail_sync_commands_total{command=\"APPLY\",kind=\"MESSAGE\"}")
        applied_messages += static_cast<double>(entry.value);
  }
  EXPECT_GE(applied_messages, 1.0);
}

}  // namespace
}  // namespace replimail::testing
