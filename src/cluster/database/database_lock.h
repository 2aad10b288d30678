// The database's LeaseLock (lock.h), for nodes that share a database and no Redis: a row per held
// lock in slipway_locks (name, owner token, expiry), on PostgreSQL or SQLite alike.
//
// TryAcquire is one INSERT ... ON CONFLICT DO UPDATE that takes the row only when it is absent or
// its expiry has passed, so two nodes can never both succeed (the primary key decides); expiry is
// judged by the database's clock (db::SqlNowMillis), never a node's. Extend and Release change the
// row only while it holds the caller's token and has not expired. Acquire polls TryAcquire.
//
// Why a lease table and not an advisory lock: a LeaseLock is held across calls and threads with a
// TTL and a token, and must expire if its holder stalls; a session advisory lock is bound to one
// connection and never expires while the session lives. The schema lock, which is held by one
// thread on a connection of its own, is the advisory lock (db/schema_lock.h).
//
// Fails with Unavailable when no pooled connection can be had within 2 s or the database is
// unreachable. Thread-safe; usable in a fiber (it only runs statements through the pool).
#pragma once

#include "cluster/lock.h"
#include "db/database.h"

namespace slipway::cluster::database {

class DatabaseLeaseLock final : public LeaseLock {
 public:
  explicit DatabaseLeaseLock(db::Pool& pool) : pool_(pool) {}

  Result<std::optional<std::string>> TryAcquire(const std::string& name,
                                                std::chrono::milliseconds ttl) override;
  Result<bool> Extend(const std::string& name, const std::string& token,
                      std::chrono::milliseconds ttl) override;
  Result<bool> Release(const std::string& name, const std::string& token) override;
  std::string_view backend() const override { return db::DialectName(pool_.dialect()); }

 private:
  // Runs one statement on a pooled connection; `what` names it in errors.
  Result<std::unique_ptr<db::ResultSet>> Run(const std::string& what, const std::string& sql,
                                             std::initializer_list<db::Value> params);

  db::Pool& pool_;
};

}  // namespace slipway::cluster::database
