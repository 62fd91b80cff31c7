#include "sync/bootstrap.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "store/mboxname.h"
#include "sync/channel_status.h"
#include "synclog/work.h"

namespace replimail::sync {

using json = nlohmann::json;

size_t BootstrapProgress::done_count() const {
  size_t n = 0;
  for (const auto& u : users) n += u.done ? 1 : 0;
  return n;
}

std::string bootstrap_path(const std::string& configdirectory, const std::string& channel) {
  return channel_dir(configdirectory, channel) + "/bootstrap.json";
}

std::string to_json(const BootstrapProgress& p) {
  json users = json::array();
  for (const auto& u : p.users)
    users.push_back({{"user", u.user}, {"done", u.done}, {"finished", u.finished}});
  json j = {{"channel", p.channel},    {"started", p.started},         {"finished", p.finished},
            {"users", users},          {"shared_done", p.shared_done}, {"messages", p.messages},
            {"total", p.users.size()}, {"done", p.done_count()}};
  return j.dump() + "\n";
}

Result<BootstrapProgress> bootstrap_from_json(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status(Code::kInvalidArgument, "bootstrap: not a JSON object");
  BootstrapProgress p;
  try {
    p.channel = j.at("channel").get<std::string>();
    p.started = j.at("started").get<int64_t>();
    p.finished = j.at("finished").get<int64_t>();
    p.shared_done = j.at("shared_done").get<bool>();
    p.messages = j.at("messages").get<uint64_t>();
    for (const auto& u : j.at("users")) {
      p.users.push_back(BootstrapUser{u.at("user").get<std::string>(), u.at("done").get<bool>(),
                                      u.at("finished").get<int64_t>()});
    }
  } catch (const json::exception& e) {
    return Status(Code::kInvalidArgument, std::string("bootstrap: ") + e.what());
  }
  return p;
}

std::optional<BootstrapProgress> load_bootstrap(const std::string& configdirectory,
                                                const std::string& channel) {
  const std::string path = bootstrap_path(configdirectory, channel);
  if (!fs::exists(path)) return std::nullopt;
  auto text = fs::read_file(path);
  auto p = text.ok() ? bootstrap_from_json(*text) : Result<BootstrapProgress>(text.status());
  if (!p.ok()) {
    spdlog::warn("ignoring {}: {}", path, p.status().to_string());
    return std::nullopt;
  }
  return *p;
}

BootstrapProgress start_or_resume(const std::optional<BootstrapProgress>& previous,
                                  const std::string& channel, const std::vector<std::string>& users,
                                  int64_t now_ms) {
  if (previous && previous->finished == 0) return *previous;
  BootstrapProgress p;
  p.channel = channel;
  p.started = now_ms;
  for (const auto& u : users) p.users.push_back(BootstrapUser{u, false, 0});
  return p;
}

std::string bootstrap_summary(const std::optional<BootstrapProgress>& p) {
  if (!p) return "none";
  if (p->finished != 0) return "ready";
  return fmt::format("bootstrap {}/{} users", p->done_count(), p->users.size());
}

std::string progress_line(size_t done, size_t total, uint64_t messages,
                          std::chrono::milliseconds elapsed, size_t width) {
  const double secs = static_cast<double>(elapsed.count()) / 1000.0;
  const double rate = secs > 0 ? static_cast<double>(messages) / secs : 0.0;
  std::string eta = "--:--";
  if (done > 0 && done < total) {
    auto left =
        static_cast<long>(secs / static_cast<double>(done) * static_cast<double>(total - done));
    eta = fmt::format("{}:{:02}", left / 60, left % 60);
  } else if (done == total) {
    eta = "0:00";
  }
  std::string tail =
      fmt::format(" {}/{} users  {} msgs  {:.0f} msg/s  ETA {}", done, total, messages, rate, eta);
  size_t bar = width > tail.size() + 12 ? std::min<size_t>(30, width - tail.size() - 2) : 10;
  size_t filled = total == 0 ? bar : bar * done / total;
  std::string line = "[" + std::string(filled, '#') + std::string(bar - filled, '.') + "]" + tail;
  if (line.size() > width) line.resize(width);
  return line;
}

Bootstrap::Bootstrap(store::Instance& instance, BootstrapOptions options)
    : inst_(instance),
      opts_(std::move(options)),
      path_(bootstrap_path(instance.config().configdirectory(), opts_.channel)),
      sink_(instance) {}

Status Bootstrap::connect() {
  if (conn_) return Status::ok();
  auto c = ReplicaConnection::open(opts_.connect, &sink_);
  if (!c.ok()) {
    spdlog::error("SYNCERROR channel={} connecting to {}: {}",
                  opts_.channel.empty() ? "\"\"" : opts_.channel, opts_.connect.host,
                  c.status().to_string());
    return c.status();
  }
  conn_ = std::move(*c);
  return Status::ok();
}

Status Bootstrap::with_client(const std::function<Status(SyncClient&)>& work) {
  if (Status s = connect(); !s) return s;
  SyncClient client(inst_, *conn_, sink_, opts_.client);
  Status s = work(client);
  const ClientStats& st = client.stats();
  stats_.messages_uploaded += st.messages_uploaded;
  stats_.bytes_uploaded += st.bytes_uploaded;
  stats_.mailboxes_applied += st.mailboxes_applied;
  stats_.full_updates += st.full_updates;
  progress_.messages += st.messages_uploaded;
  // RESTART drops what the replica staged for this user; a connection that
  // fails it is broken and is opened afresh for the next user.
  Status r = conn_->simple("RESTART");
  sink_.clear();
  if (!r) conn_.reset();
  return s ? r : s;
}

void Bootstrap::save(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_save_ < std::chrono::milliseconds(200)) return;
  last_save_ = now;
  Status s = fs::make_dirs(fs::dirname(path_));
  if (s) s = fs::write_file_atomic(path_, to_json(progress_));
  if (!s) spdlog::warn("cannot write {}: {}", path_, s.to_string());
}

void Bootstrap::draw(bool final) {
  if (!opts_.progress_bar) return;
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - begun_);
  std::string line = progress_line(progress_.done_count(), progress_.users.size(),
                                   progress_.messages - messages_at_start_, elapsed);
  std::fprintf(stderr, "\r%s\x1b[K%s", line.c_str(), final ? "\n" : "");
  std::fflush(stderr);
}

Status Bootstrap::run() {
  begun_ = std::chrono::steady_clock::now();
  auto users = inst_.mailboxes().users();
  if (!users.ok()) return users.status();
  progress_ = start_or_resume(load_bootstrap(inst_.config().configdirectory(), opts_.channel),
                              opts_.channel, *users, unix_ms_now());
  resumed_done_ = progress_.done_count();
  messages_at_start_ = progress_.messages;
  if (resumed_done_ > 0)
    spdlog::info("bootstrap of channel {}: resuming, {} of {} users already done",
                 opts_.channel.empty() ? "\"\"" : opts_.channel, resumed_done_,
                 progress_.users.size());
  save(true);
  if (Status s = connect(); !s) return s;
  Status result;
  draw(false);
  for (auto& u : progress_.users) {
    if (u.done) continue;
    Status s = with_client([&](SyncClient& c) { return c.sync_user(u.user); });
    if (s) {
      u.done = true;
      u.finished = unix_ms_now();
    } else if (result) {
      result = s;
    }
    save(false);
    draw(false);
    if (!conn_ && !connect()) {
      save(true);
      draw(true);
      return s ? Status(Code::kIoError, "lost the replica") : s;
    }
  }
  if (!progress_.shared_done) {
    std::vector<std::string> shared;
    Status s = inst_.mailboxes().list("", false, [&](const store::MailboxEntry& e) {
      if (e.is_real() && store::mboxname_owner(e.name).empty() &&
          synclog::mboxname_userid(e.name).empty())
        shared.push_back(e.name);
      return true;
    });
    Status shared_result = s;
    for (const auto& name : shared) {
      Status one = with_client([&](SyncClient& c) { return c.sync_mailboxes({name}); });
      if (!one && shared_result) shared_result = one;
    }
    progress_.shared_done = static_cast<bool>(shared_result);
    if (!shared_result && result) result = shared_result;
  }
  if (result && progress_.done_count() == progress_.users.size())
    progress_.finished = unix_ms_now();
  save(true);
  draw(true);
  if (conn_) {
    Status s = conn_->simple("EXIT");
    if (!s) spdlog::warn("EXIT: {}", s.to_string());
  }
  return result;
}

}  // namespace replimail::sync
