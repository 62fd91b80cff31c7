// Process-wide memory bounds of the store.
#pragma once

#include <cstdint>

namespace replimail::store {

// Bounds the memory SQLite may keep in this whole process (the page caches
// of every index and database connection; sqlite3_soft_heap_limit64):
// caches are recycled above `bytes` instead of each growing to its 2 MB.
// For programs that stream through mailboxes once (sync_client,
// sync_server), whose memory must not grow with the size of a mailbox:
// their connections also read files with read(), not through a mapping
// (whose pages, once read, stay in the resident set). Call it before
// opening the instance. 0 lifts the bound and maps again (for tests).
void limit_database_memory(int64_t bytes);

}  // namespace replimail::store
