// The `slipway` binary on PostgreSQL (DB_DIALECT=postgres): install, serve, one clear error when
// the server cannot be reached.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <thread>

#include "api_client.h"
#include "node.h"
#include "test_database.h"
#include "test_postgres.h"

namespace slipway::testing {
namespace {

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

// A restart of PostgreSQL under a running node: the requests that meet the outage get a clear
// 503, none a 500; afterwards reads (the fibers' shared pipeline) and writes (the fibers' own
// connections) work again without restarting the node, and nothing acknowledged is lost.
TEST(PostgresNodeTest, RecoversWhenTheDatabaseRestarts) {
  using namespace std::chrono_literals;
  TestPostgres server;  // its own server: restarting the shared one would disturb other tests
  ASSERT_TRUE(server.Start());
  TestDatabase database(server);
  ASSERT_TRUE(database.Create());
  TempDir dir;
  auto env = PostgresEnv(database.options());
  env["APP_KEY"] = "integration-test-key-0123456789abcdef";
  Node node({.storage = dir.path() / "s", .env = env});
  ASSERT_TRUE(node.WaitHealthy(30s)) << node.process().Stdout() << node.process().Stderr();
  Api api(node.port());
  ASSERT_EQ(api.SignIn("admin@nocobase.com", "admin123").status, 200);
  ASSERT_EQ(api.Post("collections:create", std::string(R"({"name":"notes","fields":[
                {"name":"text","type":"string"}]})"))
                .status,
            200);
  ApiResult before = api.Post("notes:create", std::string(R"({"text":"before"})"));
  ASSERT_EQ(before.status, 200) << before.body;
  ASSERT_EQ(api.Get("notes:get?filterByTk=1").status, 200);
  // The get went through an HTTP thread's read pipeline (its own session, named so).
  {
    auto admin = db::OpenPostgres(database.options());
    ASSERT_TRUE(admin.ok()) << admin.status().ToString();
    auto rs = (*admin)->Query(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'slipway (reads)'");
    ASSERT_TRUE(rs.ok()) << rs.status().ToString();
    EXPECT_GE((*rs)->Int(0, 0), 1);
  }

  ASSERT_TRUE(server.Restart());
  // Each kind of connection finds out on its first use after the restart; keep asking until
  // both answer, and never accept a 500.
  int get_status = 0, create_status = 0;
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    ApiResult get = api.Get("notes:get?filterByTk=1");
    ApiResult create = api.Post("notes:create", std::string(R"({"text":"after"})"));
    EXPECT_NE(get.status, 500) << get.body;
    EXPECT_NE(create.status, 500) << create.body;
    if (get.status != 200) {
      EXPECT_EQ(get.status, 503) << get.body;
    }
    get_status = get.status;
    create_status = create.status;
    if (get_status == 200 && create_status == 200) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(get_status, 200);
  ASSERT_EQ(create_status, 200);
  ApiResult all = api.Get("notes:list?filter=" + Encode(R"({"text":"before"})"));
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all.json.at("meta").at("count").as_int64(), 1);

  // While the database is down: 503 with Retry-After, and nothing about where it is or what
  // libpq said (that goes to the log).
  ASSERT_TRUE(server.Stop());
  for (const char* path : {"notes:get?filterByTk=1", "notes:list"}) {
    ApiResult down = api.Get(path);
    EXPECT_EQ(down.status, 503) << down.body;
    EXPECT_EQ(down.code(), "DB_UNAVAILABLE") << down.body;
    EXPECT_EQ(down.message(), "the database is unavailable; try again in a moment");
    EXPECT_EQ(down.body.find(std::to_string(server.port())), std::string::npos) << down.body;
    EXPECT_EQ(down.body.find("127.0.0.1"), std::string::npos) << down.body;
    EXPECT_FALSE(down.headers["retry-after"].empty());
  }
  ASSERT_TRUE(server.Start());
  EXPECT_EQ(node.Stop(), 0);
  EXPECT_NE(node.process().Stdout().find("database unavailable"), std::string::npos);
}

}  // namespace
}  // namespace slipway::testing
