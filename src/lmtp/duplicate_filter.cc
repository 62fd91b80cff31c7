#include "lmtp/duplicate_filter.h"

#include <ctime>

#include "common/log.h"

namespace replimail::lmtp {

DuplicateFilter::DuplicateFilter(const Config& cfg)
    : enabled_(cfg.get_bool("duplicatesuppression")), path_(store::DuplicateDb::path_for(cfg)) {}
DuplicateFilter::~DuplicateFilter() = default;

store::DuplicateDb* DuplicateFilter::db() {
  if (!db_) {
    auto db = store::DuplicateDb::open(path_);
    if (!db.ok()) {
      spdlog::warn("lmtp: duplicate database {}: {}", path_, db.status().to_string());
      return nullptr;
    }
    db_ = std::move(*db);
  }
  return db_.get();
}

void DuplicateFilter::begin(const std::string& path) {
  id_.reset();
  if (!enabled_) return;
  auto id = store::delivery_message_id_of_file(path);
  if (!id.ok()) {
    spdlog::warn("lmtp: no duplicate check: {}", id.status().to_string());
    return;
  }
  id_ = *id;
}

bool DuplicateFilter::skip(const std::string& mailbox) {
  if (!id_) return false;
  store::DuplicateDb* d = db();
  if (!d) return false;
  auto when = d->check({*id_, mailbox});
  if (!when.ok()) {
    spdlog::warn("lmtp: duplicate check of {} for {}: {}", *id_, mailbox,
                 when.status().to_string());
    return false;
  }
  if (!*when) return false;
  spdlog::info("lmtp: dupelim: eliminated duplicate message to {} id {} (delivered at {})", mailbox,
               *id_, **when);
  return true;
}

Status DuplicateFilter::mark(const std::vector<std::string>& mailboxes) {
  if (!id_ || mailboxes.empty()) return Status::success();
  store::DuplicateDb* d = db();
  if (!d) return Status(Code::kIoError, "duplicate database " + path_ + " cannot be opened");
  std::vector<store::DuplicateKey> keys;
  keys.reserve(mailboxes.size());
  for (const auto& m : mailboxes) keys.push_back({*id_, m});
  return d->mark(keys, ::time(nullptr));
}

}  // namespace replimail::lmtp
