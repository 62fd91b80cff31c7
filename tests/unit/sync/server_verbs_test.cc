// sync_server's verb table (server.cc): each verb's state checks, in
// Cyrus's wording, over a socket pair.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../../support/temp_dir.h"
#include "common/stats.h"
#include "net/stream.h"
#include "store/instance.h"
#include "sync/server.h"

namespace replimail::sync {
namespace {

class ServerVerbsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = replimail::testing::make_temp_dir("sync_verbs_test.");
    ASSERT_FALSE(dir_.empty());
    auto cfg = Config::parse("configdirectory: " + dir_ + "/conf\npartition-default: " + dir_ +
                                 "/spool\nadmins: admin\n",
                             "imapd.conf");
    ASSERT_TRUE(cfg.ok());
    auto inst = store::Instance::open(*cfg);
    ASSERT_TRUE(inst.ok()) << inst.status().to_string();
    instance_ = std::move(*inst);
  }
  void TearDown() override {
    instance_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The server's lines after its banner (the "* " lines), for `input` sent
  // at once and the sending side then closed.
  std::vector<std::string> converse(const std::string& input, bool preauth) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    std::thread server([&] {
      net::Stream t(fds[1]);
      ServerOptions so;
      so.preauth = preauth;
      SyncServer(*instance_, t, nullptr, so).run();
      ::shutdown(fds[1], SHUT_RDWR);
    });
    for (size_t done = 0; done < input.size();) {
      ssize_t n = ::write(fds[0], input.data() + done, input.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::shutdown(fds[0], SHUT_WR);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
    server.join();
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<std::string> lines;
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);) {
      if (!l.empty() && l.back() == '\r') l.pop_back();
      if (!l.starts_with("* ")) lines.push_back(l);
    }
    return lines;
  }

  std::string dir_;
  std::unique_ptr<store::Instance> instance_;
};

TEST_F(ServerVerbsTest, BeforeAuthenticationOnlyTheSessionVerbsRun) {
  auto got = converse(
      "NOOP\r\nFROB\r\nSTARTTLS\r\nGET USER alice\r\nAPPLY UNUSER alice\r\n"
      "RESTORE MAILBOX %(UNIQUEID x)\r\nAUTHENTICATE PLAIN\r\nRESTART\r\nnoop\r\nEXIT\r\nNOOP\r\n",
      false);
  std::vector<std::string> want = {
      "OK Noop completed",
      "BAD IMAP_PROTOCOL_ERROR Unrecognized command",
      // Not offered without a TLS context: unknown.
      "BAD IMAP_PROTOCOL_ERROR Unrecognized command",
      "NO Please authenticate first",
      "NO Please authenticate first",
      "NO Please authenticate first",
      // No SASL server.
      "BAD Invalid mechanism",
      "OK Restarting",
      "OK Noop completed",
      "OK Finished",
  };
  EXPECT_EQ(got, want);
}

TEST_F(ServerVerbsTest, AnAdminsItemVerbsNeedAKeyedItem) {
  auto got = converse(
      "GET\r\nAPPLY\r\nRESTORE\r\nGET USER\r\nAPPLY RESERVE x y\r\n"
      "GET FROB x\r\nGET MAILBOXES ()\r\nEXIT\r\n",
      true);
  std::vector<std::string> want = {
      "BAD Missing required argument to GET",
      "BAD Missing required argument to APPLY",
      "BAD Missing required argument to RESTORE",
      "BAD IMAP_PROTOCOL_ERROR Failed to parse GET line",
      "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line",
      "NO IMAP_PROTOCOL_ERROR",
      "OK success",
      "OK Finished",
  };
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(got[i].starts_with(want[i])) << got[i];
}

// replimail_sync_commands_total{command, kind}: the kind is a row of the
// verb's kind table (sync_server knows GET UNIQUEIDS and APPLY FORCE), and
// "other" for a key the verb does not know, even one of the other verb's.
TEST_F(ServerVerbsTest, CommandsAreCountedUnderTheKindsTheirVerbKnows) {
  auto count = [](const char* command, const char* kind) {
    return stats::counter("replimail_sync_commands_total",
                          "csync commands sync_server answered, per command and kind.",
                          {{"command", command}, {"kind", kind}})
        .value();
  };
  const uint64_t uniqueids = count("GET", "UNIQUEIDS");
  const uint64_t force = count("APPLY", "FORCE");
  const uint64_t get_other = count("GET", "other");
  const uint64_t apply_other = count("APPLY", "other");
  const uint64_t get_reserve = count("GET", "RESERVE");
  converse(
      "GET UNIQUEIDS ()\r\nAPPLY FORCE ()\r\nGET RESERVE %(PARTITION default)\r\n"
      "APPLY LSUB ()\r\nEXIT\r\n",
      true);
  EXPECT_EQ(count("GET", "UNIQUEIDS"), uniqueids + 1);
  EXPECT_EQ(count("APPLY", "FORCE"), force + 1);
  EXPECT_EQ(count("GET", "other"), get_other + 1);
  EXPECT_EQ(count("GET", "RESERVE"), get_reserve);
  EXPECT_EQ(count("APPLY", "other"), apply_other + 1);
}

}  // namespace
}  // namespace replimail::sync
