#include "search/indexer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>
#include <vector>

#include "mime/message.h"
#include "search/extract.h"
#include "store/mboxname.h"

namespace replimail::search {
namespace {

// An intermediate commit after this many documents or this many bytes of
// extracted text, whichever comes first: bounds the memory Xapian buffers
// (its postings grow with the text, not the count: squatter's peak was
// 46.5 MiB for 1,000 corpus messages in one batch, 29.4 MiB with 4 MiB of
// text per commit, 22.6 MiB with 1 MiB, 18.7 MiB with 512 KiB and the
// message file's pages released as it is parsed; issue 17) and the work a
// crash can lose. 512 KiB is 21 commits (5 fdatasyncs each) per 1,000
// corpus messages; 256 KiB saved 0.8 MiB more for twice the commits.
constexpr size_t kBatch = 1000;
constexpr size_t kBatchTextBytes = 512 << 10;

size_t text_bytes(const Extracted& e) {
  size_t n = e.words.size();
  for (const auto& field : e.values)
    for (const auto& v : field) n += v.size();
  return n;
}
constexpr auto kLockWait = std::chrono::seconds(60);
constexpr auto kLockRetry = std::chrono::milliseconds(100);

struct Todo {
  uint32_t uid;
  std::string guid;
  bool expunged;
};

}  // namespace

IndexStats& IndexStats::operator+=(const IndexStats& o) {
  mailboxes += o.mailboxes;
  indexed += o.indexed;
  linked += o.linked;
  removed += o.removed;
  unreadable += o.unreadable;
  return *this;
}

Indexer::Indexer(store::Instance& instance, bool wait)
    : instance_(instance), wait_(wait), stem_language_("english") {
  if (auto lang = instance.config().raw("search_stem_language"); lang && !lang->empty()) {
    stem_language_ = *lang;
  }
}

Result<std::unique_ptr<IndexWriter>> Indexer::open_writer(const std::string& userid,
                                                          bool overwrite) {
  const std::string path = index_path(instance_.config(), userid);
  auto mode = overwrite ? IndexWriter::Mode::kOverwrite : IndexWriter::Mode::kOpen;
  auto deadline = std::chrono::steady_clock::now() + kLockWait;
  while (true) {
    auto w = IndexWriter::open(path, mode, stem_language_);
    if (w.ok() || w.status().code() != Code::kMailboxLocked || !wait_ ||
        std::chrono::steady_clock::now() > deadline) {
      return w;
    }
    std::this_thread::sleep_for(kLockRetry);
  }
}

Status Indexer::index_into(IndexWriter& w, const std::string& name, bool incremental,
                           IndexStats* stats) {
  auto mbox = instance_.open_mailbox(name);
  if (!mbox.ok()) return mbox.status();
  auto counters = (*mbox)->counters();
  if (!counters.ok()) return counters.status();
  const std::string uniqueid = (*mbox)->entry().uniqueid;
  auto state = w.state(uniqueid);
  if (!state.ok()) return state.status();
  uint64_t since = 0;
  if (incremental && *state && (*state)->uidvalidity == counters->uidvalidity) {
    since = (*state)->highestmodseq;
  } else {
    Status s = w.clear_mailbox(uniqueid);
    if (!s) return s;
  }
  // Records first, then the index: no Xapian work inside the store's read.
  std::vector<Todo> todo;
  Status listed = (*mbox)->for_each_record(since, [&](const store::IndexRecord& r) {
    todo.push_back({r.uid, r.guid, r.expunged()});
    return true;
  });
  if (!listed) return listed;
  size_t pending = 0;
  size_t pending_bytes = 0;
  for (const Todo& t : todo) {
    auto located = w.has_location(uniqueid, t.uid);
    if (!located.ok()) return located.status();
    if (t.expunged) {
      if (!*located) continue;
      Status s = w.remove_location(uniqueid, t.uid);
      if (!s) return s;
      stats->removed++;
      continue;
    }
    if (*located) continue;
    auto known = w.has_message(t.guid);
    if (!known.ok()) return known.status();
    if (*known) {
      Status s = w.add_location(t.guid, uniqueid, t.uid);
      if (!s) return s;
      stats->linked++;
      continue;
    }
    auto msg = mime::Message::open((*mbox)->message_path(t.uid));
    if (!msg.ok()) {
      // Expunged meanwhile, or damaged: SEARCH scans it (and fails the same).
      spdlog::warn("squatter: {} uid {}: {}", name, t.uid, msg.status().message());
      stats->unreadable++;
      continue;
    }
    Extracted text = extract(*msg);
    pending_bytes += text_bytes(text);
    Status s = w.add_message(t.guid, text, uniqueid, t.uid);
    if (!s) return s;
    stats->indexed++;
    if (++pending >= kBatch || pending_bytes >= kBatchTextBytes) {
      Status c = w.commit();
      if (!c) return c;
      pending = 0;
      pending_bytes = 0;
    }
  }
  Status s =
      w.set_state(uniqueid, {counters->uidvalidity, counters->last_uid, counters->highestmodseq});
  if (!s) return s;
  stats->mailboxes++;
  return w.commit();
}

Result<IndexStats> Indexer::index_mailbox(const std::string& name, bool incremental) {
  auto entry = instance_.lookup(name);
  if (!entry.ok()) return entry.status();
  const std::string userid = store::mboxname_owner(name);
  IndexStats stats;
  auto w = open_writer(userid, false);
  if (!w.ok() && w.status().code() == Code::kInternal) return index_user(userid, false);
  if (!w.ok()) return w.status();
  Status s = index_into(**w, name, incremental, &stats);
  if (s.code() == Code::kInternal) {
    spdlog::warn("squatter: search index of {} damaged ({}); rebuilding it from the store",
                 userid.empty() ? "shared mailboxes" : userid, s.message());
    w->reset();
    return index_user(userid, false);
  }
  if (!s) return s;
  return stats;
}

Result<IndexStats> Indexer::index_user(const std::string& userid, bool incremental) {
  std::vector<store::MailboxEntry> mailboxes;
  if (userid.empty()) {
    Status listed = instance_.mailboxes().list("", false, [&](const store::MailboxEntry& e) {
      if (store::mboxname_owner(e.name).empty()) mailboxes.push_back(e);
      return true;
    });
    if (!listed) return listed;
  } else {
    auto tree = instance_.mailboxes().list_tree(store::user_inbox(userid));
    if (!tree.ok()) return tree.status();
    mailboxes = std::move(tree).value();
  }
  auto w = open_writer(userid, !incremental);
  if (!w.ok() && w.status().code() == Code::kInternal && incremental) {
    spdlog::warn("squatter: search index of {} damaged ({}); rebuilding it from the store", userid,
                 w.status().message());
    w = open_writer(userid, true);
    incremental = false;
  }
  if (!w.ok()) return w.status();
  IndexStats stats;
  for (const store::MailboxEntry& e : mailboxes) {
    if (!e.is_real()) continue;
    Status s = index_into(**w, e.name, incremental, &stats);
    if (s.code() == Code::kMailboxNonexistent) continue;  // deleted meanwhile
    if (s.code() == Code::kInternal && incremental) {
      spdlog::warn("squatter: search index of {} damaged ({}); rebuilding it from the store",
                   userid, s.message());
      w->reset();
      return index_user(userid, false);
    }
    if (!s) return s;
  }
  return stats;
}

}  // namespace replimail::search
