#include "common/workers.h"

namespace replimail {

Workers::Workers(size_t threads) : size_(threads) {}

Workers::~Workers() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void Workers::post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (threads_.empty())
      for (size_t i = 0; i < size_; i++) threads_.emplace_back([this] { loop(); });
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
}

void Workers::loop() {
  std::unique_lock<std::mutex> g(mu_);
  for (;;) {
    wake_.wait(g, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and every queued job done
    auto job = std::move(queue_.front());
    queue_.pop_front();
    g.unlock();
    job();
    g.lock();
  }
}

}  // namespace replimail
