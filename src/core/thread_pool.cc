#include "core/thread_pool.h"

#include <pthread.h>

#include "core/guard.h"
#include "core/logging.h"

namespace slipway::core {

ThreadPool::ThreadPool(std::string name, int threads, size_t max_queue)
    : name_(std::move(name)), max_queue_(max_queue) {
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this, i] {
      std::string thread_name = (name_ + "-" + std::to_string(i)).substr(0, 15);
      pthread_setname_np(pthread_self(), thread_name.c_str());
      Run();
    });
  }
}

ThreadPool::~ThreadPool() { Stop(); }

Status ThreadPool::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Unavailable("the server is shutting down");
    if (queue_.size() >= max_queue_) {
      return Unavailable("the server is overloaded (" + std::to_string(queue_.size()) +
                         " requests queued)");
    }
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return Status::Ok();
}

void ThreadPool::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

size_t ThreadPool::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void ThreadPool::Run() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    // A task that throws ends itself, never the thread (and so never the process).
    Status s = Guard("a task of pool '" + name_ + "'", "", [&] {
      task();
      return Status::Ok();
    });
    if (!s.ok()) core::log::Error("task failed", {{"pool", name_}, {"error", s.message()}});
  }
}

}  // namespace slipway::core
