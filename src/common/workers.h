// Workers: a few threads kept for the life of their owner, to run short
// blocking jobs (an fsync, a round trip to sync_logd) beside the caller's
// own work. A delivery used to start two or three threads (std::async) for
// those and end them again: clone, stack set-up and teardown cost ~15
// system calls and more CPU than the jobs' own user-space work.
//
// Thread safety: run() may be called from any thread. Jobs must not wait
// for other jobs of the same Workers (with more jobs queued than threads,
// such a wait could never end). The threads start on the first run(), so
// an owner that never runs a job costs none; the destructor waits for the
// queued jobs and joins the threads.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace replimail {

class Workers {
 public:
  // REQUIRES: threads >= 1.
  explicit Workers(size_t threads);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Queues `job` for the next free thread; its result (or exception)
  // through the future.
  template <typename F>
  std::future<std::invoke_result_t<F>> run(F job) {
    using R = std::invoke_result_t<F>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::move(job));
    std::future<R> result = task->get_future();
    post([task] { (*task)(); });
    return result;
  }

 private:
  void post(std::function<void()> job);
  void loop();

  const size_t size_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace replimail
