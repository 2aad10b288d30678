// ThreadPool: a fixed set of threads running queued tasks, used for work that blocks (the
// database) so that HTTP I/O threads never do.
//
// Post() fails with Unavailable when the queue is full, which the caller turns into a 503 rather
// than letting latency grow without bound. Stop() lets queued tasks finish, then joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "slipway/status.h"

namespace slipway::core {

class ThreadPool {
 public:
  ThreadPool(std::string name, int threads, size_t max_queue);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  Status Post(std::function<void()> task);
  void Stop();
  size_t queued() const;
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void Run();

  const std::string name_;
  const size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace slipway::core
