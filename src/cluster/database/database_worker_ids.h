// The database's WorkerIdStore (worker_ids.h): a row per id in slipway_worker_ids (worker id,
// owner token, node, acquired and expiry in Unix ms by the database's clock), on PostgreSQL or
// SQLite alike. What nodes that share a database use to keep their Snowflake ids unique, whatever
// else is configured (adapters.h).
//
// Acquire is one INSERT ... ON CONFLICT DO UPDATE per try: the preferred id when its row is free
// or already the owner's; else, among the free ids, one never used, or the one whose lease ended
// longest ago (so an id is rarely handed on right after its holder let it go). The primary key
// decides between nodes racing for the same id; the loser tries again. Renew and Release change
// the row only while it holds the owner and has not expired; Release expires the row rather than
// deleting it (the "ended longest ago" order needs it). The database never forgets a committed
// lease: may_forget() is false, so an id acquired here is used at once.
//
// It uses a connection of its own, opened on first use and again after it broke, so that a busy
// pool never delays a renewal. Fails with Unavailable when the database cannot be reached, and
// with ResourceExhausted when all 1024 ids are held by live leases. Thread-safe (calls take turns
// on the connection); not for a fiber.
#pragma once

#include <memory>
#include <mutex>

#include "cluster/worker_ids.h"
#include "db/database.h"

namespace slipway::cluster::database {

class DatabaseWorkerIdStore final : public WorkerIdStore {
 public:
  DatabaseWorkerIdStore(db::Dialect dialect, db::ConnectionFactory connect)
      : dialect_(dialect), connect_(std::move(connect)) {}

  Result<int> Acquire(const std::string& owner, int preferred,
                      std::chrono::milliseconds ttl) override;
  Result<bool> Renew(int id, const std::string& owner, std::chrono::milliseconds ttl) override;
  Status Release(int id, const std::string& owner) override;
  bool may_forget() const override { return false; }
  std::string_view backend() const override { return db::DialectName(dialect_); }

 private:
  // Runs one statement on the store's connection (reopened when needed). Called with mu_ held.
  Result<std::unique_ptr<db::ResultSet>> RunLocked(const std::string& what, const std::string& sql,
                                                   std::initializer_list<db::Value> params);

  const db::Dialect dialect_;
  const db::ConnectionFactory connect_;
  std::mutex mu_;
  std::unique_ptr<db::Connection> conn_;  // guarded by mu_
};

}  // namespace slipway::cluster::database
