// Interoperation with real Cyrus IMAP 3.6 replication (issue 7), both ways:
//   CyrusToReplimail: Debian's Cyrus sync_client (-u, rolling -r one pass,
//     -A) into our sync_server; our imapd must then serve what Cyrus's
//     imapd serves, and a second Cyrus run must find nothing to send.
//   ReplimailToCyrus: our sync_client into Cyrus's sync_server; Cyrus's
//     imapd must serve what ours does, Cyrus's reconstruct -n must find
//     nothing to fix, and a second run of ours must send nothing.
//   CyrusSyncClientReadsOurChannelLog: Cyrus's sync_client reads, as its
//     sync log, a channel log our sync_logd wrote (issue 15).
// The *OverTls tests run both directions again over STARTTLS, with a
// replica that refuses cleartext (allowplaintext: no), and our client
// trusting the wrong CA is refused by the Cyrus replica's certificate.
// Both cover new mail, flag changes, expunges, folder create/rename/delete,
// subscriptions, seen state of another user, quotas and a deleted user.
//
// The Cyrus side is a throwaway instance (py/cyrus_instance.py) on fresh
// ports in the test's own directory. Without the Debian packages, or not
// running as root, the tests skip and say why.
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "cyrus_peer.h"
#include "harness.h"
#include "test_certs.h"

namespace replimail::testing {
namespace {

const char* kUsers = "admin:adminpw,alice:alicepw,bob:bobpw";

// What every Cyrus of these tests is started with: its users, the channel
// "replimail" to our sync_server at `channel_port` for a Cyrus primary (0
// for a Cyrus replica), `conf` imapd.conf lines replacing the script's.
std::vector<std::string> cyrus_args(int channel_port, const std::vector<std::string>& conf = {}) {
  std::vector<std::string> args = {"--users", kUsers};
  if (channel_port)
    args.insert(args.end(), {"--channel", "replimail", "--channel-port",
                             std::to_string(channel_port)});
  for (const auto& c : conf) args.insert(args.end(), {"--conf", c});
  return args;
}

Instance::Options replimail_options(bool replica) {
  Instance::Options o;
  o.users = {{"admin", "adminpw"}, {"alice", "alicepw"}, {"bob", "bobpw"}};
  o.services = {{"lmtp", "lmtpd -a"}, {"imap", "imapd"}};
  if (replica) o.services["csync"] = "sync_server";
  o.imapd_extra = {"failedloginpause: 0", "sync_authname: admin", "sync_password: adminpw"};
  return o;
}

// py/imap_state.py against 127.0.0.1:port; "" on success.
std::string imap_do(int port, const std::string& user, const std::vector<std::string>& steps) {
  std::vector<std::string> argv = {"/usr/bin/python3",
                                   py_script("imap_state.py"),
                                   "do",
                                   "--port",
                                   std::to_string(port),
                                   "--user",
                                   user,
                                   "--password",
                                   user + "pw"};
  argv.insert(argv.end(), steps.begin(), steps.end());
  auto r = run(argv);
  return r.ok() ? "" : r.describe();
}

// "" when both servers show `user` the same mailboxes, messages, flags,
// dates, bodies, subscriptions and quota; else the differences.
std::string imap_compare(int port, int port2, const std::string& user, int wait = 0) {
  auto r = run({"/usr/bin/python3", py_script("imap_state.py"), "compare", "--port",
                std::to_string(port), "--port2", std::to_string(port2), "--user", user,
                "--password", user + "pw", "--wait", std::to_string(wait)});
  return r.ok() ? "" : r.describe();
}

// The first population, the same on either kind of primary.
void populate(int imap, int lmtp) {
  ASSERT_EQ(imap_do(imap, "admin",
                    {R"j(["create", "user/alice"])j", R"j(["create", "user/bob"])j",
                     R"j(["setquota", "user/alice", 50000])j"}),
            "");
  ASSERT_EQ(deliver(lmtp, "alice", 12, "a"), "");
  ASSERT_EQ(deliver(lmtp, "bob", 3, "b"), "");
  ASSERT_EQ(
      imap_do(
          imap, "alice",
          {R"j(["create", "Sent"])j", R"j(["create", "Sent/Old"])j", R"j(["create", "Trash"])j",
           R"j(["create", "Shared"])j", R"j(["subscribe", "Sent"])j",
           R"j(["subscribe", "Shared"])j",
           R"j(["append", "Sent", "sent one", "(\\Seen)", "01-Feb-2024 10:00:00 +0000"])j",
           R"j(["append", "Sent", "sent two", "(\\Seen $Label1)", "02-Feb-2024 11:30:00 +0100"])j",
           R"j(["append", "Sent/Old", "old one", "", "03-Mar-2020 09:00:00 -0500"])j",
           R"j(["store", "INBOX", "1:4", "+FLAGS", "(\\Seen)"])j",
           R"j(["store", "INBOX", "2,5", "+FLAGS", "(\\Flagged $Important)"])j",
           R"j(["store", "INBOX", "6", "+FLAGS", "(\\Answered \\Draft)"])j",
           R"j(["expunge", "INBOX", "3,7"])j", R"j(["copy", "INBOX", "1:4", "Shared"])j",
           R"j(["setacl", "Shared", "bob", "lrs"])j"}),
      "");
  // Seen state of another user: bob reads one of alice's messages.
  ASSERT_EQ(imap_do(imap, "bob", {R"j(["read", "Other Users/alice/Shared", "1"])j"}), "");
}

// Flag changes, expunges, a rename, a delete, subscriptions, quota, mail.
void change(int imap, int lmtp, const std::string& round) {
  ASSERT_EQ(deliver(lmtp, "alice", 3, "n" + round), "");
  ASSERT_EQ(imap_do(imap, "alice",
                    {R"j(["store", "INBOX", "1", "-FLAGS", "(\\Seen)"])j",
                     R"j(["store", "INBOX", "8:9", "+FLAGS", "($Later)"])j",
                     R"j(["expunge", "INBOX", "10"])j"}),
            "");
  ASSERT_EQ(imap_do(imap, "bob", {R"j(["read", "Other Users/alice/Shared", "2"])j"}), "");
  ASSERT_EQ(imap_do(imap, "admin", {R"j(["setquota", "user/alice", 70000])j"}), "");
}

void restructure(int imap) {
  ASSERT_EQ(
      imap_do(imap, "alice",
              {R"j(["rename", "Trash", "Bin"])j", R"j(["delete", "Sent/Old"])j",
               R"j(["unsubscribe", "Sent"])j", R"j(["subscribe", "Bin"])j",
               R"j(["create", "Projects"])j",
               R"j(["append", "Projects", "plan", "(\\Flagged)", "05-Jan-2025 08:00:00 +0000"])j"}),
      "");
}

// Cyrus's sync_client on channel "replimail" (the replica is ours).
RunResult cyrus_sync(const CyrusPeer& cyrus, std::vector<std::string> args) {
  std::vector<std::string> argv = {"-n", "replimail", "-v", "-v"};
  argv.insert(argv.end(), args.begin(), args.end());
  return cyrus.tool("sync_client", argv);
}

// Cyrus -v -v prints each command it sends as "<time> > LINE" lines.
bool cyrus_sent(const RunResult& r, const std::string& what) {
  return r.out.find(what) != std::string::npos || r.err.find(what) != std::string::npos;
}

TEST(CyrusInterop, CyrusPrimaryToReplimailReplica) {
  if (auto why = why_no_cyrus(); !why.empty()) GTEST_SKIP() << why;
  Instance ours(replimail_options(true));
  ASSERT_EQ(ours.start(), "");
  CyrusPeer cyrus("cyrus-primary", cyrus_args(ours.port("csync")), true, false);
  ASSERT_TRUE(cyrus.started().ok()) << cyrus.started().describe();
  int cimap = cyrus.ports().imap, rimap = ours.port("imap");
  populate(cyrus.ports().imap, cyrus.ports().lmtp);

  // One-shot -u.
  for (const char* u : {"alice", "bob"}) {
    auto r = cyrus_sync(cyrus, {"-u", u});
    ASSERT_TRUE(r.ok()) << r.describe();
  }
  EXPECT_EQ(imap_compare(cimap, rimap, "alice"), "");
  EXPECT_EQ(imap_compare(cimap, rimap, "bob"), "");
  // A second run finds every SYNC_CRC equal and sends nothing.
  auto again = cyrus_sync(cyrus, {"-u", "alice"});
  ASSERT_TRUE(again.ok()) << again.describe();
  EXPECT_FALSE(cyrus_sent(again, "APPLY MESSAGE")) << again.describe();
  EXPECT_FALSE(cyrus_sent(again, "APPLY MAILBOX")) << again.describe();

  // Changes, replicated by the rolling client's pass over the sync log.
  change(cimap, cyrus.ports().lmtp, "1");
  restructure(cimap);
  auto rolling = cyrus_sync(cyrus, {"-R", "-1"});
  ASSERT_TRUE(rolling.ok()) << rolling.describe();
  EXPECT_EQ(imap_compare(cimap, rimap, "alice"), "");
  EXPECT_EQ(imap_compare(cimap, rimap, "bob"), "");

  // -A after more changes.
  change(cimap, cyrus.ports().lmtp, "2");
  auto all = cyrus_sync(cyrus, {"-A"});
  ASSERT_TRUE(all.ok()) << all.describe();
  EXPECT_EQ(imap_compare(cimap, rimap, "alice"), "");
  EXPECT_EQ(imap_compare(cimap, rimap, "bob"), "");
  auto quiet = cyrus_sync(cyrus, {"-A"});
  ASSERT_TRUE(quiet.ok()) << quiet.describe();
  EXPECT_FALSE(cyrus_sent(quiet, "APPLY MESSAGE")) << quiet.describe();
  EXPECT_FALSE(cyrus_sent(quiet, "APPLY MAILBOX")) << quiet.describe();

  // A user deleted on the primary disappears from the replica.
  // A Cyrus admin needs the x right on a user's INBOX to delete it.
  ASSERT_EQ(imap_do(cimap, "admin",
                    {R"j(["setacl", "user/bob", "admin", "x"])j", R"j(["delete", "user/bob"])j"}),
            "");
  auto gone = cyrus_sync(cyrus, {"-R", "-1"});
  ASSERT_TRUE(gone.ok()) << gone.describe();
  EXPECT_NE(ours.snapshot("user.bob").error, "");
  EXPECT_EQ(ours.snapshot("user.alice").error, "");
  // Our replica honours delayed delete: the DELETED copy Cyrus renamed the
  // user to survives APPLY UNUSER.
  auto list = ours.tool("cyr_mbox", {"list"});
  EXPECT_NE(list.out.find("DELETED.user.bob."), std::string::npos) << list.describe();
}

RunResult our_sync(const Instance& ours, const CyrusPeer& cyrus, std::vector<std::string> args) {
  std::vector<std::string> argv = {"-v", "-S", "127.0.0.1:" + std::to_string(cyrus.ports().sync)};
  argv.insert(argv.end(), args.begin(), args.end());
  return ours.tool("sync_client", argv);
}

bool uploaded_nothing(const RunResult& r) {
  return r.out.find("uploaded 0 messages") != std::string::npos &&
         r.out.find("applied 0 mailboxes") != std::string::npos;
}

// reconstruct -n -G (change nothing, re-hash every message file) over every
// mailbox of `user`: "" if it reports nothing. It prints each mailbox name
// as it goes (no spaces in ours) and a line per finding, such as
// "user.bob uid 1 guid mismatch".
std::string cyrus_reconstruct_finds(const CyrusPeer& cyrus, const std::string& user) {
  auto r = cyrus.tool("reconstruct", {"-n", "-r", "-G", "-u", user});
  if (!r.ok()) return r.describe();
  std::string findings;
  for (const auto& line : lines_of(r.out + r.err))
    if (line.find(' ') != std::string::npos) findings += line + "\n";
  return findings;
}

// The mailboxes.db type of `name` on the Cyrus side ("" if absent), from
// ctl_mboxlist -d: "e" a mailbox, "ed" a tombstone.
std::string cyrus_mbtype(const CyrusPeer& cyrus, const std::string& name) {
  auto r = cyrus.tool("ctl_mboxlist", {"-d"});
  if (!r.ok()) return r.describe();
  size_t at = r.out.find("\"" + name + "\": {");
  if (at == std::string::npos) return "";
  size_t end = r.out.find('}', at);
  size_t t = r.out.find("\"mbtype\": \"", at);
  if (t == std::string::npos || t > end) return "?";
  t += 11;
  return r.out.substr(t, r.out.find('"', t) - t);
}

TEST(CyrusInterop, ReplimailPrimaryToCyrusReplica) {
  if (auto why = why_no_cyrus(); !why.empty()) GTEST_SKIP() << why;
  Instance ours(replimail_options(false));
  ASSERT_EQ(ours.start(), "");
  CyrusPeer cyrus("cyrus-replica", cyrus_args(0), false, true);
  ASSERT_TRUE(cyrus.started().ok()) << cyrus.started().describe();
  int pimap = ours.port("imap"), cimap = cyrus.ports().imap;
  populate(pimap, ours.lmtp_port());

  auto first = our_sync(ours, cyrus, {"-u", "alice", "bob"});
  ASSERT_TRUE(first.ok()) << first.describe();
  EXPECT_EQ(imap_compare(pimap, cimap, "alice"), "");
  EXPECT_EQ(imap_compare(pimap, cimap, "bob"), "");
  EXPECT_EQ(cyrus_reconstruct_finds(cyrus, "alice"), "");
  auto again = our_sync(ours, cyrus, {"-u", "alice", "bob"});
  ASSERT_TRUE(again.ok()) << again.describe();
  EXPECT_TRUE(uploaded_nothing(again)) << again.describe();

  // Changes, replicated from our channel's sync log.
  change(pimap, ours.lmtp_port(), "1");
  restructure(pimap);
  auto logged = our_sync(ours, cyrus, {"-f", ours.channel_log_path("replica")});
  ASSERT_TRUE(logged.ok()) << logged.describe();
  EXPECT_EQ(imap_compare(pimap, cimap, "alice"), "");
  EXPECT_EQ(imap_compare(pimap, cimap, "bob"), "");

  change(pimap, ours.lmtp_port(), "2");
  auto all = our_sync(ours, cyrus, {"-A"});
  ASSERT_TRUE(all.ok()) << all.describe();
  EXPECT_EQ(imap_compare(pimap, cimap, "alice"), "");
  EXPECT_EQ(imap_compare(pimap, cimap, "bob"), "");
  EXPECT_EQ(cyrus_reconstruct_finds(cyrus, "alice"), "");
  auto quiet = our_sync(ours, cyrus, {"-A"});
  ASSERT_TRUE(quiet.ok()) << quiet.describe();
  EXPECT_TRUE(uploaded_nothing(quiet)) << quiet.describe();

  // A user deleted on the primary disappears from the replica (UNUSER in
  // our sync log).
  ASSERT_EQ(imap_do(pimap, "admin", {R"j(["delete", "user/bob"])j"}), "");
  auto gone = our_sync(ours, cyrus, {"-f", ours.channel_log_path("replica")});
  ASSERT_TRUE(gone.ok()) << gone.describe();
  EXPECT_EQ(cyrus_mbtype(cyrus, "user.bob"), "ed");
  EXPECT_EQ(cyrus_mbtype(cyrus, "user.alice"), "e");
}

// Enough mail that it goes in several upload commands: our sync_client
// sends at most 1,024 files or 64 MB per APPLY MESSAGE (sync/client.cc).
// alice: 2,100 small messages in INBOX, a third of them seen, all copied
// to a folder (whose GUIDs the replica then holds already); bob: 40
// messages of 2 MB.
void populate_large(int imap, int lmtp) {
  ASSERT_EQ(imap_do(imap, "admin", {R"j(["create", "user/alice"])j", R"j(["create", "user/bob"])j"}),
            "");
  ASSERT_EQ(deliver(lmtp, "alice", 2100, "many", 1000), "");
  ASSERT_EQ(imap_do(imap, "alice",
                    {R"j(["create", "Copy"])j", R"j(["copy", "INBOX", "1:*", "Copy"])j",
                     R"j(["store", "INBOX", "1:700", "+FLAGS", "(\\Seen)"])j"}),
            "");
  ASSERT_EQ(deliver(lmtp, "bob", 40, "large", 2 << 20), "");
}

// How many lines of `text` hold `what`.
size_t lines_with(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (const auto& line : lines_of(text)) n += line.find(what) != std::string::npos;
  return n;
}

TEST(CyrusInterop, ReplimailPrimaryToCyrusReplicaInSeveralUploads) {
  if (auto why = why_no_cyrus(); !why.empty()) GTEST_SKIP() << why;
  Instance ours(replimail_options(false));
  ASSERT_EQ(ours.start(), "");
  CyrusPeer cyrus("cyrus-replica", cyrus_args(0), false, true);
  ASSERT_TRUE(cyrus.started().ok()) << cyrus.started().describe();
  int pimap = ours.port("imap"), cimap = cyrus.ports().imap;
  populate_large(pimap, ours.lmtp_port());

  auto first = our_sync(ours, cyrus, {"-u", "alice", "bob"});
  ASSERT_TRUE(first.ok()) << first.describe();
  // Three commands for alice's 2,100 files, two for bob's 80 MB; the copy's
  // GUIDs are not sent again.
  EXPECT_GE(lines_with(first.out + first.err, "> APPLY MESSAGE"), 5u) << first.describe();
  EXPECT_NE(first.out.find("uploaded 2140 messages"), std::string::npos) << first.describe();
  EXPECT_EQ(imap_compare(pimap, cimap, "alice"), "");
  EXPECT_EQ(imap_compare(pimap, cimap, "bob"), "");
  EXPECT_EQ(cyrus_reconstruct_finds(cyrus, "alice"), "");
  EXPECT_EQ(cyrus_reconstruct_finds(cyrus, "bob"), "");
  auto again = our_sync(ours, cyrus, {"-u", "alice", "bob"});
  ASSERT_TRUE(again.ok()) << again.describe();
  EXPECT_TRUE(uploaded_nothing(again)) << again.describe();
}

TEST(CyrusInterop, CyrusPrimaryToReplimailReplicaInSeveralUploads) {
  if (auto why = why_no_cyrus(); !why.empty()) GTEST_SKIP() << why;
  Instance ours(replimail_options(true));
  ASSERT_EQ(ours.start(), "");
  CyrusPeer cyrus("cyrus-primary", cyrus_args(ours.port("csync")), true, false);
  ASSERT_TRUE(cyrus.started().ok()) << cyrus.started().describe();
  int cimap = cyrus.ports().imap, rimap = ours.port("imap");
  populate_large(cimap, cyrus.ports().lmtp);

  for (const char* u : {"alice", "bob"}) {
    auto r = cyrus_sync(cyrus, {"-u", u});
    ASSERT_TRUE(r.ok()) << r.describe();
  }
  EXPECT_EQ(imap_compare(cimap, rimap, "alice"), "");
  EXPECT_EQ(imap_compare(cimap, rimap, "bob"), "");
  auto check = ours.tool("reconstruct", {"-n"});
  EXPECT_TRUE(check.ok()) << check.describe();
  auto again = cyrus_sync(cyrus, {"-u", "alice"});
  ASSERT_TRUE(again.ok()) << again.describe();
  EXPECT_FALSE(cyrus_sent(again, "APPLY MESSAGE")) << again.describe();
  EXPECT_FALSE(cyrus_sent(again, "APPLY MAILBOX")) << again.describe();
}

// Certificates in a directory the cyrus user can read.
class TlsFiles {
 public:
  TlsFiles() {
    std::filesystem::permissions(dir_.path(), std::filesystem::perms(0755));
    certs_ = make_test_certs(dir_.path());
  }
  const TestCerts& certs() const { return certs_; }

 private:
  TempDir dir_;
  TestCerts certs_;
};

TEST(CyrusInterop, CyrusPrimaryToReplimailReplicaOverTls) {
  if (auto why = why_no_cyrus(); !why.empty()) GTEST_SKIP() << why;
  TlsFiles tls;
  ASSERT_EQ(tls.certs().error, "");
  const TestCerts& c = tls.certs();
  Instance::Options o = replimail_options(true);
  for (const std::string& line :
       std::vector<std::string>{"allowplaintext: no", "tls_server_cert: " + c.server_cert,
                                "tls_server_key: " + c.server_key, "tls_client_ca_file: " + c.ca})
    o.imapd_extra.push_back(line);
  Instance ours(o);
  ASSERT_EQ(ours.start(), "");
  // Cyrus's client presents its certificate when asked (tls_client_cert).
  CyrusPeer cyrus("cyrus-primary",
                  cyrus_args(ours.port("csync"),
                             {"tls_server_ca_file: " + c.ca, "tls_client_cert: " + c.client_cert,
                              "tls_client_key: " + c.client_key}),
                  true, false);
  ASSERT_TRUE(cyrus.started().ok()) << cyrus.started().describe();
  int cimap = cyrus.ports().imap, rimap = ours.port("imap");
  populate(cimap, cyrus.ports().lmtp);

  // Our replica offers no mechanism before TLS: Cyrus's client must
  // STARTTLS, read the banner again and log in with PLAIN.
  for (const char* u : {"alice", "bob"}) {
    auto r = cyrus_sync(cyrus, {"-u", u});
    ASSERT_TRUE(r.ok()) << r.describe();
  }
  EXPECT_EQ(imap_compare(cimap, rimap, "alice"), "");
  EXPECT_EQ(imap_compare(cimap, rimap, "bob"), "");
  std::string log = ours.master_log();
  EXPECT_NE(log.find("TLS TLSv1"), std::string::npos) << log;
  EXPECT_NE(log.find("peer certificate CN=replimail-primary"), std::string::npos) << log;
  EXPECT_NE(log.find("login admin"), std::string::npos) << log;

  change(cimap, cyrus.ports().lmtp, "1");
  restructure(cimap);
  auto rolling = cyrus_sync(cyrus, {"-R", "-1"});
  ASSERT_TRUE(rolling.ok()) << rolling.describe();
  EXPECT_EQ(imap_compare(cimap, rimap, "alice"), "");
  EXPECT_EQ(imap_compare(cimap, rimap, "bob"), "");
}

TEST(CyrusInterop, ReplimailPrimaryToCyrusReplicaOverTls) {
  if (auto why = why_no_cyrus(); !why.empty()) GTEST_SKIP() << why;
  TlsFiles tls;
  ASSERT_EQ(tls.certs().error, "");
  const TestCerts& c = tls.certs();
  // A Cyrus replica that refuses cleartext: its banner offers STARTTLS and
  // no mechanism.
  CyrusPeer cyrus("cyrus-replica",
                  cyrus_args(0, {"allowplaintext: no", "tls_server_cert: " + c.server_cert,
                                 "tls_server_key: " + c.server_key}),
                  false, true);
  ASSERT_TRUE(cyrus.started().ok()) << cyrus.started().describe();

  // Trusting another CA: refused, nothing sent.
  Instance::Options wrong = replimail_options(false);
  wrong.imapd_extra.push_back("tls_server_ca_file: " + c.other_ca);
  Instance mistrusting(wrong);
  ASSERT_EQ(mistrusting.start(), "");
  ASSERT_EQ(imap_do(mistrusting.port("imap"), "admin", {R"j(["create", "user/alice"])j"}), "");
  auto refused = our_sync(mistrusting, cyrus, {"-u", "alice"});
  EXPECT_FALSE(refused.ok()) << refused.describe();
  EXPECT_NE(refused.err.find("TLS: the certificate of 127.0.0.1 does not verify"),
            std::string::npos)
      << refused.describe();
  EXPECT_EQ(cyrus_mbtype(cyrus, "user.alice"), "");

  Instance::Options o = replimail_options(false);
  o.imapd_extra.push_back("tls_server_ca_file: " + c.ca);
  Instance ours(o);
  ASSERT_EQ(ours.start(), "");
  int pimap = ours.port("imap"), cimap = cyrus.ports().imap;
  populate(pimap, ours.lmtp_port());
  auto first = our_sync(ours, cyrus, {"-u", "alice", "bob"});
  ASSERT_TRUE(first.ok()) << first.describe();
  EXPECT_NE((first.out + first.err).find("TLS with 127.0.0.1: TLSv1"), std::string::npos)
      << first.describe();
  EXPECT_EQ(imap_compare(pimap, cimap, "alice"), "");
  EXPECT_EQ(imap_compare(pimap, cimap, "bob"), "");
  EXPECT_EQ(cyrus_reconstruct_finds(cyrus, "alice"), "");

  change(pimap, ours.lmtp_port(), "1");
  restructure(pimap);
  auto logged = our_sync(ours, cyrus, {"-f", ours.channel_log_path("replica")});
  ASSERT_TRUE(logged.ok()) << logged.describe();
  EXPECT_EQ(imap_compare(pimap, cimap, "alice"), "");
  EXPECT_EQ(imap_compare(pimap, cimap, "bob"), "");
  auto quiet = our_sync(ours, cyrus, {"-u", "alice", "bob"});
  ASSERT_TRUE(quiet.ok()) << quiet.describe();
  EXPECT_TRUE(uploaded_nothing(quiet)) << quiet.describe();
}

// Cyrus's sync_client reading a channel log our sync_logd wrote (issue 15).
//
// Cyrus's sync_client takes only names from its log: the mailboxes, users,
// quotas and seen states they name are read from its own store (SEEN lines
// name a mailbox by uniqueid), so it cannot push our store, and a log file
// alone fed to a Cyrus whose store differs would prove nothing. So the
// lines go through a Cyrus ("middle") holding what our primary holds,
// uniqueids included: our sync_client keeps it equal to our primary from
// our "replica" channel. Our "cyrus" channel's log, the file exactly as
// sync_logd left it, is handed to Cyrus's sync_client -r -f (the log reader
// of Cyrus's sync_log.c and sync_do_reader of its sync_support.c), which
// pushes what the lines name from middle to our replica ("end"). End hears
// of a change only through a line of that file, so after each stage middle
// and end must show every user the same: a line Cyrus's reader rejects or
// a line missing from the file leaves end behind. Cyrus's reader skips a
// line it cannot parse, saying so only in its log (stderr here: "Invalid
// input", "Garbage at end of input line", "Unknown action type", "Missing
// mailbox name"), so those are failures too, even where another line made
// up for the skipped one. The primary is stopped before its log is taken
// (master stops sync_logd, which first writes and flushes every released
// entry), so the file holds whatever the daemon acknowledged. Each stage
// makes one kind of change (new users, mail and folders; flags, seen state
// of another user, quota; rename, delete, subscriptions; a deleted user).
// True if a unix socket at `path` accepts a connection (a socket file a
// stopped daemon left behind does not).
bool accepts(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    close(fd);
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

class LogStages {
 public:
  LogStages(Instance& primary, const CyrusPeer& middle) : primary_(primary), middle_(middle) {}

  // Stops the primary, moves its "cyrus" channel log into middle's folder
  // (owned by the cyrus user: Cyrus's reader opens it read-write to lock
  // it), brings middle up to the primary from the "replica" channel, runs
  // Cyrus's sync_client -r -f over the moved file, restarts the primary.
  // "" on success, else what failed; `lines` gets the file's lines.
  std::string run(std::vector<std::string>& lines) {
    primary_.stop();
    std::string file = middle_.dir() + "/our-log-" + std::to_string(++stage_);
    std::error_code ec;
    std::filesystem::rename(primary_.channel_log_path("cyrus"), file, ec);
    if (ec) return "cannot move our cyrus channel's log: " + ec.message();
    lines = lines_of(slurp(file));
    struct passwd* pw = getpwnam("cyrus");
    struct group* gr = getgrnam("mail");
    if (!pw || !gr || chown(file.c_str(), pw->pw_uid, gr->gr_gid) != 0)
      return "cannot give " + file + " to cyrus:mail";
    auto ours = primary_.tool(
        "sync_client", {"-v", "-S", "127.0.0.1:" + std::to_string(middle_.ports().sync), "-f",
                        primary_.channel_log_path("replica")});
    if (!ours.ok()) return "our sync_client to middle: " + ours.describe();
    // -v -v: only then does Cyrus's sync_client copy its syslog lines, the
    // reader's complaints among them, to stderr.
    auto theirs = cyrus_sync(middle_, {"-r", "-f", file});
    if (!theirs.ok()) return "Cyrus's sync_client -r -f " + file + ": " + theirs.describe();
    for (const char* complaint : {"Invalid input", "Garbage at end of input line",
                                  "Unknown action type", "Missing mailbox name"}) {
      if (cyrus_sent(theirs, complaint))
        return "Cyrus's log reader rejected a line of " + file + ": " + theirs.describe();
    }
    if (auto started = primary_.start(); !started.empty()) return started;
    return daemon_serving(primary_);
  }

  // "" once the primary's sync_logd listens: every change from then on goes
  // through it (writers write directly only while it is absent).
  static std::string daemon_serving(const Instance& primary) {
    std::string socket = primary.config_dir() + "/socket/sync_logd";
    bool up = wait_until([&] { return accepts(socket); }, std::chrono::seconds(15));
    return up ? "" : "sync_logd does not listen on " + socket + "\n" + primary.master_log();
  }

 private:
  Instance& primary_;
  const CyrusPeer& middle_;
  int stage_ = 0;
};

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  return text;
}

bool has_line(const std::vector<std::string>& lines, const std::string& prefix) {
  for (const auto& l : lines)
    if (l.rfind(prefix, 0) == 0) return true;
  return false;
}

TEST(CyrusInterop, CyrusSyncClientReadsOurChannelLog) {
  if (auto why = why_no_cyrus(); !why.empty()) GTEST_SKIP() << why;
  Instance end(replimail_options(true));
  ASSERT_EQ(end.start(), "");
  CyrusPeer middle("cyrus-middle", cyrus_args(end.port("csync")), false, true);
  ASSERT_TRUE(middle.started().ok()) << middle.started().describe();
  auto options = replimail_options(false);
  options.channels = {"replica", "cyrus"};
  ASSERT_TRUE(options.sync_logd);  // the harness runs it (DAEMON synclog)
  Instance primary(options);
  ASSERT_EQ(primary.start(), "");
  ASSERT_EQ(LogStages::daemon_serving(primary), "");
  int pimap = primary.port("imap"), mimap = middle.ports().imap, eimap = end.port("imap");
  LogStages stages(primary, middle);
  std::vector<std::string> lines;
  auto same_everywhere = [&](const std::string& user) {
    EXPECT_EQ(imap_compare(pimap, mimap, user), "") << "middle is not our primary's copy";
    EXPECT_EQ(imap_compare(mimap, eimap, user), "") << "lines Cyrus did not act on";
  };

  populate(pimap, primary.lmtp_port());
  ASSERT_EQ(stages.run(lines), "");
  EXPECT_TRUE(has_line(lines, "APPEND user.alice")) << joined(lines);
  same_everywhere("alice");
  same_everywhere("bob");

  change(pimap, primary.lmtp_port(), "1");
  ASSERT_EQ(stages.run(lines), "");
  EXPECT_TRUE(has_line(lines, "SEEN bob ")) << joined(lines);
  EXPECT_TRUE(has_line(lines, "QUOTA user.alice")) << joined(lines);
  same_everywhere("alice");
  same_everywhere("bob");

  restructure(pimap);
  ASSERT_EQ(stages.run(lines), "");
  EXPECT_TRUE(has_line(lines, "RENAME user.alice.Trash user.alice.Bin")) << joined(lines);
  // delete_mode: delayed on our primary: Cyrus's middle takes the rename.
  EXPECT_TRUE(has_line(lines, "RENAME user.alice.Sent.Old DELETED.user.alice.Sent.Old."))
      << joined(lines);
  same_everywhere("alice");
  same_everywhere("bob");

  ASSERT_EQ(imap_do(pimap, "admin", {R"j(["delete", "user/bob"])j"}), "");
  ASSERT_EQ(stages.run(lines), "");
  EXPECT_TRUE(has_line(lines, "UNUSER bob")) << joined(lines);
  EXPECT_NE(end.snapshot("user.bob").error, "") << "UNUSER bob not acted on";
  same_everywhere("alice");
}

}  // namespace
}  // namespace replimail::testing
