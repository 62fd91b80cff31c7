#include "test_certs.h"

#include <sys/stat.h>

#include <fstream>
#include <vector>

#include "harness.h"

namespace replimail::testing {
namespace {

// Runs openssl with `args`; "" on success.
std::string openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run(argv);
  return r.ok() ? "" : r.describe();
}

// A P-256 key and a certificate for `cn`, self-signed (a CA) when
// `ca_cert` is empty, else signed by it with `ext` as its extensions.
std::string make(const std::string& dir, const std::string& name, const std::string& cn,
                 const std::string& ca_cert, const std::string& ca_key, const std::string& ext) {
  std::string key = dir + "/" + name + ".key", cert = dir + "/" + name + ".pem";
  std::vector<std::string> common = {
      "-newkey", "ec",    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
      key,       "-subj", "/CN=" + cn};
  std::string err;
  if (ca_cert.empty()) {
    std::vector<std::string> args = {"req", "-x509", "-days", "2", "-out", cert};
    args.insert(args.end(), common.begin(), common.end());
    args.insert(args.end(), {"-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                             "keyUsage=critical,keyCertSign,cRLSign"});
    err = openssl(args);
  } else {
    std::string csr = dir + "/" + name + ".csr", extfile = dir + "/" + name + ".ext";
    std::ofstream(extfile) << ext << "\n";
    std::vector<std::string> args = {"req", "-out", csr};
    args.insert(args.end(), common.begin(), common.end());
    err = openssl(args);
    if (err.empty())
      err = openssl({"x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
                     "-CAcreateserial", "-days", "2", "-out", cert, "-extfile", extfile});
  }
  ::chmod(key.c_str(), 0644);
  ::chmod(cert.c_str(), 0644);
  return err;
}

}  // namespace

TestCerts make_test_certs(const std::string& dir) {
  TestCerts c;
  c.ca = dir + "/ca.pem";
  c.server_cert = dir + "/server.pem";
  c.server_key = dir + "/server.key";
  c.misnamed_cert = dir + "/misnamed.pem";
  c.misnamed_key = dir + "/misnamed.key";
  c.dual_cert = dir + "/dual.pem";
  c.dual_key = dir + "/dual.key";
  c.client_cert = dir + "/client.pem";
  c.client_key = dir + "/client.key";
  c.other_ca = dir + "/other-ca.pem";
  std::string ca_key = dir + "/ca.key";
  for (const std::string& err :
       {make(dir, "ca", "replimail test CA", "", "", ""),
        make(dir, "server", "localhost", c.ca, ca_key,
             "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
        make(dir, "misnamed", "replica.invalid", c.ca, ca_key,
             "subjectAltName=DNS:replica.invalid\nextendedKeyUsage=serverAuth"),
        make(dir, "dual", "127.0.0.1", c.ca, ca_key,
             "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth"),
        make(dir, "client", "replimail-primary", c.ca, ca_key, "extendedKeyUsage=clientAuth"),
        make(dir, "other-ca", "some other CA", "", "", "")}) {
    if (!err.empty() && c.error.empty()) c.error = err;
  }
  return c;
}

}  // namespace replimail::testing
