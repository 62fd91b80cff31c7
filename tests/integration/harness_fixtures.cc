// The helpers every integration fixture shares (declared in harness.h):
// replication pairs' options, LMTP delivery, IMAP scripts, store access and
// process and channel state. One copy each, so a fix reaches every test.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "common/config.h"
#include "harness.h"
#include "replication.h"
#include "store/instance.h"
#include "store/staged_message.h"

namespace replimail::testing {

Instance::Options serving(const std::map<std::string, std::string>& services,
                          const std::map<std::string, std::string>& users) {
  Instance::Options o;
  o.services = services;
  o.users = users;
  o.users.emplace("admin", "adminpw");
  return o;
}

std::string create_mailboxes(const Instance& inst, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    auto r = inst.tool("cyr_mbox", {"create", name});
    if (!r.ok()) return "cyr_mbox create " + name + ": " + r.describe();
  }
  return "";
}

Instance::Options replica_options() {
  Instance::Options o;
  o.services = {{"lmtp", "lmtpd -a"}, {"csync", "sync_server"}};
  o.imapd_extra = {"failedloginpause: 0"};
  return o;
}

Instance::Options primary_options(int replica_port) {
  Instance::Options o;
  o.imapd_extra = {"replica_sync_host: 127.0.0.1:" + std::to_string(replica_port),
                   "replica_sync_authname: admin", "replica_sync_password: adminpw",
                   "sync_authname: admin", "sync_password: adminpw"};
  return o;
}

std::string deliver(int lmtp_port, const std::string& rcpt, int n, const std::string& prefix,
                    int size) {
  auto r = run({"/usr/bin/python3", py_script("lmtp_deliver.py"), "--port",
                std::to_string(lmtp_port), "-n", std::to_string(n), "--rcpt", rcpt, "--prefix",
                prefix, "--size", std::to_string(size)});
  return r.ok() ? "" : r.describe();
}

std::string deliver(const Instance& to, const std::string& rcpt, int n, const std::string& prefix,
                    int size) {
  return deliver(to.lmtp_port(), rcpt, n, prefix, size);
}

RunResult imap_script(const Instance& inst, const std::string& user,
                      const std::vector<std::string>& commands) {
  std::vector<std::string> args = {"--port", std::to_string(inst.port("imap")), "--user", user};
  args.insert(args.end(), commands.begin(), commands.end());
  return inst.python("imap_script.py", args);
}

RunResult sync_user(const Instance& from, const std::string& host, const std::string& user,
                    const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"-v", "-S", host};
  args.insert(args.end(), extra.begin(), extra.end());
  args.insert(args.end(), {"-u", user});
  return from.tool("sync_client", args);
}

RunResult sync_user(const Instance& from, const Instance& to, const std::string& user,
                    const std::vector<std::string>& extra) {
  return sync_user(from, "127.0.0.1:" + std::to_string(to.port("csync")), user, extra);
}

size_t live_records(const Instance& inst, const std::string& mailbox) {
  auto snap = inst.snapshot(mailbox);
  if (!snap.error.empty()) return 0;
  size_t n = 0;
  for (const auto& r : snap.records) n += r.expunged() ? 0 : 1;
  return n;
}

std::vector<pid_t> processes_running(const Instance& inst, const std::string& needle) {
  std::vector<pid_t> out;
  for (pid_t p : descendants_of(inst.master_pid())) {
    std::string cmd = slurp("/proc/" + std::to_string(p) + "/cmdline");
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find(needle) != std::string::npos) out.push_back(p);
  }
  return out;
}

std::vector<pid_t> processes_of(const Instance& inst, const std::string& program) {
  std::vector<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = slurp(e.path().string() + "/cmdline");
    auto pid = static_cast<pid_t>(std::stoi(name));
    if (cmd.find(program) != std::string::npos &&
        cmd.find(inst.imapd_conf()) != std::string::npos && pid_alive(pid))
      out.push_back(pid);
  }
  return out;
}

nlohmann::json channel_status(const Instance& primary, const std::string& channel) {
  auto r = primary.tool("sync_status", {"-j"});
  EXPECT_TRUE(r.ok()) << r.describe();
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded() || !j.contains("channels")) {
    ADD_FAILURE() << "sync_status -j: " << r.out;
    return nlohmann::json::object();
  }
  for (const auto& c : j["channels"]) {
    if (c.value("channel", "") == channel) return c;
  }
  ADD_FAILURE() << "no channel " << channel << " in " << r.out;
  return nlohmann::json::object();
}

std::unique_ptr<store::Instance> open_store(const Instance& inst) {
  auto cfg = Config::load(inst.imapd_conf());
  if (!cfg.ok()) {
    ADD_FAILURE() << inst.imapd_conf() << ": " << cfg.status().to_string();
    return nullptr;
  }
  auto s = store::Instance::open(*cfg);
  if (!s.ok()) {
    ADD_FAILURE() << "open store " << inst.state_dir() << ": " << s.status().to_string();
    return nullptr;
  }
  return std::move(*s);
}

Status append_text(store::Instance& st, const std::string& mailbox, const std::string& text) {
  auto msg = st.stage_message();
  if (!msg.ok()) return msg.status();
  Status s = (*msg)->write(text);
  if (s) s = (*msg)->finish();
  if (!s) return s;
  store::AppendRequest req;
  req.mailbox = mailbox;
  req.message = msg->get();
  return st.append({req})[0].status;
}

Status append_text(const Instance& inst, const std::string& mailbox, const std::string& text) {
  auto cfg = Config::load(inst.imapd_conf());
  if (!cfg.ok()) return cfg.status();
  auto st = store::Instance::open(*cfg);
  if (!st.ok()) return st.status();
  return append_text(**st, mailbox, text);
}

}  // namespace replimail::testing
