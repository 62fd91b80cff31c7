// promstatsd's HTTP endpoint: GET /metrics answered with the latest report,
// nothing else. Minimal and robust: one request per connection
// (Connection: close), a header over 8 KiB or malformed gets 400, another
// path 404, another method 405; a client silent for 10 s is dropped; at
// most 64 connections at once (more are closed at once); an accept error
// is retried after 100 ms. The server keeps serving whatever a client
// sends. Built on Asio (standalone), single-threaded.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace replimail::metrics {

enum class Verdict { kIncomplete, kMetrics, kNotFound, kMethodNotAllowed, kBadRequest };

inline constexpr size_t kMaxRequestHeader = 8192;

// What to answer to the bytes a client sent so far. Pure: kIncomplete until
// the header's blank line (CRLF CRLF, or LF LF) arrives within
// kMaxRequestHeader bytes; then the request line decides: "GET /metrics"
// (a query string is ignored) with HTTP/1.0 or HTTP/1.1 is kMetrics.
Verdict classify_request(std::string_view received);

// The whole HTTP/1.1 response for a verdict (body only for kMetrics).
std::string http_response(Verdict v, std::string_view metrics_body);

class Server {
 public:
  // Listens on `listen` (cyrus.conf's listen= syntax: "port", "host:port",
  // "[v6]:port"). `body` is called for each GET /metrics.
  static Result<std::unique_ptr<Server>> open(const std::string& listen,
                                              std::function<std::string()> body);
  ~Server();

  // The TCP port it listens on.
  int port() const;
  // Calls `fn` now and then every `period` while run() runs.
  void every(std::chrono::milliseconds period, std::function<void()> fn);
  // Serves until SIGTERM, SIGINT or stop(). Returns 0.
  int run();
  // Makes run() return; callable from any thread.
  void stop();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace replimail::metrics
