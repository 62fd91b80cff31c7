// mailauthd's answers to nginx (cluster/auth_http.h) over a fake backend.
#include "cluster/auth_http.h"

#include <gtest/gtest.h>

#include <map>

namespace replimail::cluster {
namespace {

class FakeBackend : public AuthBackend {
 public:
  std::map<std::string, std::string> passwords = {{"alice", "secret"}, {"bob", "pw"}};
  std::map<std::string, Result<SlotInfo>> routes;
  std::map<std::string, Result<std::optional<MoveRecord>>> moves;
  bool sasl_down = false;
  int routed = 0;

  Result<std::string> check_password(const AuthRequest& req) override {
    if (sasl_down) return Status(Code::kIoError, "sasl down");
    auto it = passwords.find(req.user);
    if (it == passwords.end() || it->second != req.password)
      return Status(Code::kPermissionDenied, "authentication failure");
    return req.user;
  }
  Result<std::optional<MoveRecord>> move(std::string_view user) override {
    auto it = moves.find(std::string(user));
    if (it == moves.end()) return std::optional<MoveRecord>();
    return it->second;
  }
  Result<SlotInfo> route(std::string_view user) override {
    ++routed;
    auto it = routes.find(std::string(user));
    if (it == routes.end()) return Status(Code::kNotFound, "no user");
    return it->second;
  }
  Result<std::string> address_of(const std::string& host) override {
    if (host == "unresolvable") return Status(Code::kNotFound, "no address");
    return host;
  }
};

SlotInfo slot(std::string name, std::string host, int imap, int pop3) {
  SlotInfo s;
  s.name = std::move(name);
  s.host = std::move(host);
  s.imap_port = imap;
  s.pop3_port = pop3;
  return s;
}

std::map<std::string, std::string> headers(const AuthAnswer& a) {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : a.headers) m[k] = v;
  return m;
}

AuthRequest request(std::string user, std::string pass, std::string protocol = "imap") {
  AuthRequest r;
  r.method = "plain";
  r.user = std::move(user);
  r.password = std::move(pass);
  r.protocol = std::move(protocol);
  return r;
}

TEST(AuthHttp, AGoodPasswordIsSentToThePrimarySlotsPortOfTheProtocol) {
  FakeBackend b;
  b.routes.emplace("alice", slot("s1", "10.0.0.1", 1143, 1110));
  auto imap = headers(decide_auth(request("alice", "secret"), b, {}));
  EXPECT_EQ(imap["Auth-Status"], "OK");
  EXPECT_EQ(imap["Auth-Server"], "10.0.0.1");
  EXPECT_EQ(imap["Auth-Port"], "1143");
  EXPECT_EQ(imap.count("Auth-Wait"), 0u);
  auto pop = headers(decide_auth(request("alice", "secret", "pop3"), b, {}));
  EXPECT_EQ(pop["Auth-Port"], "1110");
}

TEST(AuthHttp, ABadPasswordIsRefusedWithAWaitAndNeverRouted) {
  FakeBackend b;
  b.routes.emplace("alice", slot("s1", "10.0.0.1", 1143, 0));
  AuthPolicy p;
  p.failed_pause = std::chrono::seconds(4);
  auto h = headers(decide_auth(request("alice", "wrong"), b, p));
  EXPECT_EQ(h["Auth-Status"], "Invalid login or password");
  EXPECT_EQ(h["Auth-Wait"], "4");
  EXPECT_EQ(h.count("Auth-Server"), 0u);
  EXPECT_EQ(b.routed, 0);
  // After max_attempts nginx is told to give up (no Auth-Wait).
  AuthRequest last = request("alice", "wrong");
  last.attempt = p.max_attempts;
  EXPECT_EQ(headers(decide_auth(last, b, p)).count("Auth-Wait"), 0u);
}

TEST(AuthHttp, AUserNotInTheDirectoryIsAnErrorWithoutRetry) {
  FakeBackend b;
  auto h = headers(decide_auth(request("bob", "pw"), b, {}));
  EXPECT_NE(h["Auth-Status"], "OK");
  EXPECT_EQ(h.count("Auth-Server"), 0u);
  EXPECT_EQ(h.count("Auth-Wait"), 0u);
}

TEST(AuthHttp, APrimarySlotNotAliveOrSaslDownIsTemporary) {
  FakeBackend b;
  b.routes.emplace("bob", Result<SlotInfo>(Status(Code::kAgain, "slot s1 not alive")));
  auto h = headers(decide_auth(request("bob", "pw"), b, {}));
  EXPECT_EQ(h["Auth-Status"], "Temporary server problem, try again later");
  EXPECT_EQ(h["Auth-Wait"], "2");
  b.sasl_down = true;
  auto s = headers(decide_auth(request("bob", "pw"), b, {}));
  EXPECT_EQ(s["Auth-Status"], "Temporary server problem, try again later");
  // A slot without the protocol's service, or a host without an address.
  FakeBackend c;
  c.routes.emplace("alice", slot("s1", "10.0.0.1", 1143, 0));
  EXPECT_NE(headers(decide_auth(request("alice", "secret", "pop3"), c, {}))["Auth-Status"], "OK");
  c.routes.erase("alice");
  c.routes.emplace("alice", slot("s1", "unresolvable", 1143, 0));
  EXPECT_NE(headers(decide_auth(request("alice", "secret"), c, {}))["Auth-Status"], "OK");
}

MoveRecord move_in(MovePhase phase) {
  MoveRecord m;
  m.user = "alice";
  m.source = "s1";
  m.target = "s2";
  m.phase = phase;
  return m;
}

TEST(AuthHttp, AUserWhoseMoveIsFencedOrSwitchedWaitsAndIsNeverRouted) {
  FakeBackend b;
  b.routes.emplace("alice", slot("s1", "10.0.0.1", 1143, 1110));
  AuthPolicy p;
  p.moving_pause = std::chrono::seconds(1);
  for (MovePhase phase : {MovePhase::kFenced, MovePhase::kSwitched}) {
    b.moves.insert_or_assign("alice", std::optional<MoveRecord>(move_in(phase)));
    auto h = headers(decide_auth(request("alice", "secret"), b, p));
    EXPECT_EQ(h["Auth-Status"], "Temporary server problem, try again later");
    EXPECT_EQ(h["Auth-Wait"], "1");
    EXPECT_EQ(h.count("Auth-Server"), 0u);
  }
  // A record that does not decode counts as fenced.
  b.moves.insert_or_assign(
      "alice", Result<std::optional<MoveRecord>>(Status(Code::kProtocolError, "bad move value")));
  auto bad = headers(decide_auth(request("alice", "secret"), b, p));
  EXPECT_EQ(bad["Auth-Status"], "Temporary server problem, try again later");
  EXPECT_EQ(bad.count("Auth-Wait"), 1u);
  EXPECT_EQ(b.routed, 0);
  // A bad password is a bad password, moving or not.
  EXPECT_EQ(headers(decide_auth(request("alice", "wrong"), b, p))["Auth-Status"],
            "Invalid login or password");
  // Still copying: routed to the primary as usual.
  b.moves.insert_or_assign("alice", std::optional<MoveRecord>(move_in(MovePhase::kCopying)));
  auto copying = headers(decide_auth(request("alice", "secret"), b, p));
  EXPECT_EQ(copying["Auth-Status"], "OK");
  EXPECT_EQ(copying["Auth-Server"], "10.0.0.1");
}

TEST(AuthHttp, UnsupportedMethodsAndProtocolsAreRefused) {
  FakeBackend b;
  b.routes.emplace("alice", slot("s1", "10.0.0.1", 1143, 1110));
  AuthRequest apop = request("alice", "secret");
  apop.method = "apop";
  EXPECT_NE(headers(decide_auth(apop, b, {}))["Auth-Status"], "OK");
  EXPECT_NE(headers(decide_auth(request("alice", "secret", "smtp"), b, {}))["Auth-Status"], "OK");
}

TEST(AuthHttp, RequestsAreReadFromNginxsHeaders) {
  std::map<std::string, std::string> h = {{"Auth-Method", "plain"},    {"Auth-User", "al%20ice"},
                                          {"Auth-Pass", "p%25w%0D"},   {"Auth-Protocol", "IMAP"},
                                          {"Auth-Login-Attempt", "3"}, {"Client-IP", "192.0.2.7"}};
  auto get = [&](std::string_view name) {
    auto it = h.find(std::string(name));
    return it == h.end() ? std::string() : it->second;
  };
  auto r = parse_auth_request(get);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->user, "al ice");
  EXPECT_EQ(r->password, "p%w\r");
  EXPECT_EQ(r->protocol, "imap");
  EXPECT_EQ(r->attempt, 3);
  EXPECT_EQ(r->client_ip, "192.0.2.7");
  h["Auth-Pass"] = "bad%2";
  EXPECT_FALSE(parse_auth_request(get).ok());
  h["Auth-Pass"] = "x";
  h["Auth-Login-Attempt"] = "zero";
  EXPECT_FALSE(parse_auth_request(get).ok());
  h.erase("Auth-Login-Attempt");
  h.erase("Auth-Protocol");
  EXPECT_FALSE(parse_auth_request(get).ok());
  EXPECT_EQ(percent_decode("%zz"), std::nullopt);
  EXPECT_EQ(percent_decode("a%"), std::nullopt);
}

}  // namespace
}  // namespace replimail::cluster
