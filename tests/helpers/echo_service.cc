// echo_service: a minimal service program for master's tests, built on
// net::run_service. Each session greets with "hello <pid> <service>" and
// then echoes every line back until "quit" or end of input.
//   echo_service [generic service options] [-g greeting-prefix]
#include <fmt/format.h>
#include <unistd.h>

#include <string>

#include "common/log.h"
#include "net/service.h"
#include "net/stream.h"

int main(int argc, char** argv) {
  replimail::init_logging("echo_service");
  auto options = replimail::net::parse_service_options(argc, argv);
  if (!options) return 64;
  std::string prefix = "hello";
  for (size_t i = 1; i + 1 < options->args.size(); ++i)
    if (options->args[i] == "-g") prefix = options->args[i + 1];
  return replimail::net::serve(*options, [&](replimail::net::Connection& conn) {
    replimail::net::Stream stream(conn.in_fd, conn.out_fd);
    stream.set_timeout(std::chrono::seconds(30));
    if (!stream.write_flush(fmt::format("{} {} {} {}\r\n", prefix, ::getpid(),
                                        conn.service.empty() ? "-" : conn.service,
                                        conn.is_unix ? "unix" : conn.peer)))
      return;
    for (;;) {
      auto line = stream.read_line(1024);
      if (!line || *line == "quit") return;
      if (!stream.write_flush(*line + "\r\n")) return;
    }
  });
}
