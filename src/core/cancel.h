// CancelToken: says that nobody waits for a piece of work any more (its client went away, the
// node is stopping), and carries the time limit of the database statements it runs.
//
// The HTTP server makes one per request and cancels it when the client disconnects before its
// answer; the API handler makes it current (CancelScope) while the request's action runs, on a
// worker thread or in a fiber (fiber.cc keeps the current token per fiber). The database pool
// reads the current token when a connection is borrowed: the statement limit is applied to the
// connection, and a cancel interrupts the statement running on it (db::Connection::Interrupt).
// Work without a current token (tasks, procedures, the CLI) has no statement limit.
//
// Thread-safe. Callbacks run on the thread that cancels, once, never after Unsubscribe returns.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

namespace slipway::core {

class CancelToken {
 public:
  CancelToken() = default;
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  // Runs every subscribed callback (once); later subscriptions run at once.
  void Cancel();
  bool cancelled() const;

  // Runs `fn` when the token is cancelled (now, if it is already). The id unsubscribes it.
  uint64_t Subscribe(std::function<void()> fn);
  // Returns once `id`'s callback cannot run any more (waits for one running now).
  void Unsubscribe(uint64_t id);

  // The longest one database statement of this work may run (0: no limit). Set by whoever
  // runs the work (the API handler: DB_STATEMENT_TIMEOUT) before it starts.
  std::chrono::milliseconds statement_limit() const {
    return std::chrono::milliseconds(statement_limit_ms_.load(std::memory_order_relaxed));
  }
  void set_statement_limit(std::chrono::milliseconds limit) {
    statement_limit_ms_.store(limit.count(), std::memory_order_relaxed);
  }

 private:
  std::atomic<int64_t> statement_limit_ms_{0};
  mutable std::mutex mu_;
  bool cancelled_ = false;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::function<void()>> callbacks_;
};

// The token of the work running on this thread, or in this fiber (null: none).
CancelToken* CurrentCancel();
// The slot behind CurrentCancel(), which fiber.cc saves and restores around each suspension.
CancelToken*& CurrentCancelSlot();

// Makes `token` current for its scope.
class CancelScope {
 public:
  explicit CancelScope(CancelToken* token) : saved_(CurrentCancelSlot()) {
    CurrentCancelSlot() = token;
  }
  ~CancelScope() { CurrentCancelSlot() = saved_; }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

 private:
  CancelToken* saved_;
};

}  // namespace slipway::core
