// What promstatsd serves: the instance's processes' counters and gauges
// (common/stats.h) summed, and each replication channel's state
// (sync/channel_status.h, the same reports sync_status prints), as
// Prometheus families (common/exposition.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/exposition.h"
#include "common/status.h"
#include "sync/channel_status.h"

namespace replimail::metrics {

// Sums the stats files of one directory. A file whose process is gone
// (its lock is free) has its counters added to the retired totals, which
// are written to <dir>/retired (atomically) before the file is removed, so
// that counters never go back while promstatsd lives or after it restarts;
// its gauges are dropped. Not thread-safe.
class StatsAggregator {
 public:
  explicit StatsAggregator(std::string dir) : dir_(std::move(dir)) {}

  // Reads <dir>/retired, if there is one.
  Status load();
  // One pass over the directory: every family, series summed over the live
  // processes and (counters) the retired totals. Unreadable files are
  // logged and skipped.
  std::vector<exposition::Family> collect();

  const std::map<std::string, uint64_t>& retired() const { return retired_; }

 private:
  Status save_retired() const;

  std::string dir_;
  std::map<std::string, uint64_t> retired_;  // counter series -> total
  std::map<std::string, std::string> help_;  // family -> help text
};

// The retired file: "# <family> <help>" lines, then "<series> <value>" lines
// (the value after the last space). Pure.
std::string format_retired(const std::map<std::string, uint64_t>& totals,
                           const std::map<std::string, std::string>& help);
Status parse_retired(std::string_view text, std::map<std::string, uint64_t>* totals,
                     std::map<std::string, std::string>* help);

// The channels' families, one series per channel (label channel=""
// for the default channel). Pure.
std::vector<exposition::Family> channel_families(const std::vector<sync::ChannelReport>& reports);

}  // namespace replimail::metrics
