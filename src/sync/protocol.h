// The replication protocol's requests and replies (sync/types.h) converted
// to and from dlist values (reference §4.4–§4.6). Pure: no sockets, no
// disk. Key order on output is Cyrus 3.6's, so that a Cyrus peer and a
// replimail peer read each other's traffic byte for byte.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "dlist/value.h"
#include "sync/types.h"

namespace replimail::sync {

// ---- Names from the wire. Every name a peer sends that can reach a file
// path or a database key is checked against its grammar where it enters,
// by the from_dlist() functions below (and by the server for its bare-atom
// arguments): a replica must never trust its master's names, nor a master
// its replica's. Each returns kProtocolBadParameters naming the fault.

// A mailbox uniqueid: 1–64 of [A-Za-z0-9_-] (Cyrus's 24-character ids, UUIDs,
// the 16 hex digits of old Cyrus). It names the mailbox's directory.
Status check_uniqueid(std::string_view uniqueid);
// A partition name: 1–64 of [A-Za-z0-9_.-], not starting with '.'.
Status check_partition(std::string_view partition);
// An internal mailbox name (store::validate_mboxname) / a userid
// (store::validate_userid).
Status check_mboxname(std::string_view name);
Status check_userid(std::string_view userid);
// A sieve script's file name: 1–255 printable ASCII bytes, no '/', not
// starting with '.'.
Status check_sieve_name(std::string_view filename);
// An annotation entry (RFC 5464): "/" followed by components separated by
// single '/', none empty, "." or "..", no control characters, '*' or '%';
// at most 1024 bytes.
Status check_annotation_entry(std::string_view entry);

// ---- Conversions. to_dlist() gives the value (the key is the caller's);
// from_dlist() checks required keys, number syntax and the grammar of names
// (above): kProtocolBadParameters when something required is missing or
// malformed.

// How a MAILBOX kvlist is laid out: as a master sends it in APPLY MAILBOX,
// or as a replica answers GET (which differs only for intermediates: the
// reply carries zero counters, PARTITION, ACL and OPTIONS too).
enum class MailboxForm { kApply, kReply };
dlist::Value to_dlist(const MailboxState& m, MailboxForm form = MailboxForm::kApply);
Result<MailboxState> mailbox_from_dlist(const dlist::Value& v);
dlist::Value to_dlist(const RecordItem& item);
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
