#include "sync/wire.h"

namespace replimail::sync {

Result<dlist::Parser::Event> Wire::read_line(dlist::Parser& parser) {
  for (;;) {
    auto buffered = stream_.peek();
    if (!buffered.ok()) return buffered.status();
    auto fed = parser.feed(*buffered);
    stream_.consume(fed.consumed);
    if (fed.event != dlist::Parser::Event::kNeedMore) return fed.event;
  }
}

std::chrono::milliseconds tls_handshake_timeout(const net::Stream& stream) {
  return stream.timeout().count() > 0 ? stream.timeout() : std::chrono::milliseconds(180 * 1000);
}

}  // namespace replimail::sync
