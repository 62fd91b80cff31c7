// cyr_synclog: append one entry to the sync log of every enabled channel,
// as Cyrus's admin tool of the same name does.
//
//   cyr_synclog [-C imapd.conf] [-u|-U|-v|-m|-M|-q|-n] <value>
//   cyr_synclog [-C imapd.conf] -s <userid> <uniqueid>
//   cyr_synclog [-C imapd.conf] -b <userid> <mboxname>
//   cyr_synclog [-C imapd.conf] "<raw line>"
#include <sysexits.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "common/config.h"
#include "common/log.h"
#include "synclog/synclog.h"

namespace {

int usage(const char* why) {
  std::fprintf(stderr,
               "cyr_synclog: %s\n"
               "usage: cyr_synclog [-C imapd.conf] [-{type}] <value>\n"
               "  -u USER  -U UNUSER  -v META  -m MAILBOX  -M UNMAILBOX  -q QUOTA\n"
               "  -n ANNOTATION  -s SEEN <userid> <uniqueid>  -b SUB <userid> <mboxname>\n"
               "  without a type, <value> is written as a raw line\n",
               why);
  return EX_USAGE;
}

}  // namespace

int main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf";
  int type = 0;
  int opt;
  while ((opt = ::getopt(argc, argv, "C:uUvmMqnsb")) != -1) {
    if (opt == 'C') {
      conf_path = optarg;
    } else if (opt == '?') {
      return usage("unknown option");
    } else if (type != 0) {
      return usage("only one type flag may be given");
    } else {
      type = opt;
    }
  }
  const int want = (type == 's' || type == 'b') ? 2 : 1;
  if (argc - optind != want) return usage("wrong number of arguments");
  const std::string a = argv[optind];
  const std::string b = want == 2 ? argv[optind + 1] : "";

  replimail::init_logging("cyr_synclog");
  auto cfg = replimail::Config::load(conf_path);
  if (!cfg) {
    std::fprintf(stderr, "cyr_synclog: %s\n", cfg.status().to_string().c_str());
    return EX_CONFIG;
  }
  replimail::synclog::SyncLog log(*cfg);
  if (log.channels().empty()) {
    std::fprintf(stderr, "cyr_synclog: sync_log is off in %s: nothing written\n",
                 conf_path.c_str());
    return EX_TEMPFAIL;
  }

  std::vector<replimail::synclog::Line> lines;
  switch (type) {
    case 'u':
      lines = {{"USER", {a}}};
      break;
    case 'U':
      lines = {{"UNUSER", {a}}};
      break;
    case 'v':
      lines = {{"META", {a}}};
      break;
    case 'm':
      lines = {{"MAILBOX", {a}}};
      break;
    case 'M':
      lines = {{"UNMAILBOX", {a}}};
      break;
    case 'q':
      lines = {{"QUOTA", {a}}};
      break;
    case 'n':
      lines = {{"ANNOTATION", {a}}};
      break;
    case 's':
      lines = {{"SEEN", {a, b}}};
      break;
    case 'b':
      lines = {{"SUB", {a, b}}};
      break;
    default: {
      replimail::Status s = log.log_raw(a);
      if (!s) {
        std::fprintf(stderr, "cyr_synclog: %s\n", s.to_string().c_str());
        return s.code() == replimail::Code::kInvalidArgument ? EX_USAGE : EX_TEMPFAIL;
      }
      return 0;
    }
  }
  replimail::Status s = log.write(lines);
  if (!s) {
    std::fprintf(stderr, "cyr_synclog: %s\n", s.to_string().c_str());
    return s.code() == replimail::Code::kInvalidArgument ? EX_USAGE : EX_TEMPFAIL;
  }
  return 0;
}
