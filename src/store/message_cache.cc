#include "store/message_cache.h"

#include "mime/message.h"
#include "mime/search_body.h"

namespace replimail::store {

MessageCache make_message_cache(const mime::Message& msg) {
  const mime::Part& root = msg.root();
  MessageCache c;
  c.header = std::string(msg.bytes().substr(root.header_offset, root.header_size));
  c.envelope = msg.envelope();
  c.bodystructure = msg.bodystructure();
  c.body = msg.body();
  c.text_segments = mime::text_segments(msg);
  return c;
}

Result<MessageCache> compute_message_cache(const std::string& path) {
  auto msg = mime::Message::open(path);
  if (!msg.ok()) return msg.status();
  return make_message_cache(*msg);
}

}  // namespace replimail::store
