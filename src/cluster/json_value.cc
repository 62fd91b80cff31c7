#include "cluster/json_value.h"

#include <string>

namespace replimail::cluster {

Status bad_value(std::string_view what, std::string_view name, std::string_view why) {
  return Status(Code::kProtocolError, "cluster directory: " + std::string(what) + " " +
                                          std::string(name) + ": " + std::string(why));
}

Result<nlohmann::json> json_object(std::string_view what, std::string_view name,
                                   std::string_view value) {
  nlohmann::json j = nlohmann::json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return bad_value(what, name, "value is not a JSON object");
  return j;
}

}  // namespace replimail::cluster
