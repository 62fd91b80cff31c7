// `master -t`: checks an instance's imapd.conf and cyrus.conf the way master
// would start from them, without starting anything, for systemd's
// ExecStartPre= (packaging/systemd) and for an operator before a reload.
//
// Errors (the instance would not start, or not as written), each naming the
// file and line where it has one: imapd.conf's syntax, refused options and
// bad values (common/config.h); configdirectory unset; no partition;
// cyrus.conf's syntax and values (master/cyrus_conf.h); a program that is
// not an executable file in master's directory; two services on one listen
// address. Warnings: the options imapd.conf sets that replimail ignores or
// does not know, and what cyrus.conf ignores.
#pragma once

#include <string>
#include <vector>

namespace replimail::master {

struct CheckReport {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  bool ok() const { return errors.empty(); }
};

// Reads the two files; `bin_dir` is where master finds the programs.
CheckReport check_configuration(const std::string& imapd_conf, const std::string& cyrus_conf,
                                const std::string& bin_dir);

}  // namespace replimail::master
