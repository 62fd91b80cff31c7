// A replica's sync_server against a hostile or dying peer, over the raw
// csync wire: names that would lead outside the spool are refused where
// they enter and the connection stays usable; nothing an unauthenticated
// peer sends reaches the disk; staging left by a killed session is swept.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/config.h"
#include "harness.h"
#include "net/socket.h"
#include "store/instance.h"
#include "sync/reserve.h"

namespace replimail::testing {
namespace {

namespace stdfs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// A replica serving sync_server alone, deleting outright.
Instance::Options sync_only_replica_options() {
  Instance::Options o = replica_options();
  o.services = {{"csync", "sync_server"}};
  o.imapd_extra.push_back("delete_mode: immediate");
  return o;
}

// One csync connection, driven line by line.
class Csync {
 public:
  explicit Csync(int port) {
    auto fd = net::connect_to("127.0.0.1", static_cast<uint16_t>(port));
    if (fd.ok()) fd_ = *fd;
  }
  ~Csync() {
    if (fd_ >= 0) ::close(fd_);
  }
  Csync(const Csync&) = delete;
  Csync& operator=(const Csync&) = delete;
  bool connected() const { return fd_ >= 0; }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // The next line without its CRLF; "<eof>" if the server closed, "<timeout>".
  std::string line(milliseconds timeout = milliseconds(20000)) {
    auto deadline = steady_clock::now() + timeout;
    for (;;) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        if (!l.empty() && l.back() == '\r') l.pop_back();
        return l;
      }
      auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
      if (left.count() <= 0) return "<timeout>";
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char b[4096];
      ssize_t n = ::read(fd_, b, sizeof b);
      if (n <= 0) return "<eof>";
      buf_.append(b, static_cast<size_t>(n));
    }
  }

  // Reads to the status line (OK/NO/BAD/BYE) and returns it; untagged
  // "* ..." lines are skipped.
  std::string status() {
    for (;;) {
      std::string l = line();
      if (!l.starts_with("* ")) return l;
    }
  }
  std::string command(const std::string& text) {
    if (!send(text + "\r\n")) return "<send failed>";
    return status();
  }
  // The greeting's last line, "* OK <servername> ...".
  std::string banner() {
    for (;;) {
      std::string l = line();
      if (!l.starts_with("* ") || l.starts_with("* OK")) return l;
    }
  }
  bool login() {
    return command("AUTHENTICATE PLAIN AGFkbWluAGFkbWlucHc=").starts_with("OK");  // admin/adminpw
  }

 private:
  int fd_ = -1;
  std::string buf_;
};

// Regular files under `dir` (none if it does not exist).
std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!stdfs::exists(dir, ec)) return out;
  // Files come and go under a running server (staging): increment with an
  // error code, so that one vanishing mid-walk ends nothing.
  for (stdfs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec)) out.push_back(it->path().string());
  return out;
}

// Entries anywhere under `root` whose name contains `mark`.
std::vector<std::string> named_like(const std::string& root, const std::string& mark) {
  std::vector<std::string> out;
  std::error_code ec;
  for (stdfs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().string().find(mark) != std::string::npos) out.push_back(it->path().string());
  return out;
}

std::string apply_mailbox(const std::string& uniqueid, const std::string& name,
                          const std::string& partition = "default") {
  return "APPLY MAILBOX %(UNIQUEID " + uniqueid + " MBOXNAME " + name +
         " LAST_UID 0 HIGHESTMODSEQ 1 RECENTUID 0 RECENTTIME 0 LAST_APPENDDATE 0 "
         "POP3_LAST_LOGIN 0 UIDVALIDITY 7 PARTITION " +
         partition + " ACL \"\" OPTIONS P RECORD ())";
}

// `n` bytes of message text.
std::string body_of(size_t n) {
  std::string b = "Subject: x\r\n\r\n";
  while (b.size() < n) b += "0123456789abcdef";
  b.resize(n);
  return b;
}

std::string file_literal(const std::string& partition, const std::string& body) {
  return "%{" + partition + " " + sha1_hex(body) + " " + std::to_string(body.size()) + "}\r\n" +
         body;
}

TEST(SyncHostile, PathTraversalNamesAreRefusedAndTheConnectionStaysUsable) {
  Instance replica(sync_only_replica_options());
  ASSERT_EQ(replica.start(), "");
  // The places the hostile names point at: a sentinel directory with a file
  // inside the state directory, and fresh names beside it.
  const std::string sentinel = replica.state_dir() + "/evil";
  stdfs::create_directories(sentinel);
  ASSERT_TRUE(spit(sentinel + "/keep", "mine"));

  Csync c(replica.port("csync"));
  ASSERT_TRUE(c.connected());
  ASSERT_NE(c.banner().find("OK"), std::string::npos);
  ASSERT_TRUE(c.login());

  // <spool>/uuid/<u0>/<u1>/<uniqueid>: "../../evil" is <state>/evil.
  const std::string guid = sha1_hex("x");
  const std::vector<std::string> hostile = {
      apply_mailbox("../../evil", "user.x"),
      apply_mailbox("../../evil-new", "user.y"),
      apply_mailbox("\"../../../../evil-far\"", "user.z"),
      apply_mailbox("okid1", "user.x", "../../evil-part"),
      apply_mailbox("okid2", "user/../../evil-name"),
      "APPLY UNMAILBOX ../../evil",
      "APPLY RESERVE %(PARTITION ../../evil-reserve MBOXNAME (user.x) GUID (" + guid + "))",
      "APPLY RESERVE %(PARTITION default MBOXNAME (../../evil) GUID (" + guid + "))",
      "APPLY SIEVE %(USERID ../../evil-sieve FILENAME a.script LAST_UPDATE 1 CONTENT x)",
      "APPLY SIEVE %(USERID alice FILENAME ../../../evil-script.script LAST_UPDATE 1 CONTENT x)",
      "APPLY UNSIEVE %(USERID alice FILENAME ../../../evil/keep)",
      "APPLY ACTIVATE_SIEVE %(USERID alice FILENAME ../evil.bc)",
      "APPLY UNUSER ../../evil",
      "APPLY SEEN %(USERID ../evil UNIQUEID okid LASTREAD 0 LASTUID 0 LASTCHANGE 0 SEENUIDS \"\")",
      "APPLY SEEN %(USERID alice UNIQUEID ../../evil LASTREAD 0 LASTUID 0 LASTCHANGE 0 "
      "SEENUIDS \"\")",
      "APPLY SUB %(USERID ../evil MBOXNAME user.alice)",
      "APPLY EXPUNGE %(MBOXNAME user.x UNIQUEID ../../evil UID (1))",
      "APPLY RENAME %(OLDMBOXNAME user.x NEWMBOXNAME user.w PARTITION ../../evil-rename)",
      "APPLY ANNOTATION %(MBOXNAME user.x ENTRY /../../evil USERID \"\" VALUE v)",
      "APPLY QUOTA %(ROOT ../../evil LIMIT 10)",
      "GET USER ../../evil",
      "GET UNIQUEIDS (../../evil)",
      "GET FULLMAILBOX ../../evil",
  };
  for (const auto& cmd : hostile) {
    std::string reply = c.command(cmd);
    EXPECT_TRUE(reply.starts_with("NO IMAP_PROTOCOL_BAD_PARAMETERS")) << cmd << " -> " << reply;
  }
  // A file literal whose partition climbs out: refused, its bytes skipped.
  std::string reply = c.command("APPLY MESSAGE (" + file_literal("../../evil-stage", "x") + ")");
  EXPECT_FALSE(reply.starts_with("OK")) << reply;

  // The name of the refused mailbox is unknown here: removing it removes
  // nothing.
  EXPECT_FALSE(c.command("APPLY UNMAILBOX user.x").starts_with("BAD"));

  // Nothing was created outside the spool, and nothing of it removed.
  EXPECT_EQ(named_like(replica.state_dir(), "evil"),
            (std::vector<std::string>{sentinel, sentinel + "/keep"}));
  EXPECT_EQ(slurp(sentinel + "/keep"), "mine");
  EXPECT_TRUE(
      named_like(stdfs::path(replica.state_dir()).parent_path().string(), "evil-far").empty());

  // The same connection still does real work.
  EXPECT_EQ(c.command("NOOP"), "OK Noop completed");
  std::string good = c.command(apply_mailbox("goodid0123456789", "user.good"));
  EXPECT_TRUE(good.starts_with("OK")) << good;
  EXPECT_EQ(replica.snapshot("user.good").error, "");
  EXPECT_EQ(c.command("EXIT"), "OK Finished");
}

TEST(SyncHostile, UnauthenticatedUploadsNeverReachTheDisk) {
  Instance replica(sync_only_replica_options());
  ASSERT_EQ(replica.start(), "");
  const std::string staging = replica.partition_dir() + "/sync.";
  {
    // Small ones are refused and skipped; the connection then logs in.
    Csync c(replica.port("csync"));
    ASSERT_TRUE(c.connected());
    ASSERT_NE(c.banner().find("OK"), std::string::npos);
    for (int i = 0; i < 3; i++) {
      std::string body = body_of(200000 + static_cast<size_t>(i));
      std::string reply = c.command("APPLY MESSAGE (" + file_literal("default", body) + ")");
      EXPECT_EQ(reply, "NO Please authenticate first");
      EXPECT_EQ(files_under(staging), std::vector<std::string>{});
    }
    ASSERT_TRUE(c.login());
    EXPECT_EQ(c.command("NOOP"), "OK Noop completed");
  }
  {
    // A big one: refused at its header, and the connection is dropped
    // instead of reading 50 MB.
    Csync c(replica.port("csync"));
    ASSERT_TRUE(c.connected());
    ASSERT_NE(c.banner().find("OK"), std::string::npos);
    std::string head = "APPLY MESSAGE (%{default " + sha1_hex("big") + " 50000000}\r\n";
    // The server may close before all of it is sent (the send then fails
    // with a reset): what matters is what it answers and what it stores.
    (void)c.send(head + body_of(2 << 20));
    EXPECT_EQ(files_under(staging), std::vector<std::string>{});
    // NO, then BYE, then the end; the reset of a close with our bytes unread
    // may overtake any of them, but nothing else may come.
    std::vector<std::string> got;
    for (std::string l = c.line(); l != "<eof>" && got.size() < 4; l = c.line()) got.push_back(l);
    ASSERT_LE(got.size(), 2u);
    if (!got.empty()) {
      EXPECT_EQ(got[0], "NO Please authenticate first");
    }
    if (got.size() == 2) {
      EXPECT_TRUE(got[1].starts_with("BYE")) << got[1];
    }
    EXPECT_EQ(files_under(staging), std::vector<std::string>{});
  }
  {
    // Refusal after refusal ends the session too.
    Csync c(replica.port("csync"));
    ASSERT_TRUE(c.connected());
    ASSERT_NE(c.banner().find("OK"), std::string::npos);
    int refused = 0;
    std::string last;
    for (int i = 0; i < 20; i++) {
      last = c.command("GET USER alice");
      if (last != "NO Please authenticate first") break;
      refused++;
    }
    EXPECT_GT(refused, 0);
    EXPECT_LT(refused, 20);
    EXPECT_TRUE(last.starts_with("BYE") || last == "<eof>" || last == "<send failed>") << last;
  }
  // Still serving.
  Csync again(replica.port("csync"));
  ASSERT_TRUE(again.connected());
  ASSERT_NE(again.banner().find("OK"), std::string::npos);
  ASSERT_TRUE(again.login());
  EXPECT_EQ(again.command("NOOP"), "OK Noop completed");
}

TEST(SyncHostile, StagingOfAKilledSessionIsSweptByTheNextSession) {
  Instance replica(sync_only_replica_options());
  ASSERT_EQ(replica.start(), "");
  const std::string staging = replica.partition_dir() + "/sync.";
  {
    Csync c(replica.port("csync"));
    ASSERT_TRUE(c.connected());
    ASSERT_NE(c.banner().find("OK"), std::string::npos);
    ASSERT_TRUE(c.login());
    EXPECT_EQ(c.command("APPLY MESSAGE (" + file_literal("default", body_of(5000)) + ")"),
              "OK success");
    ASSERT_EQ(files_under(staging).size(), 1u);
    auto servers = processes_running(replica, "sync_server");
    ASSERT_FALSE(servers.empty());
    for (pid_t pid : servers) ::kill(pid, SIGKILL);
    EXPECT_EQ(c.line(), "<eof>");
  }
  ASSERT_EQ(files_under(staging).size(), 1u);  // the killed session's
  // The next session (a new sync_server) sweeps it before it serves.
  std::unique_ptr<Csync> next;
  wait_until(
      [&] {
        next = std::make_unique<Csync>(replica.port("csync"));
        return next->connected();
      },
      milliseconds(5000));
  ASSERT_NE(next->banner().find("OK"), std::string::npos);
  ASSERT_TRUE(next->login());
  EXPECT_EQ(files_under(staging), std::vector<std::string>{});

  EXPECT_EQ(next->command("EXIT"), "OK Finished");
}

// reconstruct: -n reports a dead session's leftovers, a repair removes
// them; a live session's staging is neither reported nor touched.
TEST(SyncHostile, ReconstructRemovesOnlyDeadSessionsStaging) {
  Instance replica(sync_only_replica_options());
  ASSERT_EQ(replica.start(), "");
  replica.stop();  // no sync_server sweeps meanwhile
  const std::string staging = replica.partition_dir() + "/sync.";
  auto store = open_store(replica);
  ASSERT_TRUE(store);
  sync::ReserveList live(*store);  // a live session's, as sync_server holds it
  std::string body = body_of(7000);
  auto up = live.begin_upload("default", sha1_hex(body));
  ASSERT_TRUE(up.ok()) << up.status().to_string();
  ASSERT_TRUE((*up)->write(body));
  ASSERT_TRUE(live.finish_upload(sha1_hex(body), std::move(*up)));
  auto live_files = files_under(staging);
  ASSERT_EQ(live_files.size(), 1u);

  stdfs::create_directories(staging + "/999999999");
  ASSERT_TRUE(spit(staging + "/999999999/" + sha1_hex("left"), "left"));
  auto check = replica.tool("reconstruct", {"-n"});
  EXPECT_EQ(check.exit_code, 1) << check.describe();
  EXPECT_NE(check.out.find("stale-sync-stage: " + staging + "/999999999"), std::string::npos)
      << check.out;
  EXPECT_EQ(check.out.find(stdfs::path(live_files[0]).parent_path().string()), std::string::npos)
      << check.out;
  EXPECT_EQ(files_under(staging).size(), 2u);
  auto repair = replica.tool("reconstruct", {});
  EXPECT_TRUE(repair.ok()) << repair.describe();
  EXPECT_EQ(files_under(staging), live_files);
  auto clean = replica.tool("reconstruct", {"-n"});
  EXPECT_TRUE(clean.ok()) << clean.describe();
  live.clear();
  EXPECT_EQ(files_under(staging), std::vector<std::string>{});
}

}  // namespace
}  // namespace replimail::testing
