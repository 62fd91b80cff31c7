// Counters and gauges every process publishes for the instance's Prometheus
// endpoint (promstatsd, programs/promstatsd.cc), as Cyrus's
// prometheus_enabled statistics.
//
// With `prometheus_enabled: yes`, a process maps one file of fixed slots in
// the stats directory (`prometheus_stats_dir`, else
// <configdirectory>/stats): "<pid>-<random>.stats", made on its first
// metric. The file is created under a temporary name, flock()ed (shared)
// for the life of the process and only then renamed into place, so that
// promstatsd tells a dead process's file by taking the lock: it then adds
// that file's counters to its retired totals and removes it (gauges die with
// their process). Counting is one relaxed atomic add on the shared page: no
// system call, no fsync (the numbers are statistics, not data: a machine
// crash loses at most what the page cache had not written).
// Disabled (the default), metrics count in process memory only.
//
// Adding a metric, from any program (after configure()), is one line:
//
//   stats::counter("replimail_verifier_divergences_total",
//                  "Divergences the verifier found.", {{"channel", ch}}).add();
//
// The name must be a valid Prometheus name (counters end in _total); the
// help text is published once per family and process, the first one wins.
// counter()/gauge() look the series up in a process-wide table (a mutex and
// a hash lookup): on a hot path, keep the handle they return (it stays
// valid for the life of the process). A series name longer than
// kMaxSeriesLength, or one more than the file's kSlots, counts in process
// memory only (logged once).
//
// Thread safety: every function and handle may be used from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/exposition.h"
#include "common/status.h"

namespace replimail::stats {

inline constexpr size_t kSlots = 1024;
inline constexpr size_t kSlotSize = 256;
inline constexpr size_t kMaxSeriesLength = kSlotSize - 16;

// prometheus_stats_dir, else <configdirectory>/stats.
std::string stats_dir(const Config& cfg);

// Publishes this process's metrics from now on if `cfg` has
// prometheus_enabled (into stats_dir(cfg)); otherwise they stay in memory.
// Call once, after reading imapd.conf and before the first metric.
void configure(const Config& cfg);
// The same with the directory given (tests).
void configure_dir(const std::string& dir);

class Counter {
 public:
  void add(uint64_t n = 1) const;
  uint64_t value() const;

 private:
  friend Counter counter(std::string_view, std::string_view, const exposition::Labels&);
  explicit Counter(uint64_t* cell) : cell_(cell) {}
  uint64_t* cell_;
};

class Gauge {
 public:
  void add(int64_t delta) const;
  void set(int64_t v) const;
  int64_t value() const;

 private:
  friend Gauge gauge(std::string_view, std::string_view, const exposition::Labels&);
  explicit Gauge(uint64_t* cell) : cell_(cell) {}
  uint64_t* cell_;
};

// The series `name{labels}` of this process. REQUIRES: valid names.
Counter counter(std::string_view name, std::string_view help,
                const exposition::Labels& labels = {});
Gauge gauge(std::string_view name, std::string_view help, const exposition::Labels& labels = {});

// The cyrus.conf service this process serves ($CYRUS_SERVICE; "" outside
// master): the `service` label.
std::string_view service();

// One command of a protocol session: replimail_commands_total{service,
// command}, the command's name upper-cased. REQUIRES: `command` is one the
// protocol knows ("other" for the rest), never unchecked client text, so
// that the series stay few.
void count_command(std::string_view command);

// --- promstatsd's side: reading a stats file -------------------------------

enum class Kind : uint32_t { kFree = 0, kCounter = 1, kGauge = 2, kHelp = 3 };

struct Entry {
  Kind kind = Kind::kFree;
  std::string text;    // the series; for kHelp "<family> <help text>"
  uint64_t value = 0;  // a gauge's is an int64_t
};

struct FileSnapshot {
  bool owner_alive = false;  // the writer still holds its lock
  std::vector<Entry> entries;
};

// Reads one stats file (the published slots only). kInvalidArgument if it
// is not a stats file.
Result<FileSnapshot> read_file(const std::string& path);

}  // namespace replimail::stats
