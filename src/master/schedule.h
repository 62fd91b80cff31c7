// The timing rules master applies to its children, as pure values so they
// can be tested without processes or clocks: daemon restart backoff, the
// fork-rate limit, and EVENTS times.
#pragma once

#include <chrono>
#include <ctime>

namespace replimail::master {

using Clock = std::chrono::steady_clock;

// Delay before restarting a DAEMON that exited: 1 s, doubling on every exit
// that comes soon after its start, up to 30 s; a daemon that ran for at
// least 30 s before exiting starts the ladder again.
// The same ladder with other bounds serves other retries (a listener's
// bind: 100 ms up to 5 s).
class Backoff {
 public:
  static constexpr std::chrono::milliseconds kInitial{1000};
  static constexpr std::chrono::milliseconds kMax{30000};
  static constexpr std::chrono::milliseconds kResetAfter{30000};

  Backoff() = default;
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(initial), max_(max), current_(initial) {}

  // The delay to wait after an exit of a process that ran for `ran_for`.
  std::chrono::milliseconds next(std::chrono::milliseconds ran_for);

 private:
  std::chrono::milliseconds initial_ = kInitial;
  std::chrono::milliseconds max_ = kMax;
  std::chrono::milliseconds current_ = kInitial;
};

// Cyrus's fork-rate estimate: an exponentially decaying count of forks that
// halves every second. A limit of 0 means unlimited.
class ForkRate {
 public:
  explicit ForkRate(int limit = 0) : limit_(limit) {}
  void set_limit(int limit) { limit_ = limit; }
  // True unless the decayed rate at `now` has reached the limit.
  bool allows(Clock::time_point now) const;
  void record(Clock::time_point now);
  // Forks per second, decayed to `now`.
  double rate(Clock::time_point now) const;

 private:
  int limit_;
  double rate_ = 0;
  Clock::time_point at_{};
};

// How long to wait when the fork rate is exceeded before trying again.
inline constexpr std::chrono::milliseconds kForkRetry{400};

// The first time strictly after `now` when local wall-clock time is
// hhmm / 100 : hhmm % 100 (DST-correct, via mktime).
std::time_t next_daily(std::time_t now, int hhmm);

}  // namespace replimail::master
