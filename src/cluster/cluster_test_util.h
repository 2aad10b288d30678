// Helpers for the cluster adapters' tests (test-only, header-only).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <thread>

#include "cluster/redis/redis_client.h"
#include "db/core_migrations.h"
#include "db/migration.h"
#include "test_database.h"
#include "test_redis.h"

namespace slipway::cluster::testing {

using namespace std::chrono_literals;

// Where an adapter under test keeps its state.
enum class Backend { kMemory, kRedis, kPostgres, kSqlite };

inline const char* BackendLabel(Backend b) {
  switch (b) {
    case Backend::kMemory:
      return "Memory";
    case Backend::kRedis:
      return "Redis";
    case Backend::kPostgres:
      return "Postgres";
    case Backend::kSqlite:
      return "Sqlite";
  }
  return "?";
}

inline void PrintTo(Backend b, std::ostream* os) { *os << BackendLabel(b); }

inline std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return BackendLabel(info.param);
}

inline bool IsDatabase(Backend b) { return b == Backend::kPostgres || b == Backend::kSqlite; }

// Polls `done` every 5 ms until it holds or `timeout` passes; returns its last value.
inline bool Eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

// A client for `server` (fast backoff, so that tests of recovery do not wait for it).
inline std::unique_ptr<redis::RedisClient> ClientFor(const slipway::testing::TestRedis& server,
                                                     const std::string& suffix = "",
                                                     const std::string& name = "test") {
  auto url = redis::ParseRedisUrl(server.url(suffix));
  EXPECT_TRUE(url.ok()) << url.status().ToString();
  redis::RedisClientOptions options;
  options.name = name;
  options.backoff_initial = 20ms;
  options.backoff_max = 200ms;
  return std::make_unique<redis::RedisClient>(*url, options);
}

// A key or channel name no other test (or earlier run) uses.
inline std::string UniqueName(const std::string& base) {
  static int counter = 0;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return base + "-" + (info ? std::string(info->name()) : "x") + "-" + std::to_string(++counter) +
         "-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

// A fresh database (a file in a temporary directory, or a database on the test PostgreSQL) with
// Slipway's system tables, as the database adapters find it on a node: the core migrations
// applied. The object owns the database; adapters made on it must die first.
class ClusterDatabase {
 public:
  explicit ClusterDatabase(db::Dialect dialect) : db_(dialect) {}

  ::testing::AssertionResult Create() {
    auto created = db_.Create();
    if (!created) return created;
    pool_ = std::make_unique<db::Pool>(db_.dialect(), db_.factory(), 4);
    auto conn = pool_->Acquire();
    if (!conn.ok()) return ::testing::AssertionFailure() << conn.status().ToString();
    Status s = db::EnsureBookkeepingTables(**conn);
    auto tx = db::Transaction::Begin(**conn);
    if (!tx.ok()) return ::testing::AssertionFailure() << tx.status().ToString();
    for (const db::Migration& m : db::CoreMigrations()) {
      if (s.ok()) s = db::ApplyMigration(**conn, m);
    }
    if (s.ok()) s = tx->Commit();
    if (!s.ok()) return ::testing::AssertionFailure() << s.ToString();
    return ::testing::AssertionSuccess();
  }

  db::Dialect dialect() const { return db_.dialect(); }
  db::Pool& pool() { return *pool_; }
  db::ConnectionFactory factory() const { return db_.factory(); }
  std::optional<db::PostgresOptions> postgres() const { return db_.postgres_options(); }
  // Runs `sql` on a pooled connection and returns the first cell as an integer (-1 on error).
  int64_t Int(const std::string& sql) {
    auto conn = pool_->Acquire();
    if (!conn.ok()) return -1;
    auto rs = (*conn)->Query(sql);
    if (!rs.ok() || (*rs)->row_count() == 0) {
      ADD_FAILURE() << sql << ": " << (rs.ok() ? "no row" : rs.status().ToString());
      return -1;
    }
    return (*rs)->Int(0, 0);
  }
  Status Exec(const std::string& sql) {
    ASSIGN_OR_RETURN(auto conn, pool_->Acquire());
    return conn->Exec(sql);
  }

 private:
  slipway::testing::DialectDatabase db_;
  std::unique_ptr<db::Pool> pool_;
};

inline db::Dialect DialectOf(Backend b) {
  return b == Backend::kPostgres ? db::Dialect::kPostgres : db::Dialect::kSqlite;
}

}  // namespace slipway::cluster::testing
