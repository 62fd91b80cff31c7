#include "net/sasl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sasl/sasl.h>
#include <sys/socket.h>

#include <map>
#include <mutex>
#include <utility>

#include "common/base64.h"
#include "common/log.h"

namespace replimail::net {

namespace {

// libsasl2 keeps the callbacks given to sasl_server_init for the life of the
// process and expects option strings it is handed to stay valid, so the
// configuration and every looked-up value live here.
struct SaslGlobals {
  std::mutex mu;
  bool initialised = false;
  std::string appname;
  Config config;
  std::map<std::string, std::string> answers;  // option key -> value handed out
};

SaslGlobals& globals() {
  static SaslGlobals* g = new SaslGlobals();
  return *g;
}

// Cyrus's lookup order: "sasl_<plugin>_<option>", then "sasl_<option>".
int getopt_cb(void* /*context*/, const char* plugin_name, const char* option, const char** result,
              unsigned* len) {
  SaslGlobals& g = globals();
  std::lock_guard<std::mutex> lock(g.mu);
  std::vector<std::string> keys;
  if (plugin_name != nullptr) keys.push_back(std::string("sasl_") + plugin_name + "_" + option);
  keys.push_back(std::string("sasl_") + option);
  for (const std::string& key : keys) {
    std::string value = g.config.get(key);
    if (value.empty()) continue;
    auto [it, inserted] = g.answers.insert_or_assign(key, std::move(value));
    *result = it->second.c_str();
    if (len != nullptr) *len = static_cast<unsigned>(it->second.size());
    return SASL_OK;
  }
  return SASL_FAIL;
}

int log_cb(void* /*context*/, int level, const char* message) {
  switch (level) {
    case SASL_LOG_ERR:
      spdlog::error("sasl: {}", message);
      break;
    case SASL_LOG_FAIL:
    case SASL_LOG_WARN:
      spdlog::warn("sasl: {}", message);
      break;
    case SASL_LOG_NOTE:
      spdlog::info("sasl: {}", message);
      break;
    default:
      spdlog::debug("sasl: {}", message);
      break;
  }
  return SASL_OK;
}

using GenericCallback = int (*)();

// libsasl2's callback table stores every callback as int(*)(); going through
// void* is how its own users convert.
template <typename F>
GenericCallback as_generic(F* f) {
  return reinterpret_cast<GenericCallback>(reinterpret_cast<void*>(f));
}

const sasl_callback_t* callbacks() {
  static const sasl_callback_t kCallbacks[] = {
      {SASL_CB_GETOPT, as_generic(&getopt_cb), nullptr},
      {SASL_CB_LOG, as_generic(&log_cb), nullptr},
      {SASL_CB_LIST_END, nullptr, nullptr},
  };
  return kCallbacks;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Mechanisms whose server messages do not depend on the connection (no
// nonce), so the client's responses can be replayed on a fresh one.
bool replayable(std::string_view mechanism) {
  std::string m = ascii_lower(mechanism);
  return m == "plain" || m == "login";
}

std::string sasl_error(int rc) {
  // Do not tell a client whether the user exists (Cyrus does the same).
  return sasl_errstring(rc == SASL_NOUSER ? SASL_BADAUTH : rc, nullptr, nullptr);
}

}  // namespace

struct Libsasl2Server::Conn {
  sasl_conn_t* conn = nullptr;
  ~Conn() {
    if (conn != nullptr) sasl_dispose(&conn);
  }
};

Status sasl_init(const Config& config, std::string_view appname) {
  SaslGlobals& g = globals();
  {
    std::lock_guard<std::mutex> lock(g.mu);
    if (g.initialised) {
      if (g.appname != appname || g.config.path() != config.path()) {
        return Status(Code::kInternal, "sasl_init called twice with different settings");
      }
      return Status::success();
    }
    g.appname = std::string(appname);
    g.config = config;
  }
  int rc = sasl_server_init(callbacks(), g.appname.c_str());
  if (rc != SASL_OK) {
    return Status(Code::kConfigError,
                  "sasl_server_init: " + std::string(sasl_errstring(rc, nullptr, nullptr)));
  }
  std::lock_guard<std::mutex> lock(g.mu);
  g.initialised = true;
  return Status::success();
}

Libsasl2Server::Libsasl2Server(SaslEndpoint endpoint, bool allow_plaintext, int min_ssf)
    : endpoint_(std::move(endpoint)),
      allow_plaintext_(allow_plaintext),
      min_ssf_(min_ssf),
      conn_(std::make_unique<Conn>()) {
  realms_.push_back(ascii_lower(endpoint_.server_fqdn));
  if (realms_[0] != endpoint_.server_fqdn) realms_.push_back(endpoint_.server_fqdn);
}

Libsasl2Server::~Libsasl2Server() = default;

Result<std::unique_ptr<Libsasl2Server>> Libsasl2Server::create(const Config& config,
                                                               SaslEndpoint endpoint) {
  {
    SaslGlobals& g = globals();
    std::lock_guard<std::mutex> lock(g.mu);
    if (!g.initialised) return Status(Code::kInternal, "sasl_init() has not been called");
  }
  bool plaintext = config.get_bool("allowplaintext") || endpoint.secure_channel;
  std::unique_ptr<Libsasl2Server> s(new Libsasl2Server(
      std::move(endpoint), plaintext, static_cast<int>(config.get_int("sasl_minimum_layer"))));
  Status st = s->renew(0);
  if (!st.is_ok()) return st;
  return s;
}

Status Libsasl2Server::renew(size_t realm) {
  conn_ = std::make_unique<Conn>();
  used_ = false;
  conn_realm_ = realm;
  auto opt = [](const std::string& s) { return s.empty() ? nullptr : s.c_str(); };
  // The first realm is libsasl2's own default (no user_realm); any other is
  // given explicitly, and libsasl2 then appends it to the user name.
  int rc =
      sasl_server_new(endpoint_.service.c_str(), opt(endpoint_.server_fqdn),
                      realm == 0 ? nullptr : realms_[realm].c_str(), opt(endpoint_.local_ip_port),
                      opt(endpoint_.remote_ip_port), nullptr, 0, &conn_->conn);
  if (rc != SASL_OK) {
    return Status(Code::kInternal,
                  "sasl_server_new: " + std::string(sasl_errstring(rc, nullptr, nullptr)));
  }
  sasl_security_properties_t props{};
  props.min_ssf = static_cast<sasl_ssf_t>(min_ssf_);
  // No security layer is wired into our streams, so none is ever negotiated
  // (sasl_maximum_layer is ignored); a sasl_minimum_layer above 0 therefore
  // refuses every mechanism, which is the safe reading of it.
  props.max_ssf = 0;
  props.maxbufsize = 0;
  props.security_flags = SASL_SEC_NOANONYMOUS;
  if (!allow_plaintext_) props.security_flags |= SASL_SEC_NOPLAINTEXT;
  rc = sasl_setprop(conn_->conn, SASL_SEC_PROPS, &props);
  if (rc != SASL_OK) {
    return Status(Code::kInternal, "sasl_setprop(SEC_PROPS): " + sasl_error(rc));
  }
  return Status::success();
}

std::vector<std::string> Libsasl2Server::mechanisms() {
  const char* list = nullptr;
  unsigned len = 0;
  int count = 0;
  std::vector<std::string> mechs;
  if (sasl_listmech(conn_->conn, nullptr, "", " ", "", &list, &len, &count) != SASL_OK) {
    return mechs;
  }
  std::string_view all(list, len);
  while (!all.empty()) {
    size_t sp = all.find(' ');
    if (sp != 0) mechs.emplace_back(all.substr(0, sp));
    if (sp == std::string_view::npos) break;
    all.remove_prefix(sp + 1);
  }
  return mechs;
}

SaslStep Libsasl2Server::result(int rc, const char* out, unsigned outlen) {
  SaslStep step;
  if (rc == SASL_OK || rc == SASL_CONTINUE) {
    step.kind = rc == SASL_OK ? SaslStep::Kind::kOk : SaslStep::Kind::kContinue;
    if (out != nullptr) step.data.assign(out, outlen);
    return step;
  }
  step.kind = rc == SASL_NOMECH ? SaslStep::Kind::kNoMech : SaslStep::Kind::kFailed;
  step.error = sasl_error(rc);
  spdlog::info("sasl: authentication failed: {}", sasl_errdetail(conn_->conn));
  return step;
}

SaslStep Libsasl2Server::start(std::string_view mechanism,
                               std::optional<std::string_view> initial) {
  if (used_) {
    Status st = renew(0);
    if (!st.is_ok()) return SaslStep{SaslStep::Kind::kFailed, "", st.message()};
  }
  used_ = true;
  mechanism_ = std::string(mechanism);
  initial_ = initial ? std::optional<std::string>(*initial) : std::nullopt;
  responses_.clear();
  const char* out = nullptr;
  unsigned outlen = 0;
  int rc = sasl_server_start(conn_->conn, mechanism_.c_str(), initial_ ? initial_->data() : nullptr,
                             initial_ ? static_cast<unsigned>(initial_->size()) : 0, &out, &outlen);
  if (rc == SASL_NOUSER) rc = retry_in_other_realms(rc, &out, &outlen);
  return result(rc, out, outlen);
}

SaslStep Libsasl2Server::step(std::string_view response) {
  responses_.emplace_back(response);
  const char* out = nullptr;
  unsigned outlen = 0;
  int rc = sasl_server_step(conn_->conn, response.data(), static_cast<unsigned>(response.size()),
                            &out, &outlen);
  if (rc == SASL_NOUSER) rc = retry_in_other_realms(rc, &out, &outlen);
  return result(rc, out, outlen);
}

int Libsasl2Server::retry_in_other_realms(int rc, const char** out, unsigned* outlen) {
  if (!replayable(mechanism_)) return rc;
  for (size_t realm = 1; realm < realms_.size() && rc == SASL_NOUSER; ++realm) {
    if (!renew(realm).is_ok()) return rc;
    used_ = true;
    rc = sasl_server_start(conn_->conn, mechanism_.c_str(), initial_ ? initial_->data() : nullptr,
                           initial_ ? static_cast<unsigned>(initial_->size()) : 0, out, outlen);
    for (size_t i = 0; i < responses_.size() && rc == SASL_CONTINUE; ++i) {
      rc = sasl_server_step(conn_->conn, responses_[i].data(),
                            static_cast<unsigned>(responses_[i].size()), out, outlen);
    }
  }
  return rc;
}

std::string Libsasl2Server::username() {
  const void* value = nullptr;
  if (sasl_getprop(conn_->conn, SASL_USERNAME, &value) != SASL_OK || value == nullptr) return "";
  std::string name = static_cast<const char*>(value);
  if (conn_realm_ > 0) {
    std::string added = "@" + realms_[conn_realm_];
    if (name.size() > added.size() && name.ends_with(added))
      name.resize(name.size() - added.size());
  }
  return name;
}

SaslStep sasl_check_password(SaslServer& sasl, std::string_view user, std::string_view password) {
  std::string plain;
  plain += '\0';
  plain.append(user);
  plain += '\0';
  plain.append(password);
  return sasl.start("PLAIN", plain);
}

namespace {

// `wording` with its "{}" replaced by `value`.
std::string fill(std::string_view wording, std::string_view value) {
  std::string out(wording);
  size_t at = out.find("{}");
  if (at != std::string::npos) out.replace(at, 2, value);
  return out;
}

}  // namespace

SaslExchange::SaslExchange(SaslWording wording, LoginPolicy* login)
    : wording_(std::move(wording)), login_(login) {}

SaslOutcome SaslExchange::refused(const std::string& line) const {
  SaslOutcome o;
  o.kind = SaslOutcome::Kind::kRefused;
  o.line = line;
  return o;
}

std::optional<SaslOutcome> SaslExchange::take_initial(std::optional<std::string_view> base64) {
  initial_.reset();
  if (!base64) return std::nullopt;
  initial_ = base64_decode(*base64);
  if (!initial_) return refused(wording_.bad_initial);
  return std::nullopt;
}

SaslOutcome SaslExchange::start(SaslServer& sasl, std::string_view mechanism) {
  sasl_ = &sasl;
  std::optional<std::string> initial = std::exchange(initial_, std::nullopt);
  if (initial) return outcome(sasl.start(mechanism, std::string_view(*initial)));
  return outcome(sasl.start(mechanism, std::nullopt));
}

SaslOutcome SaslExchange::respond(std::string_view line) {
  if (line == "*") return refused(wording_.cancelled);
  std::optional<std::string> decoded = base64_decode(line);
  if (!decoded) return refused(wording_.bad_response);
  return outcome(sasl_->step(*decoded));
}

SaslOutcome SaslExchange::outcome(const SaslStep& step) {
  SaslOutcome o;
  switch (step.kind) {
    case SaslStep::Kind::kContinue:
      o.kind = SaslOutcome::Kind::kChallenge;
      o.line = fill(wording_.challenge, base64_encode(step.data));
      return o;
    case SaslStep::Kind::kOk:
      o.kind = SaslOutcome::Kind::kOk;
      o.user = sasl_->username();
      return o;
    case SaslStep::Kind::kNoMech:
      return refused(wording_.no_mech);
    case SaslStep::Kind::kFailed:
      if (login_ != nullptr) login_->failed("");
      o.kind = SaslOutcome::Kind::kFailed;
      o.reason = step.error;
      o.line = fill(wording_.failed, step.error.empty() ? "authentication failure" : step.error);
      return o;
  }
  return o;
}

std::string sasl_ip_port(int fd, bool local) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  int rc = local ? getsockname(fd, sa, &len) : getpeername(fd, sa, &len);
  if (rc != 0) return "";
  char host[INET6_ADDRSTRLEN] = {0};
  unsigned port = 0;
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
  } else {
    return "";
  }
  return std::string(host) + ";" + std::to_string(port);
}

std::unique_ptr<SaslServer> sasl_server_for_connection(const Config& config, int fd,
                                                       std::string_view service,
                                                       bool secure_channel) {
  SaslEndpoint ep;
  ep.service = std::string(service);
  ep.server_fqdn = config.get("servername");
  ep.local_ip_port = sasl_ip_port(fd, true);
  ep.remote_ip_port = sasl_ip_port(fd, false);
  ep.secure_channel = secure_channel || ep.remote_ip_port.empty();
  auto created = Libsasl2Server::create(config, ep);
  if (!created.ok()) {
    spdlog::error("{}: SASL unavailable: {}", service, created.status().to_string());
    return nullptr;
  }
  return std::move(created).value();
}

}  // namespace replimail::net
