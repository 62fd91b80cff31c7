// Taking over a channel's sync log, Cyrus's sync_log_reader.
//
// A rolling sync_client (or squatter) reads its channel like this:
//
//   LogReader r = LogReader::for_channel(confdir, "replica");
//   Status s = r.begin();          // kAgain: nothing logged yet
//   ... process r.lines() ...
//   if (all processed) r.end();    // unlinks log-run; else keep it for retry
//
// begin() renames log -> log-run, then takes and drops the whole file's
// fcntl lock so that a writer that held its lock across the rename has
// finished appending and the change its line announces has committed or
// failed (synclog.h); writers that come later see the inode change and
// re-open the new log. A log-run
// left by a crashed or failed run is reprocessed first (at-least-once).
// Not thread safe; one reader per channel at a time (the caller ensures it,
// as Cyrus does with one sync_client per channel).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "synclog/line.h"

namespace replimail::synclog {

class LogReader {
 public:
  // Reads the log of `channel` ("" = default) under `configdirectory`.
  static LogReader for_channel(const std::string& configdirectory, const std::string& channel);
  // Reads a named file (sync_client -f file); it is never renamed nor
  // unlinked. The path "-" reads standard input.
  static LogReader for_file(const std::string& path);

  // Takes over the log and reads all its lines. kAgain when a channel has
  // nothing to read; kIoError on failure (logged by the caller).
  Status begin();
  // The lines read by begin(), in file order.
  const std::vector<Line>& lines() const { return lines_; }
  // Malformed lines skipped by begin() ("line 3: Invalid input"); each has
  // already been logged as a warning naming the file.
  const std::vector<std::string>& errors() const { return errors_; }
  // True if begin() picked up a log-run left by an earlier run.
  bool reprocessing() const { return reprocessing_; }
  // The file begin() read (log-run for a channel).
  const std::string& work_path() const { return work_path_; }

  // Processing succeeded: a channel's log-run is unlinked. A named file is
  // left alone. Not calling end() keeps log-run for the next begin().
  Status end();

 private:
  LogReader() = default;

  bool channel_ = false;
  std::string log_path_;
  std::string work_path_;
  bool reprocessing_ = false;
  std::vector<Line> lines_;
  std::vector<std::string> errors_;
};

}  // namespace replimail::synclog
