#include "cluster/lmtp_route.h"

namespace replimail::cluster {

Result<LmtpTarget> decide_lmtp_target(std::string_view user,
                                      const Result<std::optional<MoveRecord>>& move,
                                      const Result<SlotInfo>& primary) {
  const std::string who(user);
  if (!move.ok()) {
    // A record that does not decode counts as fenced (the slot may be).
    Code code = move.status().code() == Code::kProtocolError ? Code::kMailboxMoved : Code::kAgain;
    return Status(code, "move of " + who + " unreadable: " + move.status().to_string());
  }
  if (move->has_value() && move_is_fenced(**move))
    return Status(Code::kMailboxMoved, "user " + who + " is being moved to " + (*move)->target +
                                           " (" + std::string(move_phase_name((*move)->phase)) +
                                           ")");
  if (!primary.ok()) {
    if (primary.status().code() == Code::kNotFound)
      return Status(Code::kMailboxNonexistent, primary.status().message());
    return Status(Code::kAgain, primary.status().message());
  }
  if (primary->lmtp_port <= 0 || primary->host.empty())
    return Status(Code::kAgain,
                  "slot " + primary->name + " of user " + who + " has no lmtp service");
  return LmtpTarget{primary->name, primary->host, primary->lmtp_port};
}

}  // namespace replimail::cluster
