// clusterd: the slot's registration in the cluster directory (issue 19,
// docs/CLUSTER.md).
//
//   clusterd [-C imapd.conf] [-M cyrus.conf] [-v]
//
// Run by master as a DAEMON entry (cyrus.conf:
//   clusterd cmd="clusterd -M /etc/cyrus.conf"); stays in the foreground.
// Reads the cluster options of imapd.conf (cluster_etcd_endpoints,
// cluster_slot_name, ...) and the slot's ports from cyrus.conf's SERVICES,
// then holds <prefix>slots/<name> in etcd under a lease it keeps alive
// (cluster/registration.h). Master SIGKILLs it when master dies, so a dead
// slot's key goes when the lease's TTL runs out. SIGTERM or SIGINT: the
// lease is revoked (the key goes at once), exit 0. Exit 64 on a usage
// error, 78 on a configuration error.
#include <signal.h>
#include <sysexits.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

#include "cluster/etcd_client.h"
#include "cluster/registration.h"
#include "common/config.h"
#include "common/log.h"
#include "common/program_config.h"
#include "master/cyrus_conf.h"

using namespace replimail;

namespace {

void usage() { std::fprintf(stderr, "usage: clusterd [-C imapd.conf] [-M cyrus.conf] [-v]\n"); }

}  // namespace

int main(int argc, char** argv) {
  std::string conf = "/etc/imapd.conf";
  std::string cyrus_conf = "/etc/cyrus.conf";
  bool verbose = false;
  int c;
  while ((c = ::getopt(argc, argv, "C:M:v")) != -1) {
    switch (c) {
      case 'C':
        conf = optarg;
        break;
      case 'M':
        cyrus_conf = optarg;
        break;
      case 'v':
        verbose = true;
        break;
      default:
        usage();
        return EX_USAGE;
    }
  }
  if (optind != argc) {
    usage();
    return EX_USAGE;
  }
  auto config = load_program_config("clusterd", conf, verbose);
  if (!config.ok()) return EX_CONFIG;
  auto options = cluster::cluster_options(*config, /*need_slot=*/true);
  if (!options.ok()) {
    spdlog::error("{}: {}", conf, options.status().message());
    return EX_CONFIG;
  }
  auto services = master::load_cyrus_conf(cyrus_conf);
  if (!services.ok()) {
    spdlog::error("{}", services.status().to_string());
    return EX_CONFIG;
  }
  auto slot = cluster::slot_info(*options, *services);
  if (!slot.ok()) {
    spdlog::error("{}", slot.status().message());
    return EX_CONFIG;
  }
  auto endpoints = cluster::parse_endpoints(options->endpoints);
  auto layout = cluster::KeyLayout::make(options->prefix);
  cluster::EtcdClient etcd(std::move(*endpoints));
  cluster::SlotRegistrar registrar(etcd, std::move(*layout), std::move(*slot), options->ttl);

  // Signals are taken by one thread (sigwait), so the registrar's threads
  // never run a handler.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::atomic<bool> stop{false};
  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("clusterd: signal {}: unregistering", sig);
    stop = true;
    registrar.wake();
  });
  signals.detach();
  registrar.run(stop);
  return 0;
}
