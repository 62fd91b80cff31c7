// The one place that decides "a channel appeared" (issue 15): the process
// that sets the channel set the instance logs to compares it with the
// channels recorded in mailboxes.db (MailboxList::note_new_channels) and
// records every new one as bootstrapping, BEFORE anything is logged to it.
// Its rolling sync_client (or squatter -R) then finds the channel
// bootstrapping, fills the replica (-A) while the log accumulates, and sets
// it rolling.
//
// Who calls it: the owner of the fan-out, at start-up and whenever the
// channel set is re-read — master (programs/master.cc: at start-up, before
// START and every child, and on SIGHUP before any worker is replaced or
// daemon started), and sync_logd when its channel set changes. Both may
// run: the call is idempotent, the first one records.
//
// On a new instance every channel is new: their bootstraps are -A over no
// users, done at once. An instance upgraded to this code has no channel
// recorded, so each of its channels gets one full -A (idempotent: it sends
// only what differs) before it rolls on.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace replimail::store {

// The channels `cfg` logs to (sync_log_channels; "" is the default channel;
// none when sync_log is off), as MailboxList::note_new_channels wants them.
std::vector<std::string> logged_channels(const Config& cfg);

// Opens `cfg`'s mailboxes.db (creating configdirectory and the database
// if missing) and records its new channels (logged_channels), forgetting
// those it no longer logs to. With sync_log off every channel is forgotten
// (a database that does not exist is left so): nothing is logged, so each
// channel logged to again must bootstrap. Returns the channels recorded
// now, each also logged at info level.
Result<std::vector<std::string>> record_channels(const Config& cfg);

}  // namespace replimail::store
