// The main() of an admin tool (cyr_expire, ipurge): -h/--help prints the
// usage; the arguments are parsed (a bad one: message and usage on stderr,
// EX_USAGE), imapd.conf and the instance opened (EX_CONFIG on failure), the
// tool run with each report line printed and flushed as it comes; 1 if the
// run failed, 0 otherwise.
#pragma once

#include <sysexits.h>

#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/log.h"
#include "common/status.h"
#include "store/instance.h"

namespace replimail::admin {

// The value of the option letter `c` at args[*i][j] (Cyrus's getopt
// grammar): the rest of that argument ("-d30") or, when it ends there, the
// next argument ("-d 30", *i advanced). kInvalidArgument if there is none.
inline Result<std::string> option_value(const std::vector<std::string>& args, size_t* i, size_t j,
                                        char c) {
  const std::string& a = args[*i];
  if (j + 1 < a.size()) return a.substr(j + 1);
  if (*i + 1 < args.size()) return args[++*i];
  return Status(Code::kInvalidArgument, std::string("-") + c + " needs a value");
}

template <typename Parse, typename Run>
int tool_main(const char* name, const char* usage, int argc, char** argv, Parse parse, Run run) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::fputs(usage, stdout);
      return 0;
    }
  }
  auto opts = parse(args);
  if (!opts.ok()) {
    std::fprintf(stderr, "%s: %s\n%s", name, opts.status().message().c_str(), usage);
    return EX_USAGE;
  }
  init_logging(name);
  auto cfg = Config::load(opts->config);
  if (!cfg.ok()) {
    std::fprintf(stderr, "%s: %s\n", name, cfg.status().to_string().c_str());
    return EX_CONFIG;
  }
  auto inst = store::Instance::open(*cfg);
  if (!inst.ok()) {
    std::fprintf(stderr, "%s: %s\n", name, inst.status().to_string().c_str());
    return EX_CONFIG;
  }
  auto report = run(**inst, *opts, ::time(nullptr), [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  });
  if (!report.ok()) {
    std::fprintf(stderr, "%s: %s\n", name, report.status().to_string().c_str());
    return 1;
  }
  return 0;
}

}  // namespace replimail::admin
