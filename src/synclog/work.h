// Batching and de-duplication of one log file's lines into work for
// sync_client (Cyrus's sync_do_reader, first half). Pure: no I/O.
//
// Lines are sorted into lists, each list without duplicates and in first-
// seen order, then coalesced: USER u cancels u's META/SEEN/SUB items,
// UNUSER u cancels u's USER/META/SEEN/SUB items, META u cancels u's
// SEEN/SUB items. Mailbox groups are never cancelled. The caller executes
// the lists in the order documented on SyncWork.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "synclog/line.h"

namespace replimail::synclog {

struct SyncWork {
  // Execution order (see sync_client): mailbox groups, quota, annotation,
  // seen, sub, unmailbox, meta, user, unuser.
  //
  // Mailbox groups keyed by owning userid ("" for shared mailboxes): names
  // from MAILBOX, APPEND, DOUBLEMAILBOX (both into the first name's
  // owner) and RENAME (both into the old name's owner, and also into the
  // new name's owner when that differs).
  std::map<std::string, std::vector<std::string>> mailbox_groups;
  std::vector<std::string> quota;
  std::vector<std::string> annotation;
  std::vector<std::pair<std::string, std::string>> seen;  // (userid, uniqueid)
  std::vector<std::pair<std::string, std::string>> sub;   // (userid, mboxname), SUB and UNSUB
  std::vector<std::string> unmailbox;
  std::vector<std::string> meta;  // META and its alias SIEVE
  std::vector<std::string> user;
  std::vector<std::string> unuser;
  // Lines that were skipped: unknown keyword or missing argument.
  std::vector<std::string> ignored;

  bool empty() const;
};

// Builds the work for one log file's lines.
SyncWork build_work(const std::vector<Line>& lines, std::string_view deletedprefix = "DELETED");

}  // namespace replimail::synclog
