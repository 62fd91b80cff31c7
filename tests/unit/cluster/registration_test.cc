// clusterd's slot description and the cluster options (cluster/registration.h).
#include "cluster/registration.h"

#include <gtest/gtest.h>

namespace replimail::cluster {
namespace {

TEST(SlotRegistration, PortsComeFromCyrusConfsServices) {
  auto conf = master::parse_cyrus_conf(R"(SERVICES {
  imap cmd="imapd" listen="10.0.0.5:1143"
  imaps cmd="imapd -s" listen="10.0.0.5:1993"
  pop3 cmd="pop3d" listen="10.0.0.5:1110"
  lmtp cmd="lmtpd -a" listen="10.0.0.5:2003"
  lmtpunix cmd="lmtpd" listen="/tmp/lmtp.sock"
  sync cmd="/usr/lib/replimail/sync_server" listen="10.0.0.5:2005"
}
)",
                                       "cyrus.conf");
  ASSERT_TRUE(conf.ok()) << conf.status().to_string();
  ClusterOptions o;
  o.slot = "s1";
  o.role = "primary";
  auto s = slot_info(o, *conf);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->host, "10.0.0.5");
  EXPECT_EQ(s->imap_port, 1143);
  EXPECT_EQ(s->pop3_port, 1110);
  EXPECT_EQ(s->lmtp_port, 2003);
  EXPECT_EQ(s->sync_port, 2005);
  o.host = "mail1.example.org";
  EXPECT_EQ(slot_info(o, *conf)->host, "mail1.example.org");
  // A wildcard listen names no address: cluster_slot_host is needed.
  auto any = master::parse_cyrus_conf("SERVICES {\n imap cmd=\"imapd\" listen=\"1143\"\n}\n", "c");
  ASSERT_TRUE(any.ok());
  o.host.clear();
  EXPECT_EQ(slot_info(o, *any).status().code(), Code::kConfigError);
}

TEST(SlotRegistration, OptionsAreCheckedAtStartUp) {
  auto cfg = [](const std::string& text) { return *Config::parse(text, "imapd.conf"); };
  EXPECT_EQ(cluster_options(cfg(""), false).status().code(), Code::kConfigError);
  auto ok = cluster_options(cfg("cluster_etcd_endpoints: http://a:2379,b:2380\n"
                                "cluster_slot_name: s1\ncluster_lease_ttl: 6\n"),
                            true);
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(ok->prefix, "/replimail/");
  EXPECT_EQ(ok->role, "primary");
  EXPECT_EQ(ok->ttl.count(), 6);
  EXPECT_FALSE(cluster_options(cfg("cluster_etcd_endpoints: a:2379\n"), true).ok());
  EXPECT_FALSE(
      cluster_options(cfg("cluster_etcd_endpoints: a:x\ncluster_slot_name: s\n"), true).ok());
  EXPECT_FALSE(
      cluster_options(cfg("cluster_etcd_endpoints: https://a:2379,http://b:2379\n"), false).ok());
  EXPECT_FALSE(
      cluster_options(cfg("cluster_etcd_endpoints: a:1\ncluster_slot_role: leader\n"), false).ok());
  auto eps = parse_endpoints("http://127.0.0.1:2379, [::1]:2479 host");
  ASSERT_TRUE(eps.ok());
  ASSERT_EQ(eps->size(), 3u);
  EXPECT_EQ((*eps)[1].host, "::1");
  EXPECT_EQ((*eps)[1].port, 2479);
  EXPECT_EQ((*eps)[2].port, 2379);
}

}  // namespace
}  // namespace replimail::cluster
