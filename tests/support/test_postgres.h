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
#include <string>

#include "db/postgres/postgres_connection.h"
#include "test_support.h"

namespace slipway::testing {

class TestPostgres {
 public:
  TestPostgres();
  ~TestPostgres();  // stops the server (only in the process that created the object)
  TestPostgres(const TestPostgres&) = delete;
  TestPostgres& operator=(const TestPostgres&) = delete;

  // The per-process server. Call Start() (cheap when running) before using it.
  static TestPostgres& Shared();

  // Starts the server unless it runs (fsync off: PG_FAST=1).
  ::testing::AssertionResult Start();
  // Fast shutdown, then start again on the same port.
  ::testing::AssertionResult Restart();
  ::testing::AssertionResult Stop();

  bool running() const { return running_; }
  int port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  // Connection options for `database` as user slipway (a superuser).
  db::PostgresOptions options(const std::string& database = "slipway") const;

 private:
  ::testing::AssertionResult Run(const std::string& command);

  TempDir dir_;
  pid_t owner_pid_;
  bool running_ = false;
  int port_ = 0;
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

}  // namespace slipway::testing
