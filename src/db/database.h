// The connection pool over the public database interface (include/slipway/database.h).
//
// Threads: the Pool is thread-safe; a PooledConnection is used by the one thread that holds it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "core/cancel.h"
#include "slipway/database.h"

namespace slipway::db {

// The tag of a Status that says the database cannot be reached (connect failed, connection
// lost). Its message names the server; the API answers such errors with a generic message and
// logs the details (api/api_handler.cc).
inline constexpr const char* kDatabaseUnavailable = "DB_UNAVAILABLE";
// The tags of a statement past its time limit (Connection::SetStatementTimeout) and of one
// interrupted (Connection::Interrupt): the API answers both 503.
inline constexpr const char* kStatementTimeout = "STATEMENT_TIMEOUT";
inline constexpr const char* kCancelled = "CANCELLED";

// Opens new connections for a Pool.
using ConnectionFactory = std::function<Result<std::unique_ptr<Connection>>()>;

class Pool;
struct FiberSet;

// A connection borrowed from a Pool; returned when destroyed. Move-only.
class PooledConnection {
 public:
  PooledConnection() = default;
  PooledConnection(Pool* pool, std::unique_ptr<Connection> conn, FiberSet* set = nullptr)
      : pool_(pool), set_(set), conn_(std::move(conn)) {}
  PooledConnection(PooledConnection&& other) noexcept
      : pool_(other.pool_),
        set_(other.set_),
        conn_(std::move(other.conn_)),
        shared_(other.shared_),
        token_(std::exchange(other.token_, nullptr)),
        subscription_(other.subscription_) {
    other.pool_ = nullptr;
  }
  PooledConnection& operator=(PooledConnection&& other) noexcept;
  ~PooledConnection();

  // A connection the borrower shares and does not return (a fiber thread's read pipeline).
  static PooledConnection Shared(Connection* conn) {
    PooledConnection c;
    c.shared_ = conn;
    return c;
  }

  Connection* operator->() const { return get(); }
  Connection& operator*() const { return *get(); }
  Connection* get() const { return conn_ ? conn_.get() : shared_; }

 private:
  friend class Pool;
  void Release();
  // Interrupts the connection when `token` is cancelled, until it is released.
  void Watch(core::CancelToken* token);
  Pool* pool_ = nullptr;
  FiberSet* set_ = nullptr;  // borrowed by a fiber from its thread's set
  std::unique_ptr<Connection> conn_;
  Connection* shared_ = nullptr;
  core::CancelToken* token_ = nullptr;
  uint64_t subscription_ = 0;
};

// At most `max_size` connections, opened lazily. A borrow made for an API request (one with a
// current core::CancelToken) gets the request's statement limit and is interrupted when the
// request is cancelled; any other borrow (tasks, procedures, the CLI) has no statement limit. A
// borrow for a request already cancelled fails with Aborted (CANCELLED). Acquire blocks until one
// is free or the timeout passes (Unavailable). A connection returned broken or inside an open
// transaction is rolled back or discarded, so a borrower's mistake never leaks into the next
// request.
//
// Fibers (src/core/fiber.h) borrow differently when `per_thread` > 0: each I/O thread has its
// own set of at most `per_thread` connections, used only by the fibers of that thread, and a
// fiber that finds none free waits without blocking the thread. Those connections are on top of
// `max_size`.
class Pool {
 public:
  Pool(Dialect dialect, ConnectionFactory factory, int max_size, int per_thread = 0);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  Dialect dialect() const { return dialect_; }
  int max_size() const { return max_size_; }
  int per_thread() const { return per_thread_; }

  Result<PooledConnection> Acquire(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // For a statement that only reads, outside a transaction: in a fiber, when a reader factory
  // is set, the thread's shared reader (a PostgreSQL pipeline: postgres_pipeline.h); elsewhere
  // the same as Acquire.
  Result<PooledConnection> AcquireReader(
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void SetReaderFactory(ConnectionFactory factory) { reader_factory_ = std::move(factory); }

 private:
  friend class PooledConnection;
  void Return(std::unique_ptr<Connection> conn);
  // The borrow as the current request needs it (see the class comment).
  Result<PooledConnection> ForCurrentRequest(PooledConnection c);
  Result<PooledConnection> AcquireShared(std::chrono::milliseconds timeout);
  FiberSet& ThisThreadSet();
  Result<PooledConnection> AcquireInFiber(std::chrono::milliseconds timeout);
  void ReturnToSet(FiberSet& set, std::unique_ptr<Connection> conn);

  const Dialect dialect_;
  const ConnectionFactory factory_;
  const int max_size_;
  const int per_thread_;
  ConnectionFactory reader_factory_;
  const uint64_t id_;                            // keys each thread's set, never reused
  std::vector<std::unique_ptr<FiberSet>> sets_;  // one per I/O thread that borrowed (under mu_)
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  int open_ = 0;  // connections created and not discarded (idle + lent)
};

}  // namespace slipway::db
