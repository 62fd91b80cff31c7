#include "common/config_options.h"

#include <algorithm>
#include <optional>

#include "common/config.h"

namespace replimail {
namespace {

using K = OptionKind;
using S = Support;

// The options replimail reads, with Cyrus 3.6's defaults and units
// (imapd.conf(5)); replimail's own are marked. Every entry is read
// somewhere: an option that is not read must not be here, so that setting
// it gets its start-up warning.
constexpr OptionSpec kOptions[] = {
    {"admins", K::kString, "", S::kSame},
    {"allowplaintext", K::kSwitch, "0", S::kSame},
    {"altnamespace", K::kSwitch, "1", S::kSame},
    {"autocreate_acl", K::kString, "", S::kDifferent},
    {"autocreate_inbox_folders", K::kString, "", S::kSame},
    {"autocreate_post", K::kSwitch, "0", S::kSame},
    {"autocreate_quota", K::kInt, "-1", S::kSame},
    {"autocreate_quota_messages", K::kInt, "-1", S::kSame},
    {"autocreate_subscribe_folders", K::kString, "", S::kSame},
    {"autocreate_users", K::kString, "anyone", S::kDifferent},
    // lmtpproxyd's connections to the slots (Cyrus: murder proxies' to
    // their backends).
    {"client_timeout", K::kDuration, "10s", S::kSame, 's'},
    // replimail's (docs/CLUSTER.md): the cluster directory in etcd that
    // clusterd registers the slot in and mailauthd routes logins by.
    {"cluster_controller", K::kSwitch, "0", S::kSame},
    // TLS and authentication to etcd (cluster/etcd_settings.h).
    {"cluster_etcd_cacert", K::kString, "", S::kSame},
    {"cluster_etcd_cert", K::kString, "", S::kSame},
    {"cluster_etcd_endpoints", K::kString, "", S::kSame},
    {"cluster_etcd_key", K::kString, "", S::kSame},
    {"cluster_etcd_password", K::kString, "", S::kSame},
    {"cluster_etcd_prefix", K::kString, "/replimail/", S::kSame},
    {"cluster_etcd_user", K::kString, "", S::kSame},
    {"cluster_lease_ttl", K::kDuration, "10s", S::kSame, 's'},
    {"cluster_slot_host", K::kString, "", S::kSame},
    {"cluster_slot_name", K::kString, "", S::kSame},
    {"cluster_slot_role", K::kString, "primary", S::kSame},
    {"configdirectory", K::kString, "", S::kSame},
    {"defaultpartition", K::kString, "", S::kSame},
    // Read by imapd's DELETE and sync_server's UNMAILBOX/UNUSER
    // (store::remove_mailbox: a replica also keeps what its master deleted
    // at once) and cyr_expire -D.
    {"delete_mode", K::kString, "delayed", S::kDifferent},
    {"deletedprefix", K::kString, "DELETED", S::kSame},
    {"duplicate_db_path", K::kString, "", S::kSame},
    {"duplicatesuppression", K::kSwitch, "1", S::kSame},
    // Cyrus 3.6's default is delayed; ours keeps semidelayed (files go at
    // the expunge) unless set. "immediate" is taken as semidelayed: records
    // stay so that replicas hear of the expunge.
    {"expunge_mode", K::kString, "semidelayed", S::kDifferent},
    {"failedloginpause", K::kDuration, "3s", S::kSame, 's'},
    // The shared message annotation FETCH PREVIEW shows (RFC 8970).
    {"jmap_preview_annot", K::kString, "", S::kSame},
    // replimail's: see maxloginfailures_per_host.
    {"loginfailures_lockout", K::kDuration, "15m", S::kSame, 's'},
    {"loginfailures_window", K::kDuration, "10m", S::kSame, 's'},
    {"lmtp_downcase_rcpt", K::kSwitch, "1", S::kSame},
    {"lmtp_over_quota_perm_failure", K::kSwitch, "0", S::kSame},
    {"lmtp_strict_quota", K::kSwitch, "0", S::kSame},
    // Cyrus 3.8's (not in 3.6): the largest literal imapd accepts.
    {"maxliteral", K::kInt, "131072", S::kSame},
    // Cyrus 3.8's (not in 3.6): the largest command imapd holds.
    {"maxargssize", K::kInt, "0", S::kSame},
    // replimail's: failed logins from one host / for one user within
    // loginfailures_window that lock it out for loginfailures_lockout.
    {"maxloginfailures_per_host", K::kInt, "0", S::kSame},
    {"maxloginfailures_per_user", K::kInt, "0", S::kSame},
    {"maxlogins_per_host", K::kInt, "0", S::kSame},
    {"maxlogins_per_user", K::kInt, "0", S::kSame},
    {"maxmessagesize", K::kInt, "0", S::kSame},
    {"maxquoted", K::kInt, "131072", S::kSame},
    {"maxword", K::kInt, "131072", S::kSame},
    // Cyrus's: promstatsd and the statistics every process publishes.
    {"prometheus_enabled", K::kSwitch, "0", S::kSame},
    {"prometheus_stats_dir", K::kString, "", S::kSame},
    {"prometheus_update_freq", K::kDuration, "10s", S::kSame, 's'},
    {"poptimeout", K::kDuration, "10m", S::kSame, 'm'},
    {"sasl_minimum_layer", K::kInt, "0", S::kSame},
    {"quotawarn", K::kInt, "90", S::kSame},
    {"quotawarnkb", K::kInt, "0", S::kSame},
    {"quotawarnmsg", K::kInt, "0", S::kSame},
    {"search_engine", K::kString, "none", S::kDifferent},
    // replimail's: the Xapian stemmer squatter and SEARCH use.
    {"search_stem_language", K::kString, "english", S::kSame},
    {"servername", K::kString, "", S::kSame},
    {"sharedprefix", K::kString, "Shared Folders", S::kSame},
    {"sievedir", K::kString, "", S::kDifferent},
    {"sync_authname", K::kString, "", S::kSame},
    {"sync_batchsize", K::kInt, "8192", S::kDifferent},
    // replimail's: the rolling client's parallel connections per channel.
    {"sync_client_workers", K::kInt, "4", S::kSame},
    {"sync_host", K::kString, "", S::kSame},
    {"sync_log", K::kSwitch, "0", S::kSame},
    {"sync_log_chain", K::kSwitch, "0", S::kSame},
    {"sync_log_channels", K::kString, "", S::kSame},
    {"sync_log_unsuppressable_channels", K::kString, "squatter", S::kSame},
    {"sync_password", K::kString, "", S::kSame},
    // replimail's: a replication peer silent this long in an exchange is
    // taken for dead and the connection made again.
    {"sync_peer_timeout", K::kDuration, "20s", S::kSame, 's'},
    {"sync_port", K::kString, "", S::kDifferent},
    {"sync_reconnect_maxwait", K::kDuration, "20m", S::kSame, 's'},
    {"sync_repeat_interval", K::kDuration, "1s", S::kSame, 's'},
    {"sync_shutdown_file", K::kString, "", S::kSame},
    {"sync_timeout", K::kDuration, "30m", S::kSame, 's'},
    // replimail's (lossless failover): LMTP's 250 and IMAP's tagged
    // response for a change wait until this many replica channels have
    // applied it, for at most sync_wait_timeout; then sync_wait_on_timeout
    // (async: acknowledge anyway; refuse: tell the client to try again).
    {"sync_wait_on_timeout", K::kString, "async", S::kSame},
    {"sync_wait_replicas", K::kInt, "0", S::kSame},
    {"sync_wait_timeout", K::kDuration, "10s", S::kSame, 's'},
    {"syslog_facility", K::kString, "", S::kDifferent},
    {"syslog_prefix", K::kString, "", S::kSame},
    {"timeout", K::kDuration, "32m", S::kSame, 'm'},
    {"tls_client_ca_dir", K::kString, "", S::kSame},
    {"tls_client_ca_file", K::kString, "", S::kSame},
    {"tls_client_cert", K::kString, "", S::kSame},
    // off | optional | require (net/tls: every TLS server's handshake).
    {"tls_client_certs", K::kString, "optional", S::kSame},
    {"tls_client_key", K::kString, "", S::kSame},
    // Cyrus 3.6's client loads them but does not check the server's
    // certificate; sync_client refuses one that does not verify.
    {"tls_server_ca_dir", K::kString, "", S::kDifferent},
    {"tls_server_ca_file", K::kString, "", S::kDifferent},
    {"tls_server_cert", K::kString, "", S::kDifferent},
    {"tls_server_key", K::kString, "", S::kDifferent},
    {"unixhierarchysep", K::kSwitch, "1", S::kSame},
    {"userprefix", K::kString, "Other Users", S::kSame},
};

constexpr std::string_view kCyrus36[] = {
#include "common/cyrus36_options.inc"
};

// Families: keys named by a prefix and the man page's spelling of them.
struct Family {
  std::string_view prefix;
  std::string_view documented;
  Support support;
};
constexpr Family kFamilies[] = {
    {"partition-", "partition-name", S::kSame},
    {"searchpartition-", "searchpartition-name", S::kSame},
    {"xlist-", "xlist-flag", S::kSame},
    {"metapartition-", "metapartition-name", S::kIgnored},
    {"archivepartition-", "archivepartition-name", S::kIgnored},
    {"backuppartition-", "backuppartition-name", S::kIgnored},
};

// Options whose every value but one would put mail at risk if ignored.
struct Refused {
  std::string_view name;
  std::string_view harmless;  // a value that means what replimail does
  OptionKind kind;
};
constexpr Refused kRefused[] = {
    // Mail for alice@a.example and alice@b.example would land in one INBOX.
    {"virtdomains", "off", K::kString},
    // Clients could change and delete mail the administrator froze.
    {"readonly", "0", K::kSwitch},
    // Authentication without TLS would be offered where it was forbidden.
    {"tls_required", "0", K::kSwitch},
};

// Options a channel may override as "<channel>_<option>": ours, read
// through Config::channel_get(), and Cyrus's others.
constexpr std::string_view kChannelOptions[] = {
    "sync_authname",
    "sync_batchsize",
    "sync_cache_db_path",
    "sync_client_workers",
    "sync_host",
    "sync_password",
    "sync_port",
    "sync_realm",
    "sync_reconnect_maxwait",
    "sync_repeat_interval",
    "sync_shutdown_file",
    "sync_try_imap",
};

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool is_cyrus36(std::string_view name) {
  return std::find(std::begin(kCyrus36), std::end(kCyrus36), name) != std::end(kCyrus36);
}

const Refused* find_refused(std::string_view name) {
  for (const auto& r : kRefused)
    if (r.name == name) return &r;
  return nullptr;
}

// The support of a plain (non-family, non-override) option name.
std::optional<Support> plain_support(std::string_view name) {
  if (const OptionSpec* o = find_option_spec(name)) return o->support;
  if (find_refused(name)) return S::kRefused;
  // libsasl2's own options, passed on as Cyrus does (sasl_option); those
  // two are Cyrus's, read by Cyrus itself, and not by us.
  if (starts_with(name, "sasl_") && name != "sasl_maximum_layer" && name != "sasl_auto_transition")
    return S::kSame;
  if (is_cyrus36(name)) return S::kIgnored;
  return std::nullopt;
}

}  // namespace

std::span<const OptionSpec> option_specs() { return kOptions; }

const OptionSpec* find_option_spec(std::string_view name) {
  for (const auto& o : kOptions)
    if (o.name == name) return &o;
  return nullptr;
}

std::span<const std::string_view> cyrus36_options() { return kCyrus36; }

Support option_support(std::string_view name) {
  for (const auto& f : kFamilies) {
    if (name == f.documented) return f.support;
    if (starts_with(name, f.prefix) && name.size() > f.prefix.size()) return f.support;
  }
  if (name == "sasl_option") return S::kSame;
  if (name == "@include") return S::kSame;
  if (auto s = plain_support(name)) return *s;
  // "<channel>_sync_host" and the like.
  for (std::string_view opt : kChannelOptions) {
    if (name.size() > opt.size() + 1 && name.substr(name.size() - opt.size()) == opt &&
        name[name.size() - opt.size() - 1] == '_')
      return plain_support(opt).value_or(S::kIgnored);
  }
  // Cyrus's "<service>_<option>" overrides, "<host>_mechs" and
  // "<host>_password": Cyrus options that replimail does not implement.
  for (size_t us = name.find('_'); us != std::string_view::npos; us = name.find('_', us + 1)) {
    std::string_view rest = name.substr(us + 1);
    if (rest == "mechs" || rest == "password" || plain_support(rest)) return S::kIgnored;
  }
  return S::kUnknown;
}

bool refused_value_is_harmless(std::string_view name, std::string_view value) {
  const Refused* r = find_refused(name);
  if (r == nullptr) return true;
  if (r->kind == K::kSwitch) {
    auto v = parse_switch(value);
    auto h = parse_switch(r->harmless);
    return v && h && *v == *h;
  }
  auto v = parse_switch(value);  // Cyrus's enums take "0"/"no" for "off" too
  if (v.has_value() && !*v && r->harmless == "off") return true;
  return value == r->harmless;
}

std::string_view support_name(Support s) {
  switch (s) {
    case S::kSame:
      return "same";
    case S::kDifferent:
      return "different";
    case S::kIgnored:
      return "ignored";
    case S::kRefused:
      return "refused";
    case S::kUnknown:
      return "unknown";
  }
  return "unknown";
}

}  // namespace replimail
