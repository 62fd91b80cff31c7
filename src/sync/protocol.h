// The replication protocol's requests and replies (sync/types.h) converted
// to and from dlist values (reference §4.4–§4.6). Pure: no sockets, no
// disk. Key order on output is Cyrus 3.6's, so that a Cyrus peer and a
// replimail peer read each other's traffic byte for byte.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "dlist/value.h"
#include "sync/types.h"

namespace replimail::sync {

// ---- Conversions. to_dlist() gives the value (the key is the caller's);
// from_dlist() checks required keys and number syntax:
// kProtocolBadParameters when something required is missing or malformed.

// How a MAILBOX kvlist is laid out: as a master sends it in APPLY MAILBOX,
// or as a replica answers GET (which differs only for intermediates: the
// reply carries zero counters, PARTITION, ACL and OPTIONS too).
enum class MailboxForm { kApply, kReply };
dlist::Value to_dlist(const MailboxState& m, MailboxForm form = MailboxForm::kApply);
Result<MailboxState> mailbox_from_dlist(const dlist::Value& v);
dlist::Value to_dlist(const RecordItem& r);
Result<RecordItem> record_from_dlist(const dlist::Value& v);
dlist::Value to_dlist(const QuotaItem& q);
Result<QuotaItem> quota_from_dlist(const dlist::Value& v);
// `with_userid`: APPLY SEEN form (USERID first).
dlist::Value to_dlist(const SeenItem& s, bool with_userid);
Result<SeenItem> seen_from_dlist(const dlist::Value& v, bool with_userid);
dlist::Value to_dlist(const ReserveRequest& r);
Result<ReserveRequest> reserve_from_dlist(const dlist::Value& v);
dlist::Value to_dlist(const RenameRequest& r);
Result<RenameRequest> rename_from_dlist(const dlist::Value& v);
dlist::Value to_dlist(const ExpungeRequest& e);
Result<ExpungeRequest> expunge_from_dlist(const dlist::Value& v);
dlist::Value to_dlist(const SubRequest& s);
Result<SubRequest> sub_from_dlist(const dlist::Value& v);
// `with_value`: ANNOTATION (true) or UNANNOTATION (false).
dlist::Value to_dlist(const ServerAnnotation& a, bool with_value);
Result<ServerAnnotation> annotation_from_dlist(const dlist::Value& v, bool with_value);
dlist::Value to_dlist(const SieveItem& item);
// APPLY `command` (SIEVE, UNSIEVE, ACTIVATE_SIEVE, UNACTIVATE_SIEVE):
// USERID always, FILENAME but for UNACTIVATE_SIEVE, LAST_UPDATE and CONTENT
// for SIEVE.
Result<SieveRequest> sieve_from_dlist(const dlist::Value& v, std::string_view command);
// A plain list of atoms (GUIDs, names) and back.
dlist::Value atom_list(const std::vector<std::string>& items);
Result<std::vector<std::string>> atoms_from_dlist(const dlist::Value& v);

}  // namespace replimail::sync
