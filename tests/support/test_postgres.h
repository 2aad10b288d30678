// A real PostgreSQL server for tests, run by scripts/pg-server in a temporary directory.
//
// TestPostgres owns the server process (started by Start(), stopped by Stop() or the destructor)
// and its directory. Shared() is one server per test process, started on first use and stopped
// when the process exits. TestDatabase gives a test its own database on a server, so cases never
// see each other's tables or advisory locks.
//
// Failures come back as gtest AssertionResults carrying the script's output: use
// ASSERT_TRUE(server.Start()). Nothing here skips a test when PostgreSQL is missing.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>

#include "db/postgres/postgres_connection.h"
#include "script_server.h"
#include "test_support.h"

namespace slipway::testing {

class TestPostgres : public ScriptServer {
 public:
  // fsync off (PG_FAST=1): a test server need not survive a power cut.
  TestPostgres() : ScriptServer("pg-server", "pg", {{"PG_FAST", "1"}}) {}

  // The per-process server. Call Start() (cheap when running) before using it.
  static TestPostgres& Shared();

  // Connection options for `database` as user slipway (a superuser).
  db::PostgresOptions options(const std::string& database = "slipway") const;
};

// A fresh, uniquely named database, dropped (closing its sessions) when the object dies.
class TestDatabase {
 public:
  explicit TestDatabase(TestPostgres& server = TestPostgres::Shared()) : server_(server) {}
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  // Starts the server if needed and creates the database.
  ::testing::AssertionResult Create();
  const db::PostgresOptions& options() const { return options_; }

 private:
  TestPostgres& server_;
  db::PostgresOptions options_;
  bool created_ = false;
};

// The environment that points a Slipway node at this database (DB_DIALECT=postgres and the
// DB_* connection variables).
inline std::map<std::string, std::string> PostgresEnv(const db::PostgresOptions& o) {
  return {{"DB_DIALECT", "postgres"},  {"DB_HOST", o.host}, {"DB_PORT", std::to_string(o.port)},
          {"DB_DATABASE", o.database}, {"DB_USER", o.user}, {"DB_PASSWORD", o.password}};
}

}  // namespace slipway::testing
