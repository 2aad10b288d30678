// ReadAhead: a producer on a thread of its own, a bounded way ahead of a consumer on the calling
// thread. For streams where reading and handling each cost a core: a backup reads the next rows
// of a COPY while the ones before are rendered, a restore decodes the archive while the rows
// before are loaded.
//
// `produce(push)` runs on the new thread and hands each item to `push`, which waits while the
// items not yet consumed weigh `limit` or more (by `weight`), and fails once the consumer has
// stopped: produce should then return. `consume(item)` runs on the calling thread, in order.
// The result: the consumer's first error, else the producer's. Both have ended when it returns.
// In a fiber (whose thread must not block waiting for another) there is no second thread: each
// item pushed is consumed at once, on the calling thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include "core/fiber.h"
#include "slipway/status.h"

namespace slipway::core {

template <typename T>
Status ReadAhead(size_t limit, const std::function<size_t(const T&)>& weight,
                 const std::function<Status(const std::function<Status(T)>& push)>& produce,
                 const std::function<Status(T& item)>& consume) {
  if (fiber::InFiber()) {
    Status consumer;
    Status producer = produce([&](T item) -> Status {
      consumer = consume(item);
      return consumer.ok() ? Status::Ok() : Aborted("the consumer gave up");
    });
    return consumer.ok() ? producer : consumer;
  }
  std::mutex mu;
  std::condition_variable cv;
  std::deque<T> ready;
  size_t ahead = 0;
  bool stopped = false;   // the consumer gave up
  bool produced = false;  // the producer returned
  Status producer;
  std::thread thread([&] {
    Status s = produce([&](T item) -> Status {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return stopped || ahead < limit; });
      if (stopped) return Aborted("the reader ahead stopped: its consumer gave up");
      ahead += weight(item);
      ready.push_back(std::move(item));
      cv.notify_all();
      return Status::Ok();
    });
    std::lock_guard lock(mu);
    producer = std::move(s);
    produced = true;
    cv.notify_all();
  });
  Status consumer;
  for (;;) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !ready.empty() || produced; });
    if (ready.empty()) break;  // everything produced was consumed
    T item = std::move(ready.front());
    ready.pop_front();
    ahead -= weight(item);
    cv.notify_all();
    lock.unlock();
    consumer = consume(item);
    if (!consumer.ok()) break;
  }
  {
    std::lock_guard lock(mu);
    stopped = true;
    cv.notify_all();
  }
  thread.join();
  return consumer.ok() ? producer : consumer;
}

}  // namespace slipway::core
