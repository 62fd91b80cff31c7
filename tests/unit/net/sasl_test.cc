#include "../../support/temp_dir.h"
#include "net/sasl.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>

namespace replimail::net {
namespace {

// One sasldb for the whole suite: libsasl2 is initialised once per process.
class SaslTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(replimail::testing::make_temp_dir("rm_sasl_"));
    ASSERT_NE(*dir_, "");
    std::string db = *dir_ + "/sasldb2";
    // saslpasswd2 -p reads the password from stdin.
    std::string cmd = "printf secret | saslpasswd2 -p -f " + db + " -c alice";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    cmd = "printf hunter2 | saslpasswd2 -p -f " + db + " -u mx.example.test -c bob";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    // The realm as an administrator types it (docs: `-u <servername>`), and
    // as libsasl2 itself spells a default realm (lowercased).
    cmd = "printf carolpw | saslpasswd2 -p -f " + db + " -u Mail.Example.ORG -c carol";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    cmd = "printf davepw | saslpasswd2 -p -f " + db + " -u mail.example.org -c dave";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    auto cfg = Config::parse(
        "sasl_pwcheck_method: auxprop\nsasl_auxprop_plugin: sasldb\nsasl_sasldb_path: " + db +
            "\nsasl_mech_list: PLAIN LOGIN\n",
        "test.conf");
    ASSERT_TRUE(cfg.ok());
    config_ = new Config(*cfg);
    ASSERT_TRUE(sasl_init(*config_).is_ok());
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
    delete config_;
  }

  std::unique_ptr<Libsasl2Server> server(bool allowplaintext, bool secure = false,
                                         std::string fqdn = "") {
    Config c = *config_;
    c.set("allowplaintext", allowplaintext ? "yes" : "no");
    SaslEndpoint ep;
    ep.secure_channel = secure;
    ep.server_fqdn = std::move(fqdn);
    auto s = Libsasl2Server::create(c, ep);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? std::move(*s) : nullptr;
  }

  static std::string plain(std::string_view user, std::string_view pass) {
    std::string r;
    r.push_back('\0');
    r.append(user);
    r.push_back('\0');
    r.append(pass);
    return r;
  }

  static std::string* dir_;
  static Config* config_;
};

std::string* SaslTest::dir_ = nullptr;
Config* SaslTest::config_ = nullptr;

TEST_F(SaslTest, MechanismsFollowMechListAndPlaintextPolicy) {
  auto open = server(true);
  ASSERT_TRUE(open);
  auto mechs = open->mechanisms();
  EXPECT_NE(std::find(mechs.begin(), mechs.end(), "PLAIN"), mechs.end());
  EXPECT_EQ(std::find(mechs.begin(), mechs.end(), "CRAM-MD5"), mechs.end());

  auto closed = server(false);
  ASSERT_TRUE(closed);
  auto none = closed->mechanisms();
  EXPECT_EQ(std::find(none.begin(), none.end(), "PLAIN"), none.end());

  auto unix_socket = server(false, true);
  ASSERT_TRUE(unix_socket);
  auto local = unix_socket->mechanisms();
  EXPECT_NE(std::find(local.begin(), local.end(), "PLAIN"), local.end());
}

TEST_F(SaslTest, PlainWithInitialResponse) {
  auto s = server(true);
  ASSERT_TRUE(s);
  SaslStep st = s->start("PLAIN", plain("alice", "secret"));
  EXPECT_EQ(st.kind, SaslStep::Kind::kOk) << st.error;
  EXPECT_EQ(s->username(), "alice");
}

TEST_F(SaslTest, PlainWithoutInitialResponseThenWrongPasswordThenRetry) {
  auto s = server(true);
  ASSERT_TRUE(s);
  SaslStep st = s->start("PLAIN", std::nullopt);
  ASSERT_EQ(st.kind, SaslStep::Kind::kContinue);
  EXPECT_EQ(st.data, "");
  st = s->step(plain("alice", "wrong"));
  EXPECT_EQ(st.kind, SaslStep::Kind::kFailed);
  EXPECT_FALSE(st.error.empty());

  // A failed exchange does not poison the connection.
  st = s->start("PLAIN", plain("alice", "secret"));
  EXPECT_EQ(st.kind, SaslStep::Kind::kOk) << st.error;
  EXPECT_EQ(s->username(), "alice");
}

TEST_F(SaslTest, UnknownUserLooksLikeBadPassword) {
  auto s = server(true);
  ASSERT_TRUE(s);
  SaslStep bad_user = s->start("PLAIN", plain("mallory", "secret"));
  SaslStep bad_pass = s->start("PLAIN", plain("alice", "nope"));
  EXPECT_EQ(bad_user.kind, SaslStep::Kind::kFailed);
  EXPECT_EQ(bad_pass.kind, SaslStep::Kind::kFailed);
  EXPECT_EQ(bad_user.error, bad_pass.error);
}

TEST_F(SaslTest, UnknownMechanismAndPlaintextRefused) {
  auto s = server(true);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->start("X-NO-SUCH", std::nullopt).kind, SaslStep::Kind::kNoMech);
  auto closed = server(false);
  ASSERT_TRUE(closed);
  SaslStep st = closed->start("PLAIN", plain("alice", "secret"));
  EXPECT_NE(st.kind, SaslStep::Kind::kOk);
}

TEST_F(SaslTest, LoginMechanismTwoSteps) {
  auto s = server(true);
  ASSERT_TRUE(s);
  SaslStep st = s->start("LOGIN", std::nullopt);
  ASSERT_EQ(st.kind, SaslStep::Kind::kContinue);
  st = s->step("alice");
  ASSERT_EQ(st.kind, SaslStep::Kind::kContinue);
  st = s->step("secret");
  EXPECT_EQ(st.kind, SaslStep::Kind::kOk) << st.error;
  EXPECT_EQ(s->username(), "alice");
}

TEST_F(SaslTest, ServerNameIsTheDefaultRealm) {
  auto s = server(true, false, "mx.example.test");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->start("PLAIN", plain("bob", "hunter2")).kind, SaslStep::Kind::kOk);
  // alice lives in the host name's realm, not in mx.example.test.
  EXPECT_EQ(s->start("PLAIN", plain("alice", "secret")).kind, SaslStep::Kind::kFailed);
  auto host = server(true);
  ASSERT_TRUE(host);
  EXPECT_EQ(host->start("PLAIN", plain("bob", "hunter2")).kind, SaslStep::Kind::kFailed);
  EXPECT_EQ(host->start("PLAIN", plain("bob@mx.example.test", "hunter2")).kind,
            SaslStep::Kind::kOk);
}

TEST_F(SaslTest, ServerNameWithCapitalsFindsUsersInEitherSpellingOfTheRealm) {
  auto s = server(true, false, "Mail.Example.ORG");
  ASSERT_TRUE(s);
  SaslStep st = s->start("PLAIN", plain("carol", "carolpw"));
  EXPECT_EQ(st.kind, SaslStep::Kind::kOk) << st.error;
  EXPECT_EQ(s->username(), "carol");
  st = s->start("PLAIN", plain("dave", "davepw"));
  EXPECT_EQ(st.kind, SaslStep::Kind::kOk) << st.error;
  EXPECT_EQ(s->username(), "dave");
  // The exchange is replayed in the realm as written, step by step.
  st = s->start("LOGIN", std::nullopt);
  ASSERT_EQ(st.kind, SaslStep::Kind::kContinue);
  ASSERT_EQ(s->step("carol").kind, SaslStep::Kind::kContinue);
  st = s->step("carolpw");
  EXPECT_EQ(st.kind, SaslStep::Kind::kOk) << st.error;
  st = s->start("PLAIN", std::nullopt);
  ASSERT_EQ(st.kind, SaslStep::Kind::kContinue);
  EXPECT_EQ(s->step(plain("carol", "carolpw")).kind, SaslStep::Kind::kOk);
  // Case changes where users are found, not which passwords are right.
  EXPECT_EQ(s->start("PLAIN", plain("carol", "davepw")).kind, SaslStep::Kind::kFailed);
  EXPECT_EQ(s->start("PLAIN", plain("mallory", "carolpw")).kind, SaslStep::Kind::kFailed);
  EXPECT_EQ(s->start("PLAIN", plain("bob", "hunter2")).kind, SaslStep::Kind::kFailed);
}

// A login policy that only counts failures.
struct CountingPolicy : LoginPolicy {
  int failures = 0;
  LoginCheck before_attempt(std::string_view) override { return {}; }
  void failed(std::string_view) override { ++failures; }
  LoginCheck succeeded(std::string_view, bool) override { return {}; }
  void logged_out() override {}
};

SaslWording test_wording() {
  SaslWording w;
  w.challenge = "C {}";
  w.bad_initial = "BAD-INITIAL";
  w.bad_response = "BAD-RESPONSE";
  w.cancelled = "CANCELLED";
  w.no_mech = "NO-MECH";
  w.failed = "FAILED: {}";
  return w;
}

TEST_F(SaslTest, ExchangeLoginEncodesChallengesAndDecodesResponses) {
  auto s = server(true);
  ASSERT_TRUE(s);
  CountingPolicy policy;
  SaslExchange x(test_wording(), &policy);
  EXPECT_FALSE(x.take_initial(std::nullopt));
  SaslOutcome o = x.start(*s, "LOGIN");
  ASSERT_EQ(o.kind, SaslOutcome::Kind::kChallenge);
  EXPECT_EQ(o.line, "C VXNlcm5hbWU6");  // "Username:"
  o = x.respond("YWxpY2U=");            // "alice"
  ASSERT_EQ(o.kind, SaslOutcome::Kind::kChallenge);
  EXPECT_EQ(o.line, "C UGFzc3dvcmQ6");  // "Password:"
  o = x.respond("c2VjcmV0");            // "secret"
  ASSERT_EQ(o.kind, SaslOutcome::Kind::kOk);
  EXPECT_EQ(o.user, "alice");
  EXPECT_EQ(policy.failures, 0);
}

TEST_F(SaslTest, ExchangeInitialResponseAndEveryRefusalInTheProtocolsWording) {
  auto s = server(true);
  ASSERT_TRUE(s);
  CountingPolicy policy;
  SaslExchange x(test_wording(), &policy);
  auto bad = x.take_initial(std::string_view("not base64!"));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->kind, SaslOutcome::Kind::kRefused);
  EXPECT_EQ(bad->line, "BAD-INITIAL");

  EXPECT_EQ(x.start(*s, "X-NO-SUCH").line, "NO-MECH");
  EXPECT_EQ(policy.failures, 0);

  // "\0alice\0wrong": refused, counted once, libsasl2's reason in the line.
  ASSERT_FALSE(x.take_initial(std::string_view("AGFsaWNlAHdyb25n")));
  SaslOutcome o = x.start(*s, "PLAIN");
  EXPECT_EQ(o.kind, SaslOutcome::Kind::kFailed);
  EXPECT_EQ(o.line, "FAILED: " + o.reason);
  EXPECT_FALSE(o.reason.empty());
  EXPECT_EQ(policy.failures, 1);

  // A take_initial() serves one start() only.
  ASSERT_EQ(x.start(*s, "PLAIN").kind, SaslOutcome::Kind::kChallenge);
  EXPECT_EQ(x.respond("*").line, "CANCELLED");
  ASSERT_EQ(x.start(*s, "PLAIN").kind, SaslOutcome::Kind::kChallenge);
  EXPECT_EQ(x.respond("%%%").line, "BAD-RESPONSE");
  ASSERT_EQ(x.start(*s, "PLAIN").kind, SaslOutcome::Kind::kChallenge);
  o = x.respond("AGFsaWNlAHNlY3JldA==");  // "\0alice\0secret"
  EXPECT_EQ(o.kind, SaslOutcome::Kind::kOk);
  EXPECT_EQ(o.user, "alice");
  EXPECT_EQ(policy.failures, 1);
}

TEST_F(SaslTest, PasswordCheckIsPlainWithoutAuthorisationIdentity) {
  auto s = server(true);
  ASSERT_TRUE(s);
  EXPECT_EQ(sasl_check_password(*s, "alice", "secret").kind, SaslStep::Kind::kOk);
  EXPECT_EQ(s->username(), "alice");
  EXPECT_NE(sasl_check_password(*s, "alice", "nope").kind, SaslStep::Kind::kOk);
}

TEST(SaslIpPort, NotASocket) { EXPECT_EQ(sasl_ip_port(-1, true), ""); }

}  // namespace
}  // namespace replimail::net
