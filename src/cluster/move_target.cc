#include "cluster/move_target.h"

namespace replimail::cluster {

UnfenceStep decide_unfence(const std::string& self, const std::optional<UserEntry>& entry,
                           bool fenced_here) {
  if (!fenced_here) return UnfenceStep::kNothing;
  if (entry && entry->primary == self) return UnfenceStep::kLift;
  return UnfenceStep::kNotYet;
}

Result<std::string> run_unfence(Directory& dir, const std::string& self, store::Instance& instance,
                                const std::string& user) {
  // The fence first: it is what decides whether the directory matters.
  bool fenced = instance.user_fenced(user);
  std::optional<UserEntry> entry;
  if (fenced) {
    auto read = dir.user(user);
    if (!read.ok()) return read.status();
    entry = std::move(*read);
  }
  switch (decide_unfence(self, entry, fenced)) {
    case UnfenceStep::kNothing:
      return "no fence of " + user + " here";
    case UnfenceStep::kNotYet:
      return Status(Code::kAgain, user + "'s primary is not " + self + " yet: the fence stays");
    case UnfenceStep::kLift:
      break;
  }
  if (Status s = instance.set_user_fence(user, false); !s.is_ok()) return s;
  return "fence of " + user + " lifted: " + self + " is its primary";
}

}  // namespace replimail::cluster
