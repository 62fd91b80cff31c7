// Promotion of a replica to primary and the old primary's rejoin
// (docs/OPERATIONS.md "Failover step by step"): the steps cyr_promote runs
// by hand and clusterd runs when the failover controller asks it
// (docs/CLUSTER.md "Automatic failover"). One implementation for both.
//
// promote(): on the replica that becomes the primary. The old primary is
// fenced and drained when its imapd.conf is reachable (old_conf), else
// reported unreachable; imapd.conf logs to a channel per target (the old
// primary first, recorded bootstrapping so its first sync is a full one
// that merges what it alone had), cyrus.conf runs a rolling sync_client per
// channel, this instance's readonly fence goes, master gets SIGHUP.
//
// rejoin(): on the old primary when it comes back: it stops feeding anyone
// (its replication channels and their rolling clients go), its fence is
// lifted, master gets SIGHUP; the new primary's channel then merges it.
//
// Both print every step through `out` as they do it, and can be run again
// after a failure or when already done (every step is idempotent). Exit
// codes as cyr_promote's: 0 done, 1 a step failed, EX_CONFIG (78) a
// configuration that cannot be used (nothing changed; the reason through
// `err`). Not thread-safe: one promotion or rejoin at a time per instance.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace replimail::admin {

// A channel and where its replica's sync_server listens.
struct PromoteTarget {
  std::string channel;
  std::string host;  // HOST[:PORT], as <channel>_sync_host takes it
};

// "CHANNEL=HOST[:PORT]"; nullopt when malformed (channel: letters, digits,
// '_', '-').
std::optional<PromoteTarget> parse_promote_target(const std::string& arg);

struct PromoteOptions {
  std::string conf = "/etc/imapd.conf";  // absolute paths
  std::string cyrus_conf = "/etc/cyrus.conf";
  // Master to send SIGHUP: its pidfile, else master_pid (clusterd passes
  // its parent); neither: the operator is told to do it.
  std::string pidfile;
  pid_t master_pid = 0;
  // promote() only.
  std::optional<PromoteTarget> old_primary;  // required
  std::string old_conf;                      // the old primary's imapd.conf, if reachable
  std::string old_channel;                   // its channel to this instance (guessed if empty)
  std::vector<PromoteTarget> replicas;
  int drain_secs = 120;
};

// Where the report goes, line by line, as it is made.
struct PromoteOutput {
  std::function<void(const std::string&)> out;  // the numbered steps
  std::function<void(const std::string&)> err;  // why nothing could be done
};

int promote(const PromoteOptions& o, const PromoteOutput& output);
int rejoin(const PromoteOptions& o, const PromoteOutput& output);

// promote()'s channel steps alone, for o.replicas: imapd.conf logs to each
// one's channel with its sync host (sync_log on), the channels that appear
// are recorded bootstrapping in mailboxes.db (store/channels.h: their
// rolling client fills the replica with -A first), cyrus.conf runs a
// rolling sync_client per channel, master gets SIGHUP. The credentials are
// this instance's own (sync_authname, sync_password). What clusterd runs
// when a replica slot is placed for one of its users (cluster/
// replica_feed.h). Exit codes as promote()'s.
int add_channels(const PromoteOptions& o, const PromoteOutput& output);

// The inverse, for the channels of o.replicas (their hosts unused):
// imapd.conf stops logging to them and forgets their sync hosts (sync_log
// off when no channel is left), mailboxes.db forgets them (one added again
// bootstraps afresh), cyrus.conf's rolling sync_clients of them are
// commented out, master gets SIGHUP. Their pending logs stay where they
// are, named in the report. What clusterd runs when no user of its slot
// is placed on a channel's replica slot any more. Exit codes as promote()'s.
int remove_channels(const PromoteOptions& o, const PromoteOutput& output);

}  // namespace replimail::admin
