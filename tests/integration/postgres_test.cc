// The `slipway` binary on PostgreSQL (DB_DIALECT=postgres): install, serve, one clear error when
// the server cannot be reached.
#include <gtest/gtest.h>

#include <algorithm>

#include "node.h"
#include "test_postgres.h"

namespace slipway::testing {
namespace {

std::map<std::string, std::string> PostgresEnv(const db::PostgresOptions& o) {
  return {{"DB_DIALECT", "postgres"},  {"DB_HOST", o.host}, {"DB_PORT", std::to_string(o.port)},
          {"DB_DATABASE", o.database}, {"DB_USER", o.user}, {"DB_PASSWORD", o.password}};
}

TEST(PostgresCliTest, UnreachableServerIsOneLineNamingIt) {
  TempDir dir;
  db::PostgresOptions options;
  options.port = static_cast<uint16_t>(FreePort());
  options.database = "appdb";
  auto r = RunCommand({SLIPWAY_BIN, "install", "--storage", (dir.path() / "s").string()},
                      PostgresEnv(options), dir.path());
  EXPECT_EQ(r.exit_code, 4) << r.err;  // Unavailable
  std::string where = "127.0.0.1:" + std::to_string(options.port) + "/appdb";
  size_t at = r.err.find("slipway: error: ");
  ASSERT_NE(at, std::string::npos) << r.err;
  std::string line = r.err.substr(at, r.err.find('\n', at) - at);
  EXPECT_NE(line.find(where), std::string::npos) << r.err;
  EXPECT_NE(line.find("Connection refused"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin() + at, r.err.end(), '\n'), 1) << r.err;
}

TEST(PostgresCliTest, InstallsAndServes) {
  TestDatabase database;
  ASSERT_TRUE(database.Create());
  TempDir dir;
  auto env = PostgresEnv(database.options());
  auto installed = RunCommand({SLIPWAY_BIN, "install", "--storage", (dir.path() / "s").string()},
                              env, dir.path());
  ASSERT_EQ(installed.exit_code, 0) << installed.err;
  auto again = RunCommand({SLIPWAY_BIN, "install", "--storage", (dir.path() / "s").string()}, env,
                          dir.path());
  EXPECT_EQ(again.exit_code, 3);
  EXPECT_NE(again.err.find("already installed"), std::string::npos) << again.err;

  Node node({.storage = dir.path() / "s", .env = env});
  ASSERT_TRUE(node.WaitHealthy()) << node.process().Stdout() << node.process().Stderr();
  auto info = node.Get("/api/app:getInfo");
  EXPECT_EQ(info.status, 200);
  EXPECT_NE(info.body.find("\"dialect\":\"postgres\""), std::string::npos) << info.body;
  EXPECT_EQ(node.Stop(), 0);
}

}  // namespace
}  // namespace slipway::testing
