// Bringing the per-user index (index.h) up to date with the store.
//
// index_mailbox() reads the mailbox's records changed since the state the
// index recorded for it (all of them when not incremental, or when the
// UIDVALIDITY changed): a new message's text is extracted (extract.h) unless
// its GUID is already indexed, in which case only its location is added; an
// expunged record loses its location. The new state is committed with the
// last batch of documents, so a crash at any point leaves an index that is
// correct for what it covers and resumes where the last commit stopped.
//
// A message whose file cannot be read is left unindexed (SEARCH scans it).
// An index that cannot be opened or read because it is damaged is rebuilt
// from the store, the whole user at once.
//
// Thread-compatible; one writer per user index at a time across processes
// (Xapian's lock): kMailboxLocked when another holds it and `wait` is off.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/status.h"
#include "search/index.h"
#include "store/instance.h"

namespace replimail::search {

struct IndexStats {
  size_t mailboxes = 0;
  size_t indexed = 0;     // documents added (text extracted)
  size_t linked = 0;      // locations added to a document already there
  size_t removed = 0;     // locations of expunged records removed
  size_t unreadable = 0;  // message files that could not be read
  IndexStats& operator+=(const IndexStats& o);
};

class Indexer {
 public:
  // `wait`: block (up to a minute) while another process writes the same
  // user index instead of answering kMailboxLocked.
  Indexer(store::Instance& instance, bool wait);

  // Indexes one mailbox into its owner's index. kMailboxNonexistent if it
  // does not exist (any more).
  Result<IndexStats> index_mailbox(const std::string& name, bool incremental);
  // Every mailbox of `userid` (its INBOX and below; "" = every shared
  // mailbox). Not incremental: the user's index is rebuilt from nothing.
  Result<IndexStats> index_user(const std::string& userid, bool incremental);

 private:
  Result<std::unique_ptr<IndexWriter>> open_writer(const std::string& userid, bool overwrite);
  Status index_into(IndexWriter& w, const std::string& name, bool incremental, IndexStats* stats);

  store::Instance& instance_;
  bool wait_;
  std::string stem_language_;
};

}  // namespace replimail::search
