// squatter: builds and maintains the full-text search index (search/),
// with Cyrus's modes and flag names.
//
//   squatter [-C conf] [-v] [-i] [-S secs]             every mailbox
//   squatter [-C conf] [-v] [-i] [-r] mailbox...        those mailboxes (-r: and below)
//   squatter [-C conf] [-v] [-i] -u user...             those users' mailboxes
//   squatter [-C conf] [-v] [-S secs] -R [-n channel] [-d]   rolling on a channel
//   squatter [-C conf] [-v] -f synclogfile              what a saved sync log names
//   squatter [-C conf] -e "words" mailbox               stemmed word search (debug)
//
// Without -i a mailbox is indexed from scratch, and a user's whole index is
// rebuilt from the store (the repair for a damaged index). -R implies -i;
// it backgrounds itself unless -d is given or master runs it (CYRUS_ISDAEMON);
// SIGTERM, SIGINT or SIGHUP make it finish the current pass and exit 0.
#include <signal.h>
#include <sysexits.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/fs.h"
#include "common/stats.h"
#include "common/log.h"
#include "common/program_config.h"
#include "search/index.h"
#include "search/indexer.h"
#include "search/query.h"
#include "search/rolling.h"
#include "store/instance.h"
#include "store/mboxname.h"
#include "store/memory.h"
#include "sync/channel_status.h"
#include "synclog/reader.h"

using namespace replimail;

namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

int usage() {
  std::fprintf(stderr,
               "usage: squatter [-C conf] [-v] [-i] [-S secs] [-r] [mailbox...]\n"
               "       squatter [-C conf] [-v] [-i] -u user...\n"
               "       squatter [-C conf] [-v] [-S secs] -R [-n channel] [-d]\n"
               "       squatter [-C conf] [-v] -f synclogfile\n"
               "       squatter [-C conf] -e words mailbox\n");
  return EX_USAGE;
}

void report(const std::string& what, const search::IndexStats& s) {
  spdlog::info("squatter: {}: {} mailbox(es), {} indexed, {} linked, {} removed, {} unreadable",
               what, s.mailboxes, s.indexed, s.linked, s.removed, s.unreadable);
}

int run_rolling(store::Instance& instance, const std::string& channel,
                std::chrono::milliseconds pause, bool foreground) {
  if (!foreground && std::getenv("CYRUS_ISDAEMON") == nullptr && ::daemon(0, 1) != 0) {
    spdlog::error("squatter: cannot background: {}", std::strerror(errno));
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  search::RollingSquatter rolling(instance, channel, pause);
  // The channel's status.json, as a rolling sync_client keeps its own, so
  // that sync_status shows the indexer's channel (no replica: never
  // "connected"; a pass is a batch, its log lines the lines applied).
  const std::string confdir = instance.config().configdirectory();
  if (Status made = fs::make_dirs(sync::channel_dir(confdir, channel)); !made) {
    spdlog::error("squatter: {}", made.to_string());
    return 1;
  }
  sync::StatusFile status_file(sync::status_path(confdir, channel));
  sync::ChannelStatus st;
  st.channel = channel;
  st.pid = ::getpid();
  st.state = "idle";
  status_file.update(st, true);
  rolling.set_observer([&](const Result<search::PassResult>& r) {
    if (r.ok()) {
      st.batches++;
      st.lines_applied += r->lines;
      st.last_success = sync::unix_ms_now();
    } else {
      st.last_error = r.status().to_string();
      st.last_error_time = sync::unix_ms_now();
    }
    status_file.update(st, true);
  });
  Status s = rolling.run(g_stop);
  st.state = "stopped";
  status_file.update(st, true);
  if (!s) {
    spdlog::error("squatter: {}", s.to_string());
    return 1;
  }
  return 0;
}

int run_file(store::Instance& instance, const std::string& file) {
  auto reader = synclog::LogReader::for_file(file);
  Status s = reader.begin();
  if (!s) {
    spdlog::error("squatter: {}: {}", file, s.to_string());
    return 1;
  }
  auto r = search::process_work(instance, search::work_from_lines(reader.lines()), true,
                                std::chrono::milliseconds(0));
  report(file, r.stats);
  return r.failed == 0 && r.requeued.empty() ? 0 : 1;
}

int run_words(store::Instance& instance, const std::string& words, const std::string& name) {
  auto entry = instance.lookup(name);
  if (!entry.ok()) {
    spdlog::error("squatter: {}: {}", name, entry.status().to_string());
    return 1;
  }
  auto reader =
      search::IndexReader::open(search::index_path(instance.config(), store::mboxname_owner(name)));
  if (!reader.ok()) {
    spdlog::error("squatter: {}", reader.status().to_string());
    return 1;
  }
  std::string lang = instance.config().raw("search_stem_language").value_or("english");
  auto uids = (*reader)->match_words(entry->uniqueid, words, lang.empty() ? "english" : lang);
  if (!uids.ok()) {
    spdlog::error("squatter: {}", uids.status().to_string());
    return 1;
  }
  std::printf("%s:", name.c_str());
  for (uint32_t uid : *uids) std::printf(" %u", uid);
  std::printf("\n");
  return 0;
}

// The mailboxes to index for the named sources; users[] when -u.
Result<std::vector<std::string>> expand(store::Instance& instance,
                                        const std::vector<std::string>& names, bool recursive) {
  std::vector<std::string> out;
  for (const std::string& n : names) {
    if (!recursive) {
      out.push_back(n);
      continue;
    }
    auto tree = instance.mailboxes().list_tree(n);
    if (!tree.ok()) return tree.status();
    for (const auto& e : *tree) {
      if (e.is_real()) out.push_back(e.name);
    }
  }
  return out;
}

// The command line, once parsed.
struct Args {
  std::string conf = "/etc/imapd.conf";  // -C
  std::string channel = "squatter";      // -n
  std::string file;                      // -f
  std::string words;                     // -e
  bool rolling = false;                  // -R
  bool foreground = false;               // -d
  bool incremental = false;              // -i
  bool users = false;                    // -u
  bool recursive = false;                // -r
  bool verbose = false;                  // -v
  int sleep_secs = 0;                    // -S
  std::vector<std::string> names;        // mailboxes, users, or -e's mailbox
};

// False on a usage error.
bool parse_args(int argc, char** argv, Args& a) {
  int opt;
  while ((opt = ::getopt(argc, argv, "C:Rn:df:iurS:ve:")) != -1) {
    switch (opt) {
      case 'C':
        a.conf = optarg;
        break;
      case 'R':
        a.rolling = true;
        break;
      case 'n':
        a.channel = optarg;
        break;
      case 'd':
        a.foreground = true;
        break;
      case 'f':
        a.file = optarg;
        break;
      case 'i':
        a.incremental = true;
        break;
      case 'u':
        a.users = true;
        break;
      case 'r':
        a.recursive = true;
        break;
      case 'S':
        a.sleep_secs = std::atoi(optarg);
        break;
      case 'v':
        a.verbose = true;
        break;
      case 'e':
        a.words = optarg;
        break;
      default:
        return false;
    }
  }
  a.names.assign(argv + optind, argv + argc);
  int modes = (a.rolling ? 1 : 0) + (!a.file.empty() ? 1 : 0) + (!a.words.empty() ? 1 : 0);
  return modes <= 1 && !((a.rolling || !a.file.empty()) && !a.names.empty()) &&
         !(!a.words.empty() && a.names.size() != 1) && !(a.users && a.names.empty());
}

// Without -R, -f or -e: the named users' (-u; none named: every user's and
// the shared mailboxes) or mailboxes' index, -S seconds apart.
int run_batch(store::Instance& inst, const Args& a) {
  search::Indexer indexer(inst, true);
  int rc = 0;
  auto one = [&](const std::string& what, Result<search::IndexStats> r) {
    if (r.ok()) {
      report(what, *r);
    } else {
      spdlog::error("squatter: {}: {}", what, r.status().to_string());
      rc = 1;
    }
    if (a.sleep_secs > 0) ::sleep(static_cast<unsigned>(a.sleep_secs));
  };
  if (a.users || a.names.empty()) {
    std::vector<std::string> who = a.names;
    if (a.names.empty()) {
      auto all = inst.mailboxes().users();
      if (!all.ok()) {
        spdlog::error("squatter: {}", all.status().to_string());
        return 1;
      }
      who = *all;
      who.push_back("");  // shared mailboxes
    }
    for (const std::string& u : who) {
      one(u.empty() ? "shared mailboxes" : u, indexer.index_user(u, a.incremental));
    }
    return rc;
  }
  auto names = expand(inst, a.names, a.recursive);
  if (!names.ok()) {
    spdlog::error("squatter: {}", names.status().to_string());
    return 1;
  }
  for (const std::string& n : *names) one(n, indexer.index_mailbox(n, a.incremental));
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  // Mailboxes are streamed through once, as by sync_client: a bigger SQLite
  // cache, or mapped index pages, would make memory grow with the mailbox.
  store::limit_database_memory(1 << 20);
  Args a;
  if (!parse_args(argc, argv, a)) return usage();
  auto config = load_program_config("squatter", a.conf, a.verbose);
  if (!config.ok()) return EX_CONFIG;
  stats::configure(*config);
  if (!search::index_enabled(*config)) {
    spdlog::warn("squatter: search_engine is not xapian in {}: imapd will not use the index",
                 a.conf);
  }
  auto instance = store::Instance::open(*config);
  if (!instance.ok()) {
    spdlog::error("cannot open the mail store: {}", instance.status().to_string());
    return EX_TEMPFAIL;
  }
  store::Instance& inst = **instance;
  if (a.rolling)
    return run_rolling(inst, a.channel, std::chrono::milliseconds(1000L * a.sleep_secs),
                       a.foreground);
  if (!a.file.empty()) return run_file(inst, a.file);
  if (!a.words.empty()) return run_words(inst, a.words, a.names[0]);
  return run_batch(inst, a);
}
