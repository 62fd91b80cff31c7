// The POP3 Backend over the replimail store: the user's INBOX
// (user.<userid>), read through store::Mailbox, changed only through
// store::Instance so that every change reaches the sync log.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pop3/backend.h"
#include "store/instance.h"

namespace replimail::pop3 {

class StoreBackend : public Backend {
 public:
  // `clock` gives the time recorded as POP3_LAST_LOGIN; tests pin it.
  explicit StoreBackend(
      store::Instance& instance,
      std::function<std::time_t()> clock = [] { return std::time(nullptr); });

  Result<Maildrop> open(const std::string& userid) override;
  Result<std::string> read(uint32_t uid) override;
  Status expunge(const std::vector<uint32_t>& uids) override;
  // Read-only mode, then the fence of the open maildrop's owner (a user
  // being moved to another slot).
  Status writable() override {
    return mailbox_ ? instance_.check_writable(mailbox_->name()) : instance_.check_writable();
  }

 private:
  // Sets POP3_LAST_LOGIN of the open maildrop (a write transaction).
  Status record_login();
  store::Instance& instance_;
  std::function<std::time_t()> clock_;
  std::unique_ptr<store::Mailbox> mailbox_;
};

}  // namespace replimail::pop3
