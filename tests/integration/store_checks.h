// Checks of what a delivery left in the store, from outside the server:
// every live record's file exists, its SHA-1 is the record's GUID, its size
// the record's SIZE, and it ends with exactly the bytes the client sent.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness.h"

namespace replimail::testing {

struct StoredMessages {
  // One line per fault found; empty when the mailbox is consistent.
  std::vector<std::string> problems;
  // X-Test-Id of each live record -> its UID.
  std::map<std::string, uint32_t> by_test_id;
};

// `sent` is lmtp_deliver.py's "sent" object: {test id: [size, sha1]}. A
// record whose message carries no known X-Test-Id, two records of one id, a
// message file without a live record, or a record without its file are all
// problems.
StoredMessages check_stored_messages(const Instance::Snapshot& snap, const nlohmann::json& sent);

// The value of the X-Test-Id header in a message's text ("" if none).
std::string test_id_of(const std::string& message);

}  // namespace replimail::testing
