// mime::Message's representation, shared by the files that define its
// members: message.cc (opening and parsing, which needs no GMime) and
// search_body.cc (the body search, which does). Kept apart so that a
// program that only parses messages (sync_server computing the message
// cache, sync_client) does not link GMime and GLib (issue 17).
#pragma once

#include <sys/mman.h>

#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "mime/body_text.h"
#include "mime/message.h"

namespace replimail::mime {

// The bytes (a read-only mapping or an owned string) and the parsed tree.
struct Message::Rep {
  std::string owned;
  void* map = nullptr;
  size_t map_size = 0;
  std::string_view bytes;
  Part root;
  std::once_flag matcher_once;
  std::optional<SegmentMatcher> matcher;  // made on the first body search

  ~Rep() {
    if (map) munmap(map, map_size);
  }
};

}  // namespace replimail::mime
