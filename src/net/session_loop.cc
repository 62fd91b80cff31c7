#include "net/session_loop.h"

#include "common/log.h"
#include "net/tls.h"

namespace replimail::net {
namespace {

constexpr size_t kReadChunk = 64 * 1024;

// Sends what the session has to say. With batching, replies wait while the
// client's pipelined commands are still buffered (they are answered
// together once the buffer is empty).
Status send_output(Stream& stream, PushSession& session, bool batch) {
  std::string out = session.take_output();
  Status w;
  if (!out.empty()) {
    w = stream.write(out);
    if (w && !(batch && stream.input_pending())) w = stream.flush();
  }
  session.replies_sent();
  return w;
}

// Switches the transport as the session asked; false: the connection is
// over (the handshake failed, or compression could not start).
bool upgrade(Stream& stream, PushSession& session, const SessionLoopOptions& o,
             const Connection& conn) {
  // The session's OK for the command goes out as it was (clear, not
  // compressed) before the switch.
  Status s = stream.flush();
  if (s && session.upgrade() == PushSession::Upgrade::kStartTls) {
    if (o.tls == nullptr) return false;
    s = stream.start_tls_server(*o.tls, o.handshake_timeout);
    if (s) session.tls_started();
  } else if (s) {
    s = stream.start_compression(session.compression_started());
  }
  if (!s) spdlog::info("{}: {}: {}", o.name, conn.peer, s.to_string());
  return s.is_ok();
}

}  // namespace

void run_session(const Connection& conn, PushSession& session, const SessionLoopOptions& o) {
  Stream stream(conn.in_fd, conn.out_fd);
  stream.set_timeout(o.write_timeout);
  if (o.implicit_tls) {
    if (o.tls == nullptr) {
      spdlog::error("{}: -s without tls_server_cert/tls_server_key", o.name);
      return;
    }
    if (Status s = stream.start_tls_server(*o.tls, o.handshake_timeout); !s) {
      spdlog::info("{}: {}: {}", o.name, conn.peer, s.to_string());
      return;
    }
  }
  session.set_early_writer([&stream](std::string_view bytes) { return stream.write(bytes).is_ok(); });
  const auto wait = o.tick.count() > 0 ? o.tick : o.idle_limit;
  auto last_input = std::chrono::steady_clock::now();
  for (;;) {
    if (Status w = send_output(stream, session, o.batch_replies); !w) {
      spdlog::info("{}: {}: write failed: {}", o.name, conn.peer, w.to_string());
      return;
    }
    if (session.closed()) break;
    if (session.upgrade() != PushSession::Upgrade::kNone) {
      if (!upgrade(stream, session, o, conn)) return;
      continue;
    }
    auto data = stream.read_some(kReadChunk, wait);
    if (!data.ok()) {
      bool idle = stream.timed_out();
      if (idle && std::chrono::steady_clock::now() - last_input < o.idle_limit) {
        session.tick();
        continue;
      }
      if (idle && !o.idle_farewell.empty()) (void)stream.write_flush(o.idle_farewell);
      session.connection_lost();
      break;
    }
    last_input = std::chrono::steady_clock::now();
    session.feed(*data);
  }
  (void)stream.flush();
}

}  // namespace replimail::net
