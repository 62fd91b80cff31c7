// Starting master's children: fork + exec with the descriptors and
// environment Cyrus gives them.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace replimail::master {

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is the resolved program path
  // Added to (or replacing in) the inherited environment.
  std::vector<std::pair<std::string, std::string>> env;
  // Become fd 3 / fd 4 in the child; -1 leaves that slot closed.
  int status_fd = -1;
  int listen_fd = -1;
  // Sent to the child when master dies (PR_SET_PDEATHSIG), so that no child
  // outlives a master killed with SIGKILL. 0: none.
  int death_signal = SIGKILL;
};

// Forks and execs `spec`. The child stays in master's process group (so a
// `kill -9 -<pgid>` by an operator or init system takes master and all its
// children at once) and gets `death_signal` when master dies, however it
// dies; a master already gone by then makes the child exit at once. It also
// gets a clean signal mask and default signal dispositions, stdin from
// /dev/null, master's stdout/stderr, and no other descriptors above 2 but 3
// and 4. If exec fails the child logs to stderr and exits 127.
Result<pid_t> spawn(const SpawnSpec& spec);

// Returns `argv` with "-C <config_path>" inserted after the program name,
// unless `config_path` is empty or argv already has a -C option.
std::vector<std::string> with_config_option(std::vector<std::string> argv,
                                            const std::string& config_path);

// "exited with status 3", "killed by signal 9 (Killed)" for a wait() status.
std::string describe_exit(int wait_status);

}  // namespace replimail::master
