// cyr_mbox: replimail's non-IMAP administration tool for the mail store
// (tests and the run command use it).
//
//   cyr_mbox [-C imapd.conf] create NAME [-p PARTITION] [-q QUOTA_KIB]
//   cyr_mbox [-C imapd.conf] delete NAME
//   cyr_mbox [-C imapd.conf] rename OLD NEW
//   cyr_mbox [-C imapd.conf] setquota ROOT STORAGE_KIB [MESSAGES]   (-1: unlimited)
//   cyr_mbox [-C imapd.conf] list [PREFIX]
//   cyr_mbox [-C imapd.conf] info NAME
//   cyr_mbox [-C imapd.conf] records NAME
//   cyr_mbox [-C imapd.conf] reconstruct [-n] [-G] [NAME...]
#include <fmt/format.h>
#include <sysexits.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/log.h"
#include "store/check.h"
#include "store/instance.h"

namespace {

using replimail::Status;
using namespace replimail::store;

constexpr int kExitFail = 1;

int usage(const std::string& why) {
  std::fprintf(stderr,
               "cyr_mbox: %s\n"
               "usage: cyr_mbox [-C imapd.conf] COMMAND ARGS\n"
               "  create NAME [-p PARTITION] [-q QUOTA_KIB]\n"
               "  delete NAME\n"
               "  rename OLD NEW\n"
               "  setquota ROOT STORAGE_KIB [MESSAGES]   (-1 = unlimited)\n"
               "  list [PREFIX]\n"
               "  info NAME\n"
               "  records NAME\n"
               "  reconstruct [-n] [-G] [NAME...]\n",
               why.c_str());
  return EX_USAGE;
}

int fail(const Status& s) {
  std::fprintf(stderr, "cyr_mbox: %s\n", s.to_string().c_str());
  return kExitFail;
}

bool parse_int(const std::string& s, int64_t* out) {
  if (s == "none" || s == "unlimited") {
    *out = -1;
    return true;
  }
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0') return false;
  *out = v;
  return true;
}

int cmd_create(Instance& inst, std::vector<std::string> args) {
  CreateOptions opts;
  std::string name;
  for (size_t i = 0; i < args.size(); i++) {
    if (args[i] == "-p" && i + 1 < args.size()) {
      opts.partition = args[++i];
    } else if (args[i] == "-q" && i + 1 < args.size()) {
      if (!parse_int(args[++i], &opts.quota_storage_kib)) return usage("bad quota");
    } else if (name.empty() && !args[i].starts_with("-")) {
      name = args[i];
    } else {
      return usage("create: unexpected argument " + args[i]);
    }
  }
  if (name.empty()) return usage("create: NAME missing");
  auto e = inst.create_mailbox(name, opts);
  if (!e.ok()) return fail(e.status());
  std::printf("created %s uniqueid %s\n", e->name.c_str(), e->uniqueid.c_str());
  return 0;
}

void print_entry_line(const MailboxEntry& e) {
  std::printf("%s\t%s\t%s\t%s\t%u%s\n", e.name.c_str(), e.uniqueid.c_str(), e.mbtype.c_str(),
              e.partition.c_str(), e.uidvalidity, e.is_tombstone() ? "\t(tombstone)" : "");
}

int cmd_info(Instance& inst, const std::string& name) {
  auto e = inst.lookup(name);
  if (!e.ok()) return fail(e.status());
  auto mbox = inst.open_mailbox(name);
  if (!mbox.ok()) return fail(mbox.status());
  auto c = (*mbox)->counters();
  if (!c.ok()) return fail(c.status());
  uint64_t records = 0, expunged = 0;
  Status s = (*mbox)->for_each_record(0, [&](const IndexRecord& r) {
    records++;
    if (r.expunged()) expunged++;
    return true;
  });
  if (!s) return fail(s);
  auto root = inst.quota().find_root(name);
  std::string out;
  out += fmt::format("name: {}\nuniqueid: {}\nmbtype: {}\npartition: {}\npath: {}\n", e->name,
                     e->uniqueid, e->mbtype, e->partition, (*mbox)->dir());
  std::string acl = e->acl;
  for (char& ch : acl)
    if (ch == '\t') ch = ' ';
  out += fmt::format("acl: {}\nuidvalidity: {}\ncreatedmodseq: {}\nfoldermodseq: {}\n", acl,
                     c->uidvalidity, e->createdmodseq, e->foldermodseq);
  out += fmt::format(
      "last_uid: {}\nhighestmodseq: {}\nrecentuid: {}\nrecenttime: {}\nlast_appenddate: {}\n"
      "pop3_last_login: {}\npop3_show_after: {}\noptions: {}\nsync_crc: {}\nsync_crc_annot: {}\n"
      "exists: {}\nquota_used: {}\nrecords: {}\nexpunged: {}\n",
      c->last_uid, c->highestmodseq, c->recentuid, c->recenttime, c->last_appenddate,
      c->pop3_last_login, c->pop3_show_after, c->options, c->sync_crc, c->sync_crc_annot, c->exists,
      c->quota_used, records, expunged);
  if (root.ok() && root->has_value())
    out += fmt::format("quotaroot: {}\nquota_storage_kib: {}\nquota_messages: {}\n", (*root)->root,
                       (*root)->storage_limit_kib, (*root)->message_limit);
  std::fputs(out.c_str(), stdout);
  return 0;
}

int cmd_records(Instance& inst, const std::string& name) {
  auto mbox = inst.open_mailbox(name);
  if (!mbox.ok()) return fail(mbox.status());
  Status s = (*mbox)->for_each_record(0, [&](const IndexRecord& r) {
    std::string flags;
    for (const auto& f : system_flag_names(r.system_flags)) flags += (flags.empty() ? "" : " ") + f;
    for (const auto& f : r.user_flags) flags += (flags.empty() ? "" : " ") + f;
    std::printf("%u\t%llu\t%llu\t%s\t%lld\t(%s)\n", r.uid,
                static_cast<unsigned long long>(r.modseq), static_cast<unsigned long long>(r.size),
                r.guid.c_str(), static_cast<long long>(r.internaldate), flags.c_str());
    return true;
  });
  return s ? 0 : fail(s);
}

int cmd_reconstruct(Instance& inst, const std::vector<std::string>& args) {
  CheckOptions opts;
  opts.repair = true;
  std::vector<std::string> names;
  for (const auto& a : args) {
    if (a == "-n")
      opts.repair = false;
    else if (a == "-G")
      opts.verify_content = true;
    else if (a.starts_with("-"))
      return usage("reconstruct: unknown option " + a);
    else
      names.push_back(a);
  }
  auto n = reconstruct(inst, names, false, opts,
                       [](const std::string& line) { std::printf("%s\n", line.c_str()); });
  if (!n.ok()) return fail(n.status());
  std::printf("%zu problem(s)%s\n", *n, opts.repair && *n ? " repaired" : "");
  return (!opts.repair && *n > 0) ? kExitFail : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf";
  int opt;
  // '+': stop at the command so its own options are left alone.
  while ((opt = ::getopt(argc, argv, "+C:")) != -1) {
    if (opt == 'C')
      conf_path = optarg;
    else
      return usage("unknown option");
  }
  if (optind >= argc) return usage("no command");
  std::string cmd = argv[optind];
  std::vector<std::string> args(argv + optind + 1, argv + argc);

  replimail::init_logging("cyr_mbox");
  auto cfg = replimail::Config::load(conf_path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "cyr_mbox: %s\n", cfg.status().to_string().c_str());
    return EX_CONFIG;
  }
  auto inst = Instance::open(*cfg);
  if (!inst.ok()) {
    std::fprintf(stderr, "cyr_mbox: %s\n", inst.status().to_string().c_str());
    return EX_CONFIG;
  }
  Instance& in = **inst;

  if (cmd == "create") return cmd_create(in, args);
  if (cmd == "delete") {
    if (args.size() != 1) return usage("delete NAME");
    Status s = in.delete_mailbox(args[0]);
    return s ? 0 : fail(s);
  }
  if (cmd == "rename") {
    if (args.size() != 2) return usage("rename OLD NEW");
    Status s = in.rename_mailbox(args[0], args[1]);
    return s ? 0 : fail(s);
  }
  if (cmd == "setquota") {
    int64_t storage = -1, messages = -1;
    if (args.size() < 2 || args.size() > 3) return usage("setquota ROOT STORAGE_KIB [MESSAGES]");
    if (!parse_int(args[1], &storage)) return usage("bad STORAGE_KIB");
    if (args.size() == 3 && !parse_int(args[2], &messages)) return usage("bad MESSAGES");
    Status s = in.set_quota(args[0], storage, messages);
    return s ? 0 : fail(s);
  }
  if (cmd == "list") {
    if (args.size() > 1) return usage("list [PREFIX]");
    Status s = in.mailboxes().list(args.empty() ? "" : args[0], false, [](const MailboxEntry& e) {
      print_entry_line(e);
      return true;
    });
    return s ? 0 : fail(s);
  }
  if (cmd == "info") {
    if (args.size() != 1) return usage("info NAME");
    return cmd_info(in, args[0]);
  }
  if (cmd == "records") {
    if (args.size() != 1) return usage("records NAME");
    return cmd_records(in, args[0]);
  }
  if (cmd == "reconstruct") return cmd_reconstruct(in, args);
  return usage("unknown command " + cmd);
}
