#include "http/worker_pool.h"
#include "common/thread_name.h"

#include <cassert>

namespace tresor::http {

WorkerPool::WorkerPool(std::size_t threads, std::size_t max_queued) : max_queued_(max_queued) {
  assert(threads >= 1 && max_queued >= 1);
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] {
      SetThreadName("http-worker");
      Run();
    });
}

WorkerPool::~WorkerPool() { Shutdown(); }

bool WorkerPool::Submit(std::function<void()> task) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(task));
    queued_.store(queue_.size(), std::memory_order_relaxed);
    // Wake a sleeper only if none is already on its way; busy workers re-check the queue
    // before sleeping. Needless wake-ups (futex + context switch) dominate at high rates.
    if (idle_ > wakes_pending_) {
      ++wakes_pending_;
      wake = true;
    }
  }
  if (wake) cv_.notify_one();
  return true;
}

void WorkerPool::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  std::lock_guard<std::mutex> join_lock(join_mu_);
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void WorkerPool::Run() {
  for (;;) {
    std::function<void()> task;
    // Before sleeping, yield a few times: at high request rates the next task usually
    // arrives within microseconds, and a futex sleep/wake pair costs more than that.
    // Yielding (not spinning) hands the core to the I/O thread that produces the task.
    for (int i = 0; i < kPoliteSpins && queued_.load(std::memory_order_relaxed) == 0; ++i) {
      std::this_thread::yield();
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!stopping_ && queue_.empty()) {
        ++idle_;
        cv_.wait(lock);
        --idle_;
        if (wakes_pending_ > 0) --wakes_pending_;
      }
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
      queued_.store(queue_.size(), std::memory_order_relaxed);
    }
    task();
  }
}

}  // namespace tresor::http
