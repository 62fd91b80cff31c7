// cyr_cluster: the cluster directory by hand (issue 19, docs/CLUSTER.md).
//
//   cyr_cluster [-C imapd.conf] slots
//   cyr_cluster [-C imapd.conf] user <user>
//   cyr_cluster [-C imapd.conf] set-user <user> <primary-slot> [<replica-slot>...]
//   cyr_cluster [-C imapd.conf] set-primary <user> <slot>
//   cyr_cluster [-C imapd.conf] remove-user <user>
//
// Reads cluster_etcd_endpoints and cluster_etcd_prefix from imapd.conf.
// `slots` prints one line per live slot:
//   slot <name> host=<host> role=<role> imap=<port> pop3=<port> lmtp=<port> sync=<port>
// `user` prints  user <name> primary=<slot> replicas=<slot>,...  and one
//   bootstrap <slot> <state> line per replica copy recorded.
// set-user writes the user's entry (compare-and-swap against the entry it
// read); set-primary flips the primary (the old one becomes a replica).
// Exit 0; 1 when etcd refuses or the user is unknown (the reason on
// stderr); 64 on a usage error; 78 on a configuration error; 75
// (EX_TEMPFAIL) when no etcd member answered; 70 on an internal error.
#include <sysexits.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/directory.h"
#include "cluster/registration.h"
#include "common/config.h"
#include "common/log.h"

using namespace replimail;

namespace {

void usage() {
  std::fprintf(
      stderr,
      "usage: cyr_cluster [-C imapd.conf] slots\n"
      "       cyr_cluster [-C imapd.conf] user <user>\n"
      "       cyr_cluster [-C imapd.conf] set-user <user> <primary-slot> [<replica-slot>...]\n"
      "       cyr_cluster [-C imapd.conf] set-primary <user> <slot>\n"
      "       cyr_cluster [-C imapd.conf] remove-user <user>\n");
}

int failed(const Status& s) {
  std::fprintf(stderr, "cyr_cluster: %s\n", s.to_string().c_str());
  return s.code() == Code::kAgain ? EX_TEMPFAIL : 1;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

void print_user(const cluster::UserEntry& u) {
  std::printf("user %s primary=%s replicas=%s\n", u.user.c_str(), u.primary.c_str(),
              join(u.replicas).c_str());
}

int show_slots(cluster::Directory& dir, const std::vector<std::string>&) {
  auto slots = dir.slots();
  if (!slots.ok()) return failed(slots.status());
  for (const cluster::SlotInfo& s : *slots) {
    std::printf("slot %s host=%s role=%s imap=%d pop3=%d lmtp=%d sync=%d\n", s.name.c_str(),
                s.host.c_str(), s.role.c_str(), s.imap_port, s.pop3_port, s.lmtp_port,
                s.sync_port);
  }
  return 0;
}

int show_user(cluster::Directory& dir, const std::vector<std::string>& args) {
  auto u = dir.user(args[1]);
  if (!u.ok()) return failed(u.status());
  if (!u->has_value()) return failed(Status(Code::kNotFound, "no user " + args[1]));
  print_user(**u);
  auto boots = dir.bootstraps(args[1]);
  if (!boots.ok()) return failed(boots.status());
  for (const cluster::ReplicaBootstrap& b : *boots) {
    std::printf("bootstrap %s %s\n", b.slot.c_str(),
                std::string(cluster::bootstrap_state_name(b.state)).c_str());
  }
  return 0;
}

int set_user(cluster::Directory& dir, const std::vector<std::string>& args) {
  auto cur = dir.user(args[1]);
  if (!cur.ok()) return failed(cur.status());
  cluster::UserEntry u;
  u.user = args[1];
  u.primary = args[2];
  u.replicas.assign(args.begin() + 3, args.end());
  Status s = dir.put_user(u, cur->has_value() ? (*cur)->mod_revision : 0);
  if (!s.is_ok()) return failed(s);
  print_user(u);
  return 0;
}

int set_primary(cluster::Directory& dir, const std::vector<std::string>& args) {
  auto u = dir.set_primary(args[1], args[2]);
  if (!u.ok()) return failed(u.status());
  print_user(*u);
  return 0;
}

int remove_user(cluster::Directory& dir, const std::vector<std::string>& args) {
  Status s = dir.remove_user(args[1]);
  return s.is_ok() ? 0 : failed(s);
}

// The subcommands: name, how many words the command line has with it
// (at least, at most), what it does.
struct Subcommand {
  std::string_view name;
  size_t min_words;
  size_t max_words;
  int (*run)(cluster::Directory& dir, const std::vector<std::string>& args);
};
constexpr size_t kAny = SIZE_MAX;
constexpr Subcommand kSubcommands[] = {
    {"slots", 1, 1, show_slots},
    {"user", 2, 2, show_user},
    {"set-user", 3, kAny, set_user},
    {"set-primary", 3, 3, set_primary},
    {"remove-user", 2, 2, remove_user},
};

const Subcommand* find_subcommand(const std::vector<std::string>& args) {
  if (args.empty()) return nullptr;
  for (const Subcommand& c : kSubcommands) {
    if (c.name == args[0] && args.size() >= c.min_words && args.size() <= c.max_words) return &c;
  }
  return nullptr;
}

}  // namespace

static int run(int argc, char** argv) {
  std::string conf = "/etc/imapd.conf";
  int c;
  while ((c = ::getopt(argc, argv, "C:")) != -1) {
    if (c != 'C') {
      usage();
      return EX_USAGE;
    }
    conf = optarg;
  }
  std::vector<std::string> args(argv + optind, argv + argc);
  const Subcommand* cmd = find_subcommand(args);
  if (cmd == nullptr) {
    usage();
    return EX_USAGE;
  }
  init_logging("cyr_cluster");
  auto config = Config::load(conf);
  if (!config.ok()) {
    std::fprintf(stderr, "cyr_cluster: %s\n", config.status().to_string().c_str());
    return EX_CONFIG;
  }
  auto options = cluster::cluster_options(*config, /*need_slot=*/false);
  if (!options.ok()) {
    std::fprintf(stderr, "cyr_cluster: %s: %s\n", conf.c_str(), options.status().message().c_str());
    return EX_CONFIG;
  }
  cluster::EtcdClient etcd(cluster::parse_endpoints(options->endpoints).value());
  cluster::Directory dir(etcd, cluster::KeyLayout::make(options->prefix).value());
  return cmd->run(dir, args);
}

// What the libraries throw (std::bad_alloc, std::system_error from a thread
// that cannot start, cpp-httplib's std::regex_error) ends the program with
// a message instead of std::terminate.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cyr_cluster: %s\n", e.what());
    return EX_SOFTWARE;
  }
}
