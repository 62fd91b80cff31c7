// quotawarn, quotawarnkb, quotawarnmsg (imapd.conf(5)): the "* NO [ALERT]"
// lines Cyrus's imapd sends on SELECT of a mailbox the user may expunge from
// when its quota root is nearly or over full.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "store/quota.h"

namespace replimail::imap {

struct QuotaWarnOptions {
  int64_t percent = 90;     // quotawarn: warn above this use, in percent
  int64_t storage_kib = 0;  // quotawarnkb: ...only with less free than this
  int64_t messages = 0;     // quotawarnmsg: ...only with fewer left than this
};

// The alert texts for `root`, one per resource over its threshold, in
// Cyrus's words: "Mailbox is at 93% of STORAGE quota", "Mailbox is over
// MESSAGE quota". A threshold of 0, or one at least the limit, always warns.
std::vector<std::string> quota_alerts(const store::QuotaRoot& root, const QuotaWarnOptions& o);

// Cyrus says it at most every 10 minutes per quota root.
class QuotaAlertPacer {
 public:
  bool due(const std::string& root, std::chrono::steady_clock::time_point now);

 private:
  std::map<std::string, std::chrono::steady_clock::time_point> next_;
};

}  // namespace replimail::imap
