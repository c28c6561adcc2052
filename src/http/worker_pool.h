// A fixed set of threads running submitted tasks from a bounded FIFO queue.
//
// The HTTP server runs request handlers here because they block (storage, raft, outbound
// calls) and must never stall an I/O thread. The queue bound turns overload into an
// immediate refusal (the server answers 503) instead of unbounded memory growth.
// Submit() and Shutdown() may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tresor::http {

class WorkerPool {
 public:
  // threads >= 1; max_queued >= 1 counts tasks waiting for a thread (not running ones).
  WorkerPool(std::size_t threads, std::size_t max_queued);
  ~WorkerPool();  // Shutdown()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues a task. False (task not taken, not run) if the queue is full or after Shutdown().
  bool Submit(std::function<void()> task);

  // Refuses new tasks, runs everything already queued, waits for all threads. Idempotent.
  // Must not be called from a worker thread.
  void Shutdown();

  std::size_t threads() const { return threads_.size(); }

 private:
  void Run();

  const std::size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::size_t idle_ = 0;           // workers waiting on cv_; guarded by mu_
  std::size_t wakes_pending_ = 0;  // notifies not yet consumed by a waking worker; guarded by mu_
  static constexpr int kPoliteSpins = 32;
  std::atomic<std::size_t> queued_{0};  // mirror of queue_.size() for lock-free peeking
  std::mutex join_mu_;  // serialises concurrent Shutdown() calls
  std::vector<std::thread> threads_;
};

}  // namespace tresor::http
