// The endpoints and TLS/auth options of etcd (cluster/etcd_settings.h): what
// a cluster program refuses at start, naming the option.
#include "cluster/etcd_settings.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace replimail::cluster {
namespace {

// Writes a fresh P-256 key and a self-signed certificate for it as PEM.
void write_key_and_cert(const std::string& key_path, const std::string& cert_path) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  ASSERT_NE(cert, nullptr);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("etcd test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
  FILE* k = std::fopen(key_path.c_str(), "w");
  FILE* c = std::fopen(cert_path.c_str(), "w");
  ASSERT_TRUE(k && c);
  EXPECT_EQ(PEM_write_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  EXPECT_EQ(PEM_write_X509(c, cert), 1);
  std::fclose(k);
  std::fclose(c);
  X509_free(cert);
  EVP_PKEY_free(key);
}

class EtcdSettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/etcd_settings_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    write_key_and_cert(dir_ + "/a.key", dir_ + "/a.pem");
    write_key_and_cert(dir_ + "/b.key", dir_ + "/b.pem");
    std::ofstream(dir_ + "/junk.pem") << "not a certificate\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // etcd_settings() of an imapd.conf with `lines`.
  Result<EtcdSettings> settings(const std::string& lines) {
    auto config = Config::parse(lines, "imapd.conf");
    EXPECT_TRUE(config.ok());
    return etcd_settings(*config);
  }
  // The kConfigError message of `lines` ("" when they pass).
  std::string refusal(const std::string& lines) {
    auto s = settings(lines);
    if (s.ok()) return "";
    EXPECT_EQ(s.status().code(), Code::kConfigError) << s.status().to_string();
    return s.status().message();
  }
  std::string https() { return "cluster_etcd_endpoints: https://127.0.0.1:2379\n"; }
  std::string dir_;
};

TEST(EtcdEndpoints, SchemesAndPorts) {
  auto eps = parse_endpoints("https://10.0.0.1:2379, https://[::1] https://etcd.example/");
  ASSERT_TRUE(eps.ok()) << eps.status().to_string();
  ASSERT_EQ(eps->size(), 3u);
  EXPECT_TRUE((*eps)[0].tls);
  EXPECT_EQ((*eps)[0].host, "10.0.0.1");
  EXPECT_EQ((*eps)[1].host, "::1");
  EXPECT_EQ((*eps)[1].port, 2379);
  EXPECT_EQ((*eps)[2].host, "etcd.example");
  auto plain = parse_endpoints("10.0.0.1:2380 http://b");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)[0].tls);
  EXPECT_FALSE((*plain)[1].tls);
  EXPECT_EQ((*plain)[0].port, 2380);
}

TEST(EtcdEndpoints, BadOnesNameTheOption) {
  for (const char* text : {"https://a:2379,http://b:2379", "a:2379 https://b:2379", "ftp://a:2379",
                           "https://a:0", "https://:2379", ""}) {
    auto eps = parse_endpoints(text);
    ASSERT_FALSE(eps.ok()) << text;
    EXPECT_EQ(eps.status().code(), Code::kConfigError);
    EXPECT_NE(eps.status().message().find("cluster_etcd_endpoints"), std::string::npos)
        << eps.status().message();
  }
}

TEST_F(EtcdSettingsTest, GoodFilesPass) {
  auto s = settings(https() + "cluster_etcd_cacert: " + dir_ + "/b.pem\n" +
                    "cluster_etcd_cert: " + dir_ + "/a.pem\ncluster_etcd_key: " + dir_ +
                    "/a.key\ncluster_etcd_user: app\ncluster_etcd_password: pw\n");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_TRUE(s->tls());
  EXPECT_EQ(s->credentials.ca_file, dir_ + "/b.pem");
  EXPECT_EQ(s->credentials.user, "app");
  EXPECT_EQ(s->credentials.password, "pw");
  // Plain http with a user: etcd's auth without TLS is allowed.
  EXPECT_EQ(refusal("cluster_etcd_endpoints: a:2379\ncluster_etcd_user: app\n"
                    "cluster_etcd_password: pw\n"),
            "");
  EXPECT_EQ(refusal("cluster_etcd_endpoints: a:2379\n"), "");
}

TEST_F(EtcdSettingsTest, TlsOptionsNeedHttps) {
  for (const char* option : {"cluster_etcd_cacert", "cluster_etcd_cert", "cluster_etcd_key"}) {
    std::string why = refusal("cluster_etcd_endpoints: http://a:2379\n" + std::string(option) +
                              ": " + dir_ + "/a.pem\n");
    EXPECT_NE(why.find(option), std::string::npos) << why;
    EXPECT_NE(why.find("https://"), std::string::npos) << why;
  }
  EXPECT_NE(refusal("").find("cluster_etcd_endpoints is not set"), std::string::npos);
}

TEST_F(EtcdSettingsTest, PairsGoTogether) {
  EXPECT_NE(refusal(https() + "cluster_etcd_cert: " + dir_ + "/a.pem\n").find("cluster_etcd_key"),
            std::string::npos);
  EXPECT_NE(refusal(https() + "cluster_etcd_key: " + dir_ + "/a.key\n").find("cluster_etcd_cert"),
            std::string::npos);
  EXPECT_NE(refusal(https() + "cluster_etcd_user: app\n").find("cluster_etcd_password"),
            std::string::npos);
  EXPECT_NE(refusal(https() + "cluster_etcd_password: pw\n").find("cluster_etcd_user"),
            std::string::npos);
}

TEST_F(EtcdSettingsTest, BadFilesAreNamed) {
  std::string why = refusal(https() + "cluster_etcd_cacert: " + dir_ + "/missing.pem\n");
  EXPECT_NE(why.find("cluster_etcd_cacert: " + dir_ + "/missing.pem"), std::string::npos) << why;
  EXPECT_NE(why.find("No such file"), std::string::npos) << why;
  why = refusal(https() + "cluster_etcd_cacert: " + dir_ + "/junk.pem\n");
  EXPECT_NE(why.find("cluster_etcd_cacert"), std::string::npos) << why;
  why = refusal(https() + "cluster_etcd_cert: " + dir_ + "/junk.pem\ncluster_etcd_key: " + dir_ +
                "/a.key\n");
  EXPECT_NE(why.find("cluster_etcd_cert:"), std::string::npos) << why;
  why = refusal(https() + "cluster_etcd_cert: " + dir_ + "/a.pem\ncluster_etcd_key: " + dir_ +
                "/junk.pem\n");
  EXPECT_NE(why.find("cluster_etcd_key:"), std::string::npos) << why;
  why = refusal(https() + "cluster_etcd_cert: " + dir_ + "/a.pem\ncluster_etcd_key: " + dir_ +
                "/missing.key\n");
  EXPECT_NE(why.find("cluster_etcd_key: " + dir_ + "/missing.key"), std::string::npos) << why;
  // b's key is not a.pem's.
  why = refusal(https() + "cluster_etcd_cert: " + dir_ + "/a.pem\ncluster_etcd_key: " + dir_ +
                "/b.key\n");
  EXPECT_NE(why.find("is not the key of cluster_etcd_cert"), std::string::npos) << why;
}

}  // namespace
}  // namespace replimail::cluster
