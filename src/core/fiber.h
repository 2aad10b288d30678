// Fibers on the HTTP server's I/O threads: stackful coroutines (Boost.Context through
// asio::spawn) that let synchronous code wait for a socket without blocking its thread.
//
// Why: a request that waits on PostgreSQL used to hand itself to a database worker thread and
// back, two thread switches per request; on a small machine those switches cost more than the
// query. In a fiber, the same code (Connection::Query and everything above it) runs on the I/O
// thread, and a wait for the database suspends only that fiber: the thread goes on serving
// other connections, and the query's answer arrives through the same epoll loop as HTTP.
//
// Rules for code that runs in a fiber: never block the thread (no sleeps, no waits on a
// condition variable, no long CPU work such as password hashing), and never hold a mutex across
// something that may suspend (a query): another fiber on the same thread would deadlock on it.
// Outside a fiber every function here still works, by blocking (poll), so the same code runs on
// worker threads unchanged.
//
// This header includes no Asio; src/core/fiber.cc is the only translation unit that does.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "slipway/status.h"

namespace slipway::fiber {

// Makes the calling thread one that can run fibers, on the given asio::io_context (passed
// type-erased so this header stays light). Called by the HTTP server on each I/O thread, before
// it runs the context; UnbindThread() after.
void BindThread(void* io_context);
void UnbindThread();

// True on a bound thread (Spawn may be called).
bool CanSpawn();
// True inside a fiber.
bool InFiber();
// Fibers started and not yet finished, on all threads. A thread's io_context must not be
// destroyed while one of its fibers is suspended (http::Server waits for them at shutdown).
int LiveFibers();

// Starts `task` in a new fiber on the calling (bound) thread; it runs when the thread next
// polls, not inside this call. An exception escaping `task` is logged and swallowed.
void Spawn(std::function<void()> task);

// Runs `fn` on the calling (bound) thread once the handlers that are ready now have run: work
// queued by several fibers in one turn of the loop can be sent together.
void Defer(std::function<void()> fn);

// Waits until `fd` is readable (or writable): inside a fiber by suspending it, elsewhere with
// poll(). Unavailable on a socket error or hang-up, DeadlineExceeded past `timeout`.
Status WaitReadable(int fd, std::chrono::milliseconds timeout = std::chrono::hours(24));
Status WaitWritable(int fd, std::chrono::milliseconds timeout = std::chrono::hours(24));

// Lets a fiber wait until another fiber on the same thread wakes it. Not for use across threads.
class Waiter {
 public:
  Waiter();
  ~Waiter();
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  // Suspends the calling fiber until Wake() or the timeout; true when woken.
  bool Wait(std::chrono::milliseconds timeout);
  void Wake();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A thread of its own that runs fibers, for tests and tools (the HTTP server binds its I/O
// threads itself).
class FiberThread {
 public:
  FiberThread();
  ~FiberThread();  // stops and joins the thread
  FiberThread(const FiberThread&) = delete;
  FiberThread& operator=(const FiberThread&) = delete;

  // Runs each task in a fiber of its own on this thread; returns once all have finished.
  void RunAll(std::vector<std::function<void()>> tasks);
  // Runs `fn` on this thread as an ordinary handler (not in a fiber) and waits for it.
  void Call(std::function<void()> fn);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace slipway::fiber
