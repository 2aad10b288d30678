// The real binary, started on a free port: start-up, the API envelope, errors, shutdown.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "api_client.h"
#include "node.h"

namespace slipway::testing {
namespace {

using namespace std::chrono_literals;

TEST(ServeTest, StartsOnAnEmptyDirectoryAndReportsItself) {
  TempDir dir;
  auto started = std::chrono::steady_clock::now();
  Node node({.storage = dir.path() / "storage"});
  ASSERT_TRUE(node.WaitHealthy()) << node.process().Stdout() << node.process().Stderr();
  auto ready_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  RecordProperty("ready_ms", static_cast<int>(ready_ms.count()));

  auto health = node.Get("/api/__health_check");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok");

  auto info = node.Get("/api/app:getInfo");
  ASSERT_EQ(info.status, 200) << info.body;
  auto data = boost::json::parse(info.body).at("data").as_object();
  EXPECT_EQ(data.at("version").as_string(), SLIPWAY_VERSION);
  EXPECT_EQ(data.at("schemaVersion").as_string(), SLIPWAY_VERSION);
  EXPECT_EQ(data.at("state").as_string(), "running");
  EXPECT_EQ(data.at("database").at("dialect").as_string(), "sqlite");
  EXPECT_FALSE(data.at("nodeId").as_string().empty());
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "storage" / "db" / "slipway.sqlite"));
  EXPECT_EQ(node.Stop(), 0);
}

TEST(ServeTest, EnvironmentConfiguresAndFlagsOverride) {
  TempDir dir;
  int env_port = FreePort();
  // APP_PORT says one port, --port (set by Node) another: the flag wins.
  Node node({.storage = dir.path() / "s",
             .env = {{"APP_PORT", std::to_string(env_port)},
                     {"DB_STORAGE", (dir.path() / "custom.db").string()}}});
  ASSERT_TRUE(node.WaitHealthy());
  EXPECT_NE(env_port, node.port());
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "custom.db"));
  node.Stop();

  // With no flag, APP_PORT and STORAGE_PATH are used.
  TempDir dir2;
  int port = FreePort();
  Process p({SLIPWAY_BIN, "serve", "--host", "127.0.0.1"},
            {{"APP_PORT", std::to_string(port)}, {"STORAGE_PATH", (dir2.path() / "st").string()}},
            dir2.path(), "env");
  ASSERT_TRUE(WaitForHealth(port, 200, 10s)) << p.Stderr();
  EXPECT_TRUE(std::filesystem::exists(dir2.path() / "st" / "db" / "slipway.sqlite"));
  p.Signal(SIGTERM);
  EXPECT_EQ(p.Wait(), 0);
}

TEST(ServeTest, ErrorsUseNocoBasesBody) {
  TempDir dir;
  Node node({.storage = dir.path() / "s"});
  ASSERT_TRUE(node.WaitHealthy());
  // Names are not probed anonymously: an unknown resource or action is a 401 until signed in.
  auto anonymous = node.Get("/api/nothing:list");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(node.Get("/api/app:nope").status, 401);

  Api api(node.port());
  ASSERT_EQ(api.SignIn("admin@nocobase.com", "admin123").status, 200);
  auto unknown = api.Get("nothing:list");
  EXPECT_EQ(unknown.status, 404);
  auto err = boost::json::parse(unknown.body).at("errors").at(0).as_object();
  EXPECT_NE(std::string(err.at("message").as_string()).find("'nothing'"), std::string::npos);

  auto action = api.Get("app:nope");
  EXPECT_EQ(action.status, 404);
  EXPECT_NE(action.body.find("action 'nope'"), std::string::npos);

  auto bad = node.Get("/api/bad%20name:list");
  EXPECT_EQ(bad.status, 400);

  auto outside = node.Get("/elsewhere");
  EXPECT_EQ(outside.status, 404);

  auto big = HttpRequest(node.port(), "POST", "/api/app:getInfo", std::string(9 << 20, 'x'));
  EXPECT_EQ(big.status, 413);
  node.Stop();
}

TEST(ServeTest, LogsEveryRequestAsJsonLinesWithNodeAndVersion) {
  TempDir dir;
  Node node({.storage = dir.path() / "s", .env = {{"LOG_FORMAT", "json"}, {"NODE_ID", "n-test"}}});
  ASSERT_TRUE(node.WaitHealthy());
  node.Get("/api/app:getInfo");
  node.Stop();
  std::string out = node.process().Stdout();
  bool saw_request = false;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    auto v = boost::json::parse(line);  // every line is one JSON object
    auto& o = v.as_object();
    EXPECT_EQ(o.at("node").as_string(), "n-test");
    EXPECT_EQ(o.at("version").as_string(), SLIPWAY_VERSION);
    if (o.at("msg").as_string() == "request" && o.at("path").as_string() == "/api/app:getInfo") {
      saw_request = true;
      EXPECT_EQ(o.at("method").as_string(), "GET");
      EXPECT_EQ(o.at("status").as_int64(), 200);
      EXPECT_TRUE(o.at("ms").is_double());
    }
  }
  EXPECT_TRUE(saw_request) << out;
}

TEST(ServeTest, SigtermStopsCleanlyAndSigintToo) {
  for (int sig : {SIGTERM, SIGINT}) {
    TempDir dir;
    Node node({.storage = dir.path() / "s"});
    ASSERT_TRUE(node.WaitHealthy());
    node.process().Signal(sig);
    EXPECT_EQ(node.process().Wait(10s), 0);
    EXPECT_NE(node.process().Stdout().find("stopped"), std::string::npos);
    EXPECT_EQ(HttpGet(node.port(), "/api/__health_check").status, 0);  // nobody listens
  }
}

// SHUTDOWN_DELAY: after SIGTERM the health check fails at once while requests are still served,
// then the node stops; SIGINT (a terminal) skips the delay.
TEST(ServeTest, SigtermFailsTheHealthCheckFirstAndKeepsServing) {
  TempDir dir;
  Node node({.storage = dir.path() / "s", .env = {{"SHUTDOWN_DELAY", "1500"}}});
  ASSERT_TRUE(node.WaitHealthy());
  Api api(node.port());
  ASSERT_EQ(api.SignIn("admin@nocobase.com", "admin123").status, 200);
  auto signalled = std::chrono::steady_clock::now();
  node.process().Signal(SIGTERM);
  HttpResult health = WaitForHealthSaying(node.port(), 503, "leaving", 1s);
  EXPECT_EQ(health.status, 503) << health.body;
  EXPECT_EQ(api.Get("collections:list").status, 200);  // still served
  EXPECT_EQ(node.process().Wait(10s), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - signalled, 1400ms);
  EXPECT_NE(node.process().Stdout().find("leaving"), std::string::npos);

  TempDir dir2;
  Node quick({.storage = dir2.path() / "s", .env = {{"SHUTDOWN_DELAY", "60000"}}});
  ASSERT_TRUE(quick.WaitHealthy());
  quick.process().Signal(SIGINT);
  EXPECT_EQ(quick.process().Wait(10s), 0);
}

TEST(ServeTest, PortInUseIsOneClearLine) {
  TempDir dir;
  Node first({.storage = dir.path() / "a"});
  ASSERT_TRUE(first.WaitHealthy());
  auto r = RunCommand({SLIPWAY_BIN, "serve", "--host", "127.0.0.1", "--port",
                       std::to_string(first.port()), "--storage", (dir.path() / "b").string()},
                      {}, dir.path());
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(
      r.err.find("slipway: error: cannot listen on 127.0.0.1:" + std::to_string(first.port())),
      std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  first.Stop();
}

}  // namespace
}  // namespace slipway::testing
