// sync_client: one-shot replication to a replica's sync_server (Cyrus's
// sync_client, one-shot modes).
//
//   sync_client [-C imapd.conf] [-n channel] [-S host[:port]] [-p partition]
//               [-v] [-l] [-z] [-o] [-O] (-u user... | -m mailbox... | -A | -f file)
//
//   -u USER...   sync these users (with -f: users listed in FILE)
//   -m MBOX...   sync these mailboxes (internal names) as one batch (with -f: from FILE)
//   -A           sync every user, then every shared mailbox
//   -f FILE      alone: process FILE as a sync log (never renamed nor deleted)
//   -n CHANNEL   use <channel>_sync_host, _sync_port, _sync_authname, _sync_password
//   -S HOST      replica host (overrides sync_host); HOST:PORT or a unix socket path
//   -p PART      destination partition on the replica
//   -v           verbose: commands to stderr, a summary line on stdout (-v -v: replies too)
//   -l           verbose logging
//   -z           require compression
//   -o           accepted for Cyrus compatibility (unused, as in Cyrus 3.6)
//   -O           no copyback: never run a full update
// Exit status: 0 on success, 1 if anything failed, 64 on a usage error.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/fs.h"
#include "common/log.h"
#include "net/socket.h"
#include "store/instance.h"
#include "sync/client.h"
#include "sync/connection.h"
#include "synclog/reader.h"

namespace {

using namespace replimail;

constexpr int kExitUsage = 64;
constexpr int kExitConfig = 78;

void usage() {
  std::fprintf(stderr,
               "usage: sync_client [-C imapd.conf] [-n channel] [-S host[:port]] [-p partition]\n"
               "                   [-v] [-l] [-z] [-o] [-O] (-u user... | -m mailbox... | -A |"
               " -f file)\n");
}

// Names listed in a file, one per line; blank lines and # comments skipped.
std::vector<std::string> names_in(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty() && line[0] != '#') out.push_back(line);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string conf = "/etc/imapd.conf", channel, server, partition, file;
  int verbose = 0;
  bool logverbose = false, compress = false, no_copyback = false;
  char mode = 0;
  int opt;
  while ((opt = getopt(argc, argv, "C:n:S:p:f:vlzoOumA")) != -1) {
    switch (opt) {
      case 'C':
        conf = optarg;
        break;
      case 'n':
        channel = optarg;
        break;
      case 'S':
        server = optarg;
        break;
      case 'p':
        partition = optarg;
        break;
      case 'f':
        file = optarg;
        break;
      case 'v':
        verbose++;
        break;
      case 'l':
        logverbose = true;
        break;
      case 'z':
        compress = true;
        break;
      case 'o':
        break;
      case 'O':
        no_copyback = true;
        break;
      case 'u':
      case 'm':
      case 'A':
        if (mode != 0 && mode != opt) {
          usage();
          return kExitUsage;
        }
        mode = static_cast<char>(opt);
        break;
      default:
        usage();
        return kExitUsage;
    }
  }
  init_logging("sync_client", logverbose || verbose > 0);
  std::vector<std::string> args(argv + optind, argv + argc);
  if (mode == 0 && file.empty()) {
    usage();
    return kExitUsage;
  }
  auto config = Config::load(conf);
  if (!config.ok()) {
    spdlog::error("{}", config.status().to_string());
    return kExitConfig;
  }
  auto instance = store::Instance::open(*config);
  if (!instance.ok()) {
    spdlog::error("cannot open the mail store: {}", instance.status().to_string());
    return kExitConfig;
  }
  if (!file.empty() && (mode == 'u' || mode == 'm')) {
    auto text = fs::read_file(file);
    if (!text.ok()) {
      spdlog::error("{}", text.status().to_string());
      return 1;
    }
    for (auto& n : names_in(*text)) args.push_back(n);
  }
  if ((mode == 'u' || mode == 'm') && args.empty()) {
    usage();
    return kExitUsage;
  }

  sync::ConnectOptions co;
  std::string host = server.empty() ? config->channel_get(channel, "sync_host") : server;
  if (host.empty()) {
    spdlog::error("no replica: set {}sync_host or use -S", channel.empty() ? "" : channel + "_");
    return kExitConfig;
  }
  // host[:port][/tls][/noauth]: the flags are not supported; the port is.
  if (size_t slash = host.find('/'); slash != std::string::npos && slash != 0)
    host = host.substr(0, slash);
  std::string port = config->channel_get(channel, "sync_port");
  if (!host.starts_with("/")) {
    size_t colon = host.rfind(':');
    if (colon != std::string::npos && host.find(':') == colon) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
  }
  co.host = host;
  if (!host.starts_with("/")) {
    auto p = net::resolve_port(port.empty() ? "csync" : port);
    if (!p.ok()) {
      spdlog::error("sync port: {}", p.status().to_string());
      return kExitConfig;
    }
    co.port = *p;
  }
  co.authname = config->channel_get(channel, "sync_authname");
  co.password = config->channel_get(channel, "sync_password");
  co.require_compression = compress;
  co.verbose = verbose;
  auto t = config->get_duration("sync_timeout");
  co.timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::max(t, std::chrono::seconds(3)));

  sync::FetchSink fetched(**instance);
  auto conn = sync::ReplicaConnection::open(co, &fetched);
  if (!conn.ok()) {
    spdlog::error("SYNCERROR channel={} connecting to {}: {}", channel.empty() ? "\"\"" : channel,
                  host, conn.status().to_string());
    return 1;
  }
  sync::ClientOptions opts;
  opts.channel = channel;
  opts.partition = partition;
  opts.no_copyback = no_copyback;
  sync::SyncClient client(**instance, **conn, fetched, opts);

  Status result;
  auto keep = [&](Status s) {
    if (!s && result) result = s;
  };
  if (mode == 'u') {
    for (const auto& u : args) keep(client.sync_user(u));
  } else if (mode == 'm') {
    keep(client.sync_mailboxes(args));
  } else if (mode == 'A') {
    keep(client.sync_all());
  } else {
    synclog::LogReader reader = synclog::LogReader::for_file(file);
    Status s = reader.begin();
    if (!s) {
      spdlog::error("reading {}: {}", file, s.to_string());
      return 1;
    }
    keep(client.sync_lines(reader.lines()));
  }
  Status s = (*conn)->simple("EXIT");
  if (!s) spdlog::warn("EXIT: {}", s.to_string());
  const auto& st = client.stats();
  if (verbose > 0)
    std::printf("uploaded %llu messages (%llu bytes), applied %llu mailboxes, %llu full updates\n",
                static_cast<unsigned long long>(st.messages_uploaded),
                static_cast<unsigned long long>(st.bytes_uploaded),
                static_cast<unsigned long long>(st.mailboxes_applied),
                static_cast<unsigned long long>(st.full_updates));
  return result ? 0 : 1;
}
