// The connection pool over the public database interface (include/slipway/database.h).
//
// Threads: the Pool is thread-safe; a PooledConnection is used by the one thread that holds it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "slipway/database.h"

namespace slipway::db {

// Opens new connections for a Pool.
using ConnectionFactory = std::function<Result<std::unique_ptr<Connection>>()>;

class Pool;

// A connection borrowed from a Pool; returned when destroyed. Move-only.
class PooledConnection {
 public:
  PooledConnection() = default;
  PooledConnection(Pool* pool, std::unique_ptr<Connection> conn)
      : pool_(pool), conn_(std::move(conn)) {}
  PooledConnection(PooledConnection&&) noexcept = default;
  PooledConnection& operator=(PooledConnection&& other) noexcept;
  ~PooledConnection();

  Connection* operator->() const { return conn_.get(); }
  Connection& operator*() const { return *conn_; }
  Connection* get() const { return conn_.get(); }

 private:
  void Release();
  Pool* pool_ = nullptr;
  std::unique_ptr<Connection> conn_;
};

// At most `max_size` connections, opened lazily. Acquire blocks until one is free or the timeout
// passes (Unavailable). A connection returned broken or inside an open transaction is rolled
// back or discarded, so a borrower's mistake never leaks into the next request.
class Pool {
 public:
  Pool(Dialect dialect, ConnectionFactory factory, int max_size);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  Dialect dialect() const { return dialect_; }
  int max_size() const { return max_size_; }

  Result<PooledConnection> Acquire(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  friend class PooledConnection;
  void Return(std::unique_ptr<Connection> conn);

  const Dialect dialect_;
  const ConnectionFactory factory_;
  const int max_size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  int open_ = 0;  // connections created and not discarded (idle + lent)
};

}  // namespace slipway::db
