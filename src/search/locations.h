// Reading a mailbox's locations (index.h) out of its Xapian database: the
// writer (index.cc) and the readers (query.cc) share these. Internal to
// search/.
#pragma once

#include <xapian.h>

#include <string_view>
#include <vector>

#include "search/index.h"

namespace replimail::search {

// The location map's chunks, in UID order; false if the map is not complete
// or a chunk cannot be read (`out` then holds a part).
bool read_location_map(const Xapian::Database& db, std::string_view uniqueid,
                       std::vector<Location>& out);
// The locations the location terms say, one posting list each, sorted by
// UID.
std::vector<Location> read_location_terms(const Xapian::Database& db, std::string_view uniqueid);

}  // namespace replimail::search
