// What the replication fixtures share beyond harness.h: one sync_client run
// for a user, as sync_test, sync_tls_test and tls_client_certs_test run it.
#pragma once

#include <string>
#include <vector>

#include "harness.h"

namespace replimail::testing {

// `sync_client -v -S <host> extra... -u <user>` run on `from`; `host` is
// "addr:port" (or Cyrus's TLS forms), or `to`'s sync_server on 127.0.0.1.
RunResult sync_user(const Instance& from, const std::string& host, const std::string& user,
                    const std::vector<std::string>& extra = {});
RunResult sync_user(const Instance& from, const Instance& to, const std::string& user,
                    const std::vector<std::string>& extra = {});

}  // namespace replimail::testing
