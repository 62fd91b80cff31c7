#include "service/startup.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "common/log.h"
#include "net/sasl.h"

namespace replimail::service {

namespace {

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

Result<std::map<std::string, std::string>> parse_flags(const std::vector<std::string>& args,
                                                       const std::vector<Flag>& flags) {
  std::map<std::string, std::string> given;
  for (size_t i = 1; i < args.size(); ++i) {
    const Flag* flag = nullptr;
    for (const Flag& f : flags) {
      if (f.name == args[i]) flag = &f;
    }
    if (!flag) return Status(Code::kInvalidArgument, "unknown option " + args[i]);
    if (flag->value.empty()) {
      given[flag->name] = "";
      continue;
    }
    if (i + 1 >= args.size()) {
      return Status(Code::kInvalidArgument, "option " + flag->name + " needs " + flag->value);
    }
    given[flag->name] = args[++i];
  }
  return given;
}

std::string usage_line(const Spec& spec) {
  std::string line = "usage: " + spec.program + " [-C imapd.conf] [-U uses] [-T timeout] [-X] [-D]";
  for (const Flag& f : spec.flags) {
    line += " [" + f.name + (f.value.empty() ? "" : " " + f.value) + "]";
  }
  return line;
}

Result<Started> start(int argc, char** argv, const Spec& spec) {
  init_logging(spec.program);
  Started started;
  auto options = net::parse_service_options(argc, argv);
  if (!options.ok()) return options.status();
  started.options = std::move(options).value();
  auto flags = parse_flags(started.options.args, spec.flags);
  if (!flags.ok()) {
    return Status(Code::kInvalidArgument, flags.status().message() + "; " + usage_line(spec));
  }
  started.flags = std::move(flags).value();

  auto configured = spec.open_store ? store::open_configured(started.options.config_path)
                                    : store::load_configured(started.options.config_path);
  if (!configured.ok()) return configured.status();
  started.configured = std::move(configured).value();
  const Config& config = started.config();

  Status sasl = net::sasl_init(config, "replimail");
  if (!sasl.is_ok()) spdlog::error("SASL: {}; {}", sasl.to_string(), spec.without_sasl);

  if (spec.tls && !config.get("tls_server_cert").empty()) {
    auto ctx = net::TlsContext::create(config);
    if (ctx.ok()) {
      started.tls = std::move(ctx).value();
    } else if (!spec.tls_required_by.empty() && started.has(spec.tls_required_by)) {
      return ctx.status();
    } else {
      spdlog::error("{}", ctx.status().to_string());
    }
  }
  started.servername = config.get("servername");
  if (started.servername.empty()) started.servername = host_name();
  return started;
}

int fail(const Status& why) {
  if (why.code() == Code::kInvalidArgument) {
    spdlog::error("{}", why.message());
    return kExitUsage;
  }
  spdlog::error("{}", why.to_string());
  return kExitConfig;
}

}  // namespace replimail::service
