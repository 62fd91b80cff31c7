#include "master/schedule.h"

#include <algorithm>
#include <cmath>

namespace replimail::master {

std::chrono::milliseconds Backoff::next(std::chrono::milliseconds ran_for) {
  if (ran_for >= kResetAfter) current_ = initial_;
  std::chrono::milliseconds delay = current_;
  current_ = std::min(current_ * 2, max_);
  return delay;
}

double ForkRate::rate(Clock::time_point now) const {
  double dt = std::chrono::duration<double>(now - at_).count();
  return rate_ * std::pow(0.5, std::max(dt, 0.0));
}

bool ForkRate::allows(Clock::time_point now) const { return limit_ <= 0 || rate(now) < limit_; }

void ForkRate::record(Clock::time_point now) {
  rate_ = rate(now) + 1;
  at_ = now;
}

std::time_t next_daily(std::time_t now, int hhmm) {
  struct tm tm;
  ::localtime_r(&now, &tm);
  for (int day = 0; day < 3; ++day) {
    struct tm want = tm;
    want.tm_mday += day;
    want.tm_hour = hhmm / 100;
    want.tm_min = hhmm % 100;
    want.tm_sec = 0;
    want.tm_isdst = -1;
    std::time_t t = std::mktime(&want);
    if (t > now) return t;
  }
  return now + 24 * 3600;
}

}  // namespace replimail::master
