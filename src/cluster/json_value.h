// The directory's values are JSON objects (docs/CLUSTER.md). One refusal
// wording for every value the cluster reads, so an operator sees the same
// "cluster directory: <what> <name>: <why>" whichever key was bad.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "common/status.h"

namespace replimail::cluster {

// kProtocolError "cluster directory: <what> <name>: <why>".
Status bad_value(std::string_view what, std::string_view name, std::string_view why);

// `value` parsed as a JSON object, or bad_value(...) if it is malformed or
// not an object.
Result<nlohmann::json> json_object(std::string_view what, std::string_view name,
                                   std::string_view value);

}  // namespace replimail::cluster
