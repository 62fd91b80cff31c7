// THREAD (RFC 5256 ORDEREDSUBJECT and REFERENCES, and REFS of
// draft-ietf-morg-inthread as Cyrus implements it): the threads of a set of
// messages, printed as the THREAD response prints them. Pure functions
// over SortMessage (sort.h), following Cyrus 3.6's imap/index.c step by
// step, so that both servers build the same trees:
//  - ORDEREDSUBJECT: messages grouped by base subject, each group's first
//    by date its root and the others its children; roots and children by
//    date.
//  - REFERENCES: JWZ's algorithm as RFC 5256 §3 adapts it (link by
//    References / In-Reply-To, root set, prune empty containers, sort the
//    root set by date, group by base subject, sort every level by date).
//  - REFS: the same links and pruning without the subject grouping; every
//    level sorted by date then arrival, the threads by their newest
//    arrival.
// Dates are the Date header's, else the arrival time; ties go by sequence
// number.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imap/sort.h"

namespace replimail::imap {

enum class ThreadAlgorithm { kOrderedSubject, kReferences, kRefs };

// The algorithm a THREAD command names (case-insensitive), nullopt if none.
std::optional<ThreadAlgorithm> thread_algorithm(std::string_view name);

// The threads of `messages` as the THREAD response lists them after
// "* THREAD " ("(1 2)(3 (4)(5))"), each message by its UID if `by_uid`,
// else by its sequence number; "" for no messages.
// REQUIRES: `messages` in ascending sequence-number order.
std::string thread_messages(ThreadAlgorithm algorithm, std::vector<SortMessage> messages,
                            bool by_uid);

}  // namespace replimail::imap
