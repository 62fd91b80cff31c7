// LMTP duplicate delivery suppression (`duplicatesuppression`, on by
// default as in Cyrus): a message whose id (store::delivery_message_id) was
// already delivered to a mailbox is not delivered there again, and the
// recipient still gets 250, so that an MTA retrying after a lost reply or a
// crash does not deliver twice. The records are store::DuplicateDb's
// (deliver.db); cyr_expire -E trims them.
//
// The order that can never lose mail (store/duplicate.h): skip() before the
// delivery, mark() after it has committed, and only then the 250. A crash
// in between can only cause a duplicate delivery on the retry.
//
// Thread-compatible; one per StoreBackend.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "store/duplicate.h"

namespace replimail::lmtp {

class DuplicateFilter {
 public:
  explicit DuplicateFilter(const Config& cfg);
  ~DuplicateFilter();

  // Reads the id of the staged message at `path` for the calls below. A
  // message without one, or an unreadable one, is never suppressed.
  void begin(const std::string& path);
  // True if the current message was already delivered to `mailbox`
  // (logged, as Cyrus's "dupelim" line). An error of the database delivers
  // (a duplicate at worst), with a warning.
  bool skip(const std::string& mailbox);
  // Records the current message as delivered to each of `mailboxes`,
  // durably. A failure is returned: the deliveries stand, only a retry of
  // them would deliver again.
  Status mark(const std::vector<std::string>& mailboxes);

 private:
  bool enabled_;
  std::string path_;
  std::unique_ptr<store::DuplicateDb> db_;  // opened on first use
  std::optional<std::string> id_;
  store::DuplicateDb* db();
};

}  // namespace replimail::lmtp
