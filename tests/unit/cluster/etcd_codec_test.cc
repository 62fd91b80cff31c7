// The etcd JSON gateway's bodies and answers, as etcd 3.4 writes them
// (answers copied from a real etcd 3.4.23's gateway).
#include "cluster/etcd_codec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/base64.h"

namespace replimail::cluster {
namespace {

using json = nlohmann::json;

TEST(EtcdCodec, PrefixEndIncrementsTheLastByteBelow0xff) {
  EXPECT_EQ(prefix_end("/replimail/slots/"), "/replimail/slots0");
  EXPECT_EQ(prefix_end("a\xff"), "b");
  EXPECT_EQ(prefix_end(std::string("\xff\xff")), std::string(1, '\0'));
  EXPECT_EQ(prefix_end(""), std::string(1, '\0'));
}

TEST(EtcdCodec, RequestsCarryKeysAndValuesInBase64AndInt64AsStrings) {
  json put = json::parse(put_request("/k", "v\n", 7587));
  EXPECT_EQ(put["key"], base64_encode("/k"));
  EXPECT_EQ(put["value"], base64_encode("v\n"));
  EXPECT_EQ(put["lease"], "7587");
  EXPECT_FALSE(json::parse(put_request("/k", "v")).contains("lease"));

  json range = json::parse(range_request("/p/", prefix_end("/p/")));
  EXPECT_EQ(range["key"], base64_encode("/p/"));
  EXPECT_EQ(range["range_end"], base64_encode("/p0"));
  EXPECT_FALSE(json::parse(range_request("/k")).contains("range_end"));

  EXPECT_EQ(json::parse(lease_grant_request(10))["TTL"], "10");
  EXPECT_EQ(json::parse(lease_id_request(42))["ID"], "42");

  json w = json::parse(watch_create_request("/k", "", 15));
  EXPECT_EQ(w["create_request"]["key"], base64_encode("/k"));
  EXPECT_EQ(w["create_request"]["start_revision"], "15");
  EXPECT_FALSE(w["create_request"].contains("range_end"));
}

TEST(EtcdCodec, TxnRequestNamesTargetsResultsAndOperationsAsTheGatewayWants) {
  Txn t;
  t.compare.push_back({"/u/alice", Compare::Target::kMod, Compare::Result::kEqual, 0, ""});
  t.compare.push_back({"/x", Compare::Target::kValue, Compare::Result::kNotEqual, 0, "old"});
  t.success.push_back({TxnOp::Kind::kPut, "/u/alice", "{}", "", 5});
  t.failure.push_back({TxnOp::Kind::kRange, "/u/alice", "", "", 0});
  t.failure.push_back({TxnOp::Kind::kDelete, "/b/", "", "/b0", 0});
  json j = json::parse(txn_request(t));
  EXPECT_EQ(j["compare"][0]["target"], "MOD");
  EXPECT_EQ(j["compare"][0]["result"], "EQUAL");
  EXPECT_EQ(j["compare"][0]["mod_revision"], "0");
  EXPECT_EQ(j["compare"][1]["target"], "VALUE");
  EXPECT_EQ(j["compare"][1]["result"], "NOT_EQUAL");
  EXPECT_EQ(j["compare"][1]["value"], base64_encode("old"));
  EXPECT_EQ(j["success"][0]["request_put"]["lease"], "5");
  EXPECT_TRUE(j["failure"][0].contains("request_range"));
  EXPECT_EQ(j["failure"][1]["request_delete_range"]["range_end"], base64_encode("/b0"));
}

TEST(EtcdCodec, RangeAnswersAreDecoded) {
  // etcd 3.4.23: curl -d '{"key":"L2Zvbw=="}' localhost:2379/v3/kv/range
  auto r = parse_range_response(
      R"({"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437",)"
      R"("revision":"9","raft_term":"2"},"kvs":[{"key":"L2Zvbw==","create_revision":"8",)"
      R"("mod_revision":"9","version":"2","value":"YmFy","lease":"7587869120286423829"}],"count":"1"})");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->revision, 9);
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].key, "/foo");
  EXPECT_EQ(r->kvs[0].value, "bar");
  EXPECT_EQ(r->kvs[0].create_revision, 8);
  EXPECT_EQ(r->kvs[0].mod_revision, 9);
  EXPECT_EQ(r->kvs[0].version, 2);
  EXPECT_EQ(r->kvs[0].lease, 7587869120286423829);
  // Nothing found: the gateway leaves "kvs" and "count" out.
  auto empty = parse_range_response(R"({"header":{"revision":"9"}})");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->kvs.empty());
}

TEST(EtcdCodec, MalformedAnswersAreProtocolErrorsNotValues) {
  EXPECT_EQ(parse_range_response("not json").status().code(), Code::kProtocolError);
  EXPECT_EQ(parse_range_response("[]").status().code(), Code::kProtocolError);
  EXPECT_EQ(parse_range_response(R"({"kvs":[{"key":"***"}]})").status().code(),
            Code::kProtocolError);
  EXPECT_EQ(
      parse_range_response(R"({"kvs":[{"key":"L2Zvbw==","mod_revision":"x9"}]})").status().code(),
      Code::kProtocolError);
  EXPECT_EQ(parse_range_response(R"({"kvs":{}})").status().code(), Code::kProtocolError);
}

TEST(EtcdCodec, GatewayErrorsSayWhetherToRetry) {
  auto no_leader = parse_put_response(
      R"({"error":"etcdserver: no leader","code":14,"message":"etcdserver: no leader"})");
  EXPECT_EQ(no_leader.status().code(), Code::kAgain);
  EXPECT_NE(no_leader.status().message().find("no leader"), std::string::npos);
  auto lease = parse_put_response(R"({"error":"etcdserver: requested lease not found","code":5})");
  EXPECT_EQ(lease.status().code(), Code::kNotFound);
  auto bad = parse_put_response(R"({"error":"etcdserver: key is not provided","code":3})");
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
}

// etcd 3.4.23's answers, as the gateway sent them.
TEST(EtcdCodec, AuthenticationAndAnExpiredToken) {
  auto req = authenticate_request("app", "p\"w");
  EXPECT_EQ(req, R"({"name":"app","password":"p\"w"})");
  auto token = parse_authenticate_response(
      R"({"header":{"cluster_id":"1","member_id":"2","revision":"1","raft_term":"2"},)"
      R"("token":"NtVMrVLdSnrqwrIL.14"})");
  ASSERT_TRUE(token.ok()) << token.status().to_string();
  EXPECT_EQ(*token, "NtVMrVLdSnrqwrIL.14");
  EXPECT_EQ(parse_authenticate_response(R"({"header":{}})").status().code(), Code::kProtocolError);
  auto refused = parse_authenticate_response(
      R"({"error":"etcdserver: authentication failed, invalid user ID or password",)"
      R"("message":"etcdserver: authentication failed, invalid user ID or password","code":3})");
  EXPECT_EQ(refused.status().code(), Code::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("invalid user ID or password"), std::string::npos);
  // HTTP 401: the token expired (--auth-token-ttl) or was never etcd's.
  auto expired = parse_range_response(
      R"({"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token",)"
      R"("code":16})");
  EXPECT_EQ(expired.status().code(), Code::kPermissionDenied);
  EXPECT_NE(expired.status().message().find("invalid auth token"), std::string::npos);
}

TEST(EtcdCodec, TxnLeaseAndKeepaliveAnswers) {
  auto t = parse_txn_response(
      R"({"header":{"revision":"12"},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"12"}}}]})");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->succeeded);
  EXPECT_EQ(t->revision, 12);
  // A failed compare: "succeeded" is false, so the gateway leaves it out.
  auto f = parse_txn_response(
      R"({"header":{"revision":"12"},"responses":[{"response_range":{"header":{"revision":"12"},"kvs":[{"key":"L2Zvbw==","value":"YmFy","mod_revision":"11"}],"count":"1"}}]})");
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->succeeded);
  ASSERT_EQ(f->ranges.size(), 1u);
  EXPECT_EQ(f->ranges[0].kvs[0].mod_revision, 11);

  auto g = parse_lease_grant_response(
      R"({"header":{"revision":"3"},"ID":"7587869120286423829","TTL":"10"})");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->id, 7587869120286423829);
  EXPECT_EQ(g->ttl, 10);
  EXPECT_FALSE(parse_lease_grant_response(R"({"header":{}})").ok());

  auto k = parse_keepalive_response(
      R"({"result":{"header":{"revision":"3"},"ID":"7587869120286423829","TTL":"10"}})");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(*k, 10);
  // An expired lease: TTL left out (0).
  auto gone = parse_keepalive_response(
      R"({"result":{"header":{"revision":"3"},"ID":"7587869120286423829"}})");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(*gone, 0);
}

TEST(EtcdCodec, WatchMessagesCarryPutsAndDeletes) {
  auto created = parse_watch_message(R"({"result":{"header":{"revision":"20"},"created":true}})");
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->revision, 20);
  auto ev = parse_watch_message(
      R"({"result":{"header":{"revision":"22"},"events":[{"kv":{"key":"L2Zvbw==","create_revision":"21","mod_revision":"21","version":"1","value":"YmFy"}},)"
      R"({"type":"DELETE","kv":{"key":"L2Zvbw==","mod_revision":"22"}}]}})");
  ASSERT_TRUE(ev.ok()) << ev.status().to_string();
  ASSERT_EQ(ev->events.size(), 2u);
  EXPECT_EQ(ev->events[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(ev->events[0].kv.value, "bar");
  EXPECT_EQ(ev->events[1].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(ev->events[1].kv.key, "/foo");
  auto compacted = parse_watch_message(
      R"({"result":{"header":{"revision":"30"},"canceled":true,"compact_revision":"25"}})");
  ASSERT_TRUE(compacted.ok());
  EXPECT_EQ(compacted->compact_revision, 25);
  EXPECT_FALSE(parse_watch_message(R"({"result":{"events":[{"type":"DELETE"}]}})").ok());
}

}  // namespace
}  // namespace replimail::cluster
