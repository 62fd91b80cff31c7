#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "../support/temp_dir.h"
#include "common/config.h"
#include "store/instance.h"
#include "synclog/logd_client.h"

namespace replimail::testing {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Waits for `pid` (our child) up to `timeout`; returns its decoded status or
// nullopt if it is still running.
std::optional<int> wait_child(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return decode_wait_status(status);
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// A child must not outlive the test binary if the test crashes.
void child_common_setup() { prctl(PR_SET_PDEATHSIG, SIGKILL); }

}  // namespace

std::string bin_dir() { return REPLIMAIL_BIN_DIR; }
std::string source_dir() { return REPLIMAIL_SOURCE_DIR; }
std::string py_script(const std::string& name) {
  return source_dir() + "/tests/integration/py/" + name;
}

std::string RunResult::describe() const {
  return "exit " + std::to_string(exit_code) + "\nstdout:\n" + out + "\nstderr:\n" + err;
}

RunResult run(const std::vector<std::string>& argv, const std::string& input,
              std::chrono::seconds timeout) {
  RunResult result;
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 ||
      pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.err = std::string("pipe: ") + strerror(errno);
    return result;
  }
  pid_t pid = fork();
  if (pid < 0) {
    result.err = std::string("fork: ") + strerror(errno);
    return result;
  }
  if (pid == 0) {
    child_common_setup();
    // Its own process group, so that a timeout ends what it started too:
    // a grandchild left running (Cyrus's sync_client under
    // cyrus_instance.py, retrying a replica for ever) would hold the pipes
    // open and this wait would never end.
    setpgid(0, 0);
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    auto args = c_argv(argv);
    execv(args[0], args.data());
    fprintf(stderr, "exec %s: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  setpgid(pid, pid);  // as the child does: whichever runs first
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  // Feed stdin and drain both outputs together so no pipe can fill up.
  size_t in_off = 0;
  int in_fd = in_pipe[1];
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  } else {
    fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  signal(SIGPIPE, SIG_IGN);
  auto deadline = Clock::now() + timeout;
  bool killed = false;
  int out_fd = out_pipe[0], err_fd = err_pipe[0];
  while (out_fd >= 0 || err_fd >= 0) {
    pollfd fds[3];
    int n = 0;
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    int r = poll(fds, n, 100);
    if (r < 0 && errno != EINTR) break;
    if (!killed && Clock::now() >= deadline) {
      kill(-pid, SIGKILL);
      killed = true;
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in_fd) {
        ssize_t w = write(in_fd, input.data() + in_off, input.size() - in_off);
        if (w > 0) in_off += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) in_off = input.size();
        if (in_off >= input.size()) {
          close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      char buf[65536];
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (fds[i].fd == out_fd ? result.out : result.err).append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(fds[i].fd);
        if (fds[i].fd == out_fd) out_fd = -1;
        if (fds[i].fd == err_fd) err_fd = -1;
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = decode_wait_status(status);
  return result;
}

Background::Background(const std::vector<std::string>& argv, Capture capture)
    : out_(dir_.path() + "/out") {
  int fd = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(fd, 1);
    if (capture == Capture::kStdoutAndStderr) dup2(fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fd);
}

Background::~Background() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

RunResult Background::wait(std::chrono::seconds timeout) {
  RunResult r;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pid_ > 0) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
    } else if (std::chrono::steady_clock::now() > deadline) {
      break;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  r.out = slurp(out_);
  return r;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

void until_next_second() {
  const std::time_t start = std::time(nullptr);
  wait_until([&] { return std::time(nullptr) > start; }, std::chrono::seconds(2));
}

bool wait_for_port(int port, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  do {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (Clock::now() < deadline);
  return false;
}

TempDir::TempDir() : path_(make_temp_dir("replimail-it-")) {
  if (path_.empty()) {
    ADD_FAILURE() << "mkdtemp under " << temp_base() << ": " << strerror(errno);
  }
}

TempDir::~TempDir() {
  if (getenv("REPLIMAIL_KEEP_STATE") != nullptr) {
    std::cerr << "state kept in " << path_ << "\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

// Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp.
bool proc_stat(pid_t pid, char* state, pid_t* ppid, pid_t* pgrp) {
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return false;
  std::istringstream in(stat.substr(close_paren + 1));
  long pp = 0, pg = 0;
  if (!(in >> *state >> pp >> pg)) return false;
  *ppid = static_cast<pid_t>(pp);
  *pgrp = static_cast<pid_t>(pg);
  return true;
}

}  // namespace

bool pid_alive(pid_t pid) {
  char state = 0;
  pid_t ppid = 0, pgrp = 0;
  return pid > 0 && proc_stat(pid, &state, &ppid, &pgrp) && state != 'Z' && state != 'X';
}

pid_t parent_of(pid_t pid) {
  char state = 0;
  pid_t ppid = 0, pgrp = 0;
  return proc_stat(pid, &state, &ppid, &pgrp) ? ppid : -1;
}

std::vector<pid_t> processes_in_group(pid_t pgid) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    char state = 0;
    pid_t ppid = 0, pgrp = 0;
    if (proc_stat(static_cast<pid_t>(pid), &state, &ppid, &pgrp) && pgrp == pgid && state != 'Z' &&
        state != 'X') {
      out.push_back(static_cast<pid_t>(pid));
    }
  }
  closedir(d);
  return out;
}

std::vector<pid_t> descendants_of(pid_t root) {
  std::multimap<pid_t, pid_t> children;  // parent -> child, live processes only
  DIR* d = opendir("/proc");
  if (d == nullptr) return {};
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    char state = 0;
    pid_t ppid = 0, pgrp = 0;
    if (proc_stat(static_cast<pid_t>(pid), &state, &ppid, &pgrp) && state != 'Z' && state != 'X') {
      children.emplace(ppid, static_cast<pid_t>(pid));
    }
  }
  closedir(d);
  std::vector<pid_t> out;
  std::vector<pid_t> todo = {root};
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    auto [lo, hi] = children.equal_range(p);
    for (auto it = lo; it != hi; ++it) {
      out.push_back(it->second);
      todo.push_back(it->second);
    }
  }
  return out;
}

std::string sha1_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_Digest(data.data(), data.size(), md, &md_len, EVP_sha1(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < md_len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::string sha1_file(const std::string& path) {
  if (!std::filesystem::exists(path)) return "";
  return sha1_hex(slurp(path));
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool spit(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  return static_cast<bool>(out);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

std::map<std::string, std::string> parse_key_values(const std::string& text) {
  std::map<std::string, std::string> out;
  for (const auto& line : lines_of(text)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto key = line.substr(0, colon);
    auto value = line.substr(colon + 1);
    while (!key.empty() && isspace(static_cast<unsigned char>(key.front()))) key.erase(0, 1);
    while (!value.empty() && isspace(static_cast<unsigned char>(value.front()))) value.erase(0, 1);
    out[key] = value;
  }
  return out;
}

Instance::Instance(Options options) : options_(std::move(options)) {
  for (const auto& [name, cmd] : options_.services) ports_[name] = free_port();
  for (const char* sub : {"/etc", "/conf", "/spool", "/log", "/run"}) {
    std::filesystem::create_directories(state_dir() + sub);
  }
  write_configs();
}

Instance::~Instance() {
  if (::testing::Test::HasFailure()) {
    std::cerr << "---- master log (" << master_log_path() << ") ----\n"
              << master_log() << "---- end of master log ----\n";
  }
  if (master_pid_ > 0) stop();
}

void Instance::write_configs() const {
  const std::string s = state_dir();
  std::ostringstream imapd;
  imapd << "# imapd.conf written by the integration-test harness\n"
        << "configdirectory: " << s << "/conf\n"
        << "defaultpartition: default\n"
        << "partition-default: " << s << "/spool\n"
        << "servername: " << options_.servername << "\n"
        << "admins: " << options_.admins << "\n"
        << "sasl_pwcheck_method: auxprop\n"
        << "sasl_auxprop_plugin: sasldb\n"
        << "sasl_sasldb_path: " << s << "/etc/sasldb2\n"
        << "sasl_mech_list: PLAIN\n"
        << "allowplaintext: yes\n"
        << "sync_log: " << (options_.sync_log ? "1" : "0") << "\n";
  if (!options_.channels.empty()) {
    imapd << "sync_log_channels:";
    for (const auto& c : options_.channels) imapd << " " << c;
    imapd << "\n";
  }
  for (const auto& line : options_.imapd_extra) imapd << line << "\n";
  spit(imapd_conf(), imapd.str());

  std::ostringstream cyrus;
  cyrus << "# cyrus.conf written by the integration-test harness\n";
  auto with_conf = [&](const std::string& cmd) {
    auto space = cmd.find(' ');
    std::string program = cmd.substr(0, space);
    std::string rest = space == std::string::npos ? "" : cmd.substr(space);
    return program + " -C " + imapd_conf() + rest;
  };
  if (!options_.starts.empty()) {
    cyrus << "START {\n";
    for (const auto& [name, cmd] : options_.starts)
      cyrus << "  " << name << " cmd=\"" << with_conf(cmd) << "\"\n";
    cyrus << "}\n";
  }
  cyrus << "SERVICES {\n";
  for (const auto& [name, cmd] : options_.services) {
    if (!ports_.count(name)) ports_[name] = free_port();
    cyrus << "  " << name << " cmd=\"" << with_conf(cmd)
          << "\" listen=\"" << options_.listen_host << ":" << ports_.at(name) << "\" prefork=" << options_.prefork
          << "\n";
  }
  cyrus << "}\n";
  if (!options_.daemons.empty() || runs_logd()) {
    cyrus << "DAEMON {\n";
    if (runs_logd()) cyrus << "  synclog cmd=\"" << with_conf("sync_logd") << "\"\n";
    for (const auto& [name, cmd] : options_.daemons) {
      cyrus << "  " << name << " cmd=\"" << with_conf(cmd) << "\"\n";
    }
    cyrus << "}\n";
  }
  if (!options_.events.empty()) {
    cyrus << "EVENTS {\n";
    for (const auto& [name, event] : options_.events)
      cyrus << "  " << name << " cmd=\"" << with_conf(event.first) << "\" " << event.second << "\n";
    cyrus << "}\n";
  }
  spit(cyrus_conf(), cyrus.str());
}

void Instance::reload() {
  write_configs();
  if (master_pid_ > 0) ::kill(master_pid_, SIGHUP);
}

int Instance::port(const std::string& service) const {
  auto it = ports_.find(service);
  return it == ports_.end() ? -1 : it->second;
}

std::string Instance::channel_log_path(const std::string& channel) const {
  return config_dir() + "/sync/" + (channel.empty() ? "" : channel + "/") + "log";
}

std::string Instance::channel_log(const std::string& channel) const {
  if (runs_logd() && master_pid_ > 0) {
    synclog::LogdClient logd(logd_socket());
    (void)logd.flush();  // no daemon (killed by the test): the logs are as they are
  }
  return slurp(channel_log_path(channel));
}

std::string Instance::start(std::chrono::seconds timeout) {
  for (const auto& [user, password] : options_.users) {
    auto r = run({"/usr/sbin/saslpasswd2", "-p", "-f", state_dir() + "/etc/sasldb2", "-u",
                  options_.servername, "-c", user},
                 password + "\n");
    if (!r.ok()) return "saslpasswd2 " + user + ": " + r.describe();
  }
  const std::string pidfile = state_dir() + "/run/master.pid";
  std::filesystem::remove(pidfile);
  int log_fd = open(master_log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return "open master log: " + std::string(strerror(errno));
  std::vector<std::string> argv = {bin_dir() + "/master", "-C", imapd_conf(), "-M",
                                   cyrus_conf(),          "-p", pidfile,      "-D"};
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return "fork: " + std::string(strerror(errno));
  }
  if (pid == 0) {
    child_common_setup();
    // Its own process group, so that no terminal signal reaches it.
    setpgid(0, 0);
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    auto args = c_argv(argv);
    execv(args[0], args.data());
    fprintf(stderr, "exec %s: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  close(log_fd);
  setpgid(pid, pid);
  master_pid_ = pid;

  auto deadline = Clock::now() + timeout;
  while (!std::filesystem::exists(pidfile) || slurp(pidfile).empty()) {
    if (auto st = wait_child(pid, std::chrono::milliseconds(20))) {
      master_pid_ = -1;
      return "master exited with " + std::to_string(*st) + " before writing its pidfile\n" +
             master_log();
    }
    if (Clock::now() >= deadline) return "master wrote no pidfile in time\n" + master_log();
  }
  for (const auto& [name, port] : ports_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (!wait_for_port(port, std::max(left, std::chrono::milliseconds(0)))) {
      return "service " + name + " on port " + std::to_string(port) + " does not accept\n" +
             master_log();
    }
  }
  if (runs_logd()) {
    // Writers that find no daemon log directly (correct, but not what a
    // test of an instance with sync_logd means to exercise).
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    bool up = wait_until(
        [&] {
          synclog::LogdClient logd(logd_socket());
          return logd.flush().is_ok();
        },
        std::max(left, std::chrono::milliseconds(0)));
    if (!up) return "sync_logd does not answer on " + logd_socket() + "\n" + master_log();
  }
  return "";
}

int Instance::stop(std::chrono::seconds grace) {
  if (master_pid_ <= 0) return -1;
  pid_t pid = master_pid_;
  master_pid_ = -1;
  kill(pid, SIGTERM);
  if (auto st = wait_child(pid, grace)) return *st;
  kill(pid, SIGKILL);
  return wait_child(pid, std::chrono::seconds(5)).value_or(-1);
}

RunResult Instance::run_master_to_exit(std::chrono::seconds timeout) {
  return run({bin_dir() + "/master", "-C", imapd_conf(), "-M", cyrus_conf(), "-p",
              state_dir() + "/run/master.pid", "-D"},
             "", timeout);
}

RunResult Instance::tool(const std::string& tool, const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {bin_dir() + "/" + tool, "-C", imapd_conf()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

RunResult Instance::python(const std::string& script, const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"/usr/bin/python3", py_script(script)};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

Instance::Snapshot Instance::snapshot(const std::string& mboxname) const {
  Snapshot snap;
  auto cfg = Config::load(imapd_conf());
  if (!cfg.ok()) {
    snap.error = cfg.status().to_string();
    return snap;
  }
  auto inst = store::Instance::open(*cfg);
  if (!inst.ok()) {
    snap.error = inst.status().to_string();
    return snap;
  }
  auto mbox = (*inst)->open_mailbox(mboxname);
  if (!mbox.ok()) {
    snap.error = mbox.status().to_string();
    return snap;
  }
  snap.dir = (*mbox)->dir();
  auto counters = (*mbox)->counters();
  if (!counters.ok()) {
    snap.error = counters.status().to_string();
    return snap;
  }
  snap.counters = *counters;
  Status st = (*mbox)->for_each_record(0, [&](const store::IndexRecord& rec) {
    snap.records.push_back(rec);
    return true;
  });
  if (!st.is_ok()) snap.error = st.to_string();
  return snap;
}

}  // namespace replimail::testing
