#include "master/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

namespace replimail::master {
namespace {

// Everything between fork() and exec() must be async-signal-safe: no
// allocation, no locks. The argv/envp arrays are built before forking.
[[noreturn]] void exec_child(const SpawnSpec& spec, char* const* argv, char* const* envp,
                             int devnull, pid_t master) {
  // The death signal survives execve (no set-uid programs here). A master
  // that died between fork() and prctl() would never send it: the parent
  // check after setting it closes that window.
  if (spec.death_signal != 0) {
    ::prctl(PR_SET_PDEATHSIG, spec.death_signal);
    if (::getppid() != master) ::_exit(128 + spec.death_signal);
  }
  // Signals are blocked since before fork(): master's handlers must never
  // run here (they would feed master's self-pipe). Anything sent meanwhile
  // stays pending and takes its default action once unblocked.
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  // Move the inherited descriptors out of the 3/4 slots before placing them.
  int status = spec.status_fd >= 0 ? ::fcntl(spec.status_fd, F_DUPFD, 10) : -1;
  int listen = spec.listen_fd >= 0 ? ::fcntl(spec.listen_fd, F_DUPFD, 10) : -1;
  if (devnull >= 0) ::dup2(devnull, 0);
  if (status >= 0) {
    ::dup2(status, 3);
  } else {
    ::close(3);
  }
  if (listen >= 0) {
    ::dup2(listen, 4);
  } else {
    ::close(4);
  }
  ::syscall(SYS_close_range, 5u, ~0u, 0u);
  ::execve(argv[0], argv, envp);
  const char msg[] = "master child: exec failed: ";
  ssize_t ignored = ::write(2, msg, sizeof msg - 1);
  ignored = ::write(2, argv[0], std::strlen(argv[0]));
  ignored = ::write(2, "\n", 1);
  (void)ignored;
  ::_exit(127);
}

}  // namespace

Result<pid_t> spawn(const SpawnSpec& spec) {
  if (spec.argv.empty()) return Status(Code::kInvalidArgument, "spawn: empty argv");
  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    std::string_view key = kv.substr(0, kv.find('='));
    bool replaced = false;
    for (const auto& [k, v] : spec.env) replaced = replaced || k == key;
    if (!replaced) env_strings.emplace_back(kv);
  }
  for (const auto& [k, v] : spec.env) env_strings.push_back(fmt::format("{}={}", k, v));
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t master = ::getpid();
  sigset_t all, saved;
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, &saved);
  pid_t pid = ::fork();
  if (pid != 0) ::sigprocmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) {
    Status s(Code::kIoError, fmt::format("fork for {}: {}", spec.argv[0], std::strerror(errno)));
    if (devnull >= 0) ::close(devnull);
    return s;
  }
  if (pid == 0) exec_child(spec, argv.data(), envp.data(), devnull, master);
  if (devnull >= 0) ::close(devnull);
  return pid;
}

std::vector<std::string> with_config_option(std::vector<std::string> argv,
                                            const std::string& config_path) {
  if (config_path.empty() || argv.empty()) return argv;
  for (size_t i = 1; i < argv.size(); ++i)
    if (argv[i].rfind("-C", 0) == 0) return argv;
  argv.insert(argv.begin() + 1, {"-C", config_path});
  return argv;
}

std::string describe_exit(int wait_status) {
  if (WIFEXITED(wait_status)) return fmt::format("exited with status {}", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status))
    return fmt::format("killed by signal {} ({})", WTERMSIG(wait_status),
                       ::strsignal(WTERMSIG(wait_status)));
  return fmt::format("stopped (wait status {})", wait_status);
}

}  // namespace replimail::master
