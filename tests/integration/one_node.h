// One node for integration tests that run the same on both dialects: TEST_P over a bool, false
// for SQLite (a file under the test's storage), true for PostgreSQL (a fresh database on the
// test server); the node is started and the first administrator signed in before each test.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "api_client.h"
#include "db/postgres/postgres_connection.h"
#include "db/sqlite/sqlite_connection.h"
#include "node.h"
#include "test_database.h"

namespace slipway::testing {

class OneNodeTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    env_ = {{"APP_KEY", "integration-test-key-0123456789abcdef"}};
    if (GetParam()) {
      pg_.emplace();
      ASSERT_TRUE(pg_->Create());
      env_.merge(PostgresEnv(pg_->options()));
    }
    StartNode();
  }
  void TearDown() override {
    if (node_) {
      EXPECT_EQ(node_->Stop(), 0);
    }
  }
  // (Re)starts the node on the same storage and database, and signs in again.
  void StartNode(const std::string& name = "node") {
    node_ = std::make_unique<Node>(NodeOptions{.storage = storage(), .env = env_}, name);
    ASSERT_TRUE(node_->WaitHealthy(std::chrono::seconds(30))) << node_->process().Stderr();
    api_ = std::make_unique<Api>(node_->port());
    ASSERT_EQ(api_->SignIn("admin@nocobase.com", "admin123").status, 200);
  }
  std::filesystem::path storage() const { return dir_.path() / "storage"; }

  // A collection `name` with one string field `v`, holding `rows` rows of 200 characters put in
  // straight through the database (enough for a backup or a restore to be seen midway).
  void MakeBulkCollection(const std::string& name, int rows) {
    ASSERT_EQ(api_->Post("collections:create",
                         boost::json::parse(R"({"name":")" + name +
                                            R"(","fields":[{"name":"v","type":"string"}]})"))
                  .status,
              200);
    auto conn = GetParam() ? db::OpenPostgres(pg_->options())
                           : db::OpenSqlite({storage() / "db" / "slipway.sqlite"});
    ASSERT_TRUE(conn.ok());
    const std::string n = std::to_string(rows);
    ASSERT_TRUE((*conn)
                    ->ExecScript(GetParam()
                                     ? "INSERT INTO " + name +
                                           " (v, \"createdAt\", \"updatedAt\") SELECT "
                                           "repeat('v', 200), now(), now() FROM "
                                           "generate_series(1, " +
                                           n + ")"
                                     : "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                                       "FROM n WHERE i < " +
                                           n + ") INSERT INTO " + name +
                                           " (v, createdAt, updatedAt) SELECT printf('%.200c', "
                                           "'v'), '2026-01-01T00:00:00.000Z', "
                                           "'2026-01-01T00:00:00.000Z' FROM n")
                    .ok());
  }

  TempDir dir_;
  std::map<std::string, std::string> env_;  // the node's environment (database, APP_KEY)
  std::optional<TestDatabase> pg_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<Api> api_;
};

inline std::string DialectParamName(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "Postgres" : "Sqlite";
}

}  // namespace slipway::testing
