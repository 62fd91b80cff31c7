// The one comparison of two instances: cyr_digest (store/digest.h) run on
// each, compared line by line. Every test that compares a primary with a
// replica ends with it, so no test checks only a subset of the state.
// same_mailbox() adds what the digest leaves out on purpose (file paths):
// the replica's message files against its records.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "harness.h"

namespace replimail::testing {

// `cyr_digest -C <imapd.conf> args...` of `inst`; `error` set if it failed.
struct Digest {
  std::string error;
  std::vector<std::string> lines;  // the hash line included, last
};
Digest digest_of(const Instance& inst, const std::vector<std::string>& args = {});

// Which digest lines a comparison leaves out.
enum class DigestLines {
  kAll,
  // The records of expunged messages: after a split brain each side keeps
  // its own expunged copy of the conflicting UID, as Cyrus's replica does
  // (live messages, counters and CRCs are still compared in full).
  kLiveOnly,
};

// Success if both instances' digests (with the same `args`, e.g. {"-u",
// "alice"}) are equal; otherwise a message listing the lines only the
// primary has ("- ") and only the replica has ("+ ").
::testing::AssertionResult same_digest(const Instance& primary, const Instance& replica,
                                       const std::vector<std::string>& args = {},
                                       DigestLines which = DigestLines::kAll);

// The message files of `mailbox` on `inst`: every live record's file exists
// and its SHA-1 is the record's GUID, and no other message file is there
// (one file per live message).
::testing::AssertionResult files_match_records(const Instance& inst, const std::string& mailbox);

// One mailbox on both sides: same_digest(-m mailbox) and the replica's
// files_match_records().
::testing::AssertionResult same_mailbox(const Instance& primary, const Instance& replica,
                                        const std::string& mailbox,
                                        DigestLines which = DigestLines::kAll);

// same_digest() again (wait_until) until it succeeds or `timeout` passes,
// for rolling replication, which converges on its own; the last result.
::testing::AssertionResult converges_to_same_digest(const Instance& primary,
                                                    const Instance& replica,
                                                    std::chrono::milliseconds timeout,
                                                    const std::vector<std::string>& args = {});

// EXPECT_TRUE(same_digest(primary, replica, args)).
#define EXPECT_SAME_DIGEST(primary, replica, ...) \
  EXPECT_TRUE(::replimail::testing::same_digest(primary, replica, ##__VA_ARGS__))

}  // namespace replimail::testing
