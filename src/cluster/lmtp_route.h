// lmtpproxyd's routing decision for one recipient, pure: from what the
// directory said (the user's move in progress, where its primary slot is),
// where the message goes or which LMTP answer the recipient gets.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cluster/directory_schema.h"
#include "common/status.h"

namespace replimail::cluster {

struct LmtpTarget {
  std::string slot;
  std::string host;
  int port = 0;
};

// `move`: Directory::move; `primary`: Directory::route. Codes:
//   kMailboxMoved        the user's move is fenced or switched
//                        (move_is_fenced), or its record does not decode
//                        (kProtocolError): 451 4.2.1, the MTA retries; a
//                        move still copying delivers to the primary as usual;
//   kMailboxNonexistent  the user is not in the directory: 550 5.1.1;
//   kAgain               the primary slot is not alive, or has no lmtp
//                        service, or the directory cannot be read: 451.
// The fence is checked first: a fenced user is never delivered to, whatever
// the rest says.
Result<LmtpTarget> decide_lmtp_target(std::string_view user,
                                      const Result<std::optional<MoveRecord>>& move,
                                      const Result<SlotInfo>& primary);

}  // namespace replimail::cluster
