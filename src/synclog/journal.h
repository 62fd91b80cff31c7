// sync_logd's journal: the durable record of every accepted sync log entry
// until its lines are fsynced in every channel log it names.
//
// The file ($configdirectory/sync/journal) is a sequence of records, each
//   magic "RJ1" + '\n' | u32 length | u32 CRC-32C of the payload | payload
// (integers little-endian). A record is appended in one write; a crash can
// leave a torn or garbled tail, which parse_journal() detects (short record,
// bad magic, bad checksum) and drops together with everything after it:
// nothing after a torn record was ever acknowledged, since the daemon
// replies only after the fsync that covers the whole write.
//
// A record's payload is one entry: the channels it goes to (the set current
// when the daemon accepted it, suppression applied) and its lines, already
// formatted (each ends in LF).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace replimail::synclog {

struct JournalEntry {
  std::vector<std::string> channels;  // "" is the default channel
  std::string lines;                  // formatted, LF-terminated
};

// CRC-32C (Castagnoli) of `data`.
uint32_t crc32c(std::string_view data);

// The framed record of `entry`.
std::string encode_record(const JournalEntry& entry);

struct ParsedJournal {
  std::vector<JournalEntry> entries;
  size_t valid_bytes = 0;  // the length of the intact prefix
  bool torn = false;       // bytes after valid_bytes were dropped
};
// Every intact record of `data`, in order; stops at the first damaged one.
ParsedJournal parse_journal(std::string_view data);

// The journal file, appended by one writer (the daemon's committer) at a
// time. Every call goes through os::Env. Not thread-safe: the daemon
// serializes its calls under one mutex.
class Journal {
 public:
  Journal() = default;
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Opens (creating) the journal at `path` and returns the entries it holds
  // (what a previous daemon accepted and may not have fanned out). A torn
  // tail is cut off (and logged).
  Result<std::vector<JournalEntry>> open(const std::string& path);
  // Appends `records` (encode_record() output, concatenated) in one write,
  // then fdatasync. On error nothing of this call may be acknowledged, and
  // the journal takes no further appends (a failed flush poisons the file).
  Status append(std::string_view records);
  // Drops every record: called once every entry is fsynced in its channels.
  Status clear();
  // Replaces the journal with one holding only `records`, atomically (new
  // file fsynced, renamed over, directory fsynced): drops the entries that
  // are done while others are still pending.
  Status rewrite(std::string_view records);
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool failed_ = false;
};

}  // namespace replimail::synclog
