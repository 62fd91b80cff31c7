// Certificates for the TLS tests, made at test time with openssl(1) in a
// directory of the test's own: a CA, a server certificate it signed for
// 127.0.0.1 and localhost, one it signed for another name, a client
// certificate it signed, and a second,
// unrelated CA (one that must not be trusted). World-readable, so that a
// Cyrus peer running as the cyrus user can read them too.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "harness.h"

namespace replimail::testing {

struct TestCerts {
  std::string ca;           // the CA's certificate (PEM)
  std::string server_cert;  // signed by `ca`, subjectAltName IP:127.0.0.1, DNS:localhost
  std::string server_key;
  std::string misnamed_cert;  // signed by `ca`, for replica.invalid only
  std::string misnamed_key;
  // signed by `ca` for IP:127.0.0.1, server and client use: etcd with
  // --client-cert-auth presents its server certificate to its own gRPC
  // port as the client certificate of its JSON gateway.
  std::string dual_cert;
  std::string dual_key;
  std::string client_cert;  // signed by `ca`, CN=replimail-primary
  std::string client_key;
  std::string other_ca;  // a CA that signed none of these
  std::string error;     // "" when every file was made
};

// Makes the files under `dir` (which must exist).
TestCerts make_test_certs(const std::string& dir);

// A fixture whose certs_ are made, in a directory of its own, before each
// test.
class TestWithCerts : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = make_test_certs(dir_.path());
    ASSERT_EQ(certs_.error, "");
  }
  TempDir dir_;
  TestCerts certs_;
};

}  // namespace replimail::testing
