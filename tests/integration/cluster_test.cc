// Cluster mode with real servers: PostgreSQL and Redis started by the test scripts on free ports,
// three `slipway serve` processes on 127.0.0.1 sharing one storage directory.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <boost/json.hpp>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "api_client.h"
#include "node.h"
#include "schema_churn.h"
#include "test_database.h"
#include "test_redis.h"

namespace slipway::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

json::value J(std::string_view text) { return json::parse(text); }

ApiResult AddHello(Api& api) {
  return api.Upload("pm:add", ReadFile(std::string(SLIPWAY_HELLO_PACKAGE_DIR) + "/hello-1.0.0.tgz"),
                    "hello-1.0.0.tgz");
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pg_.Create());
    ASSERT_TRUE(redis_.Start());
    env_ = PostgresEnv(pg_.options());
    env_.insert({{"APP_KEY", "cluster-test-key-0123456789abcdef0123"},
                 {"REDIS_URL", "redis://127.0.0.1:" + std::to_string(redis_.port())},
                 {"SYNC_POLL_INTERVAL", "300"},
                 {"HEARTBEAT_INTERVAL", "300"},
                 {"NODE_LIVE_TIMEOUT", "2000"}});
  }
  void TearDown() override {
    for (auto& n : nodes_) {
      if (n && n->process().running()) n->Stop();
    }
  }

  // Starts node i (1-based) now, without waiting.
  Node& StartNode(int i, const std::string& binary = DefaultBinary(),
                  const std::filesystem::path& storage = {}, int port = 0) {
    auto env = env_;
    env["NODE_ID"] = "n" + std::to_string(i);
    if (nodes_.size() < static_cast<size_t>(i)) nodes_.resize(i);
    nodes_[i - 1] = std::make_unique<Node>(
        NodeOptions{.binary = binary,
                    .storage = storage.empty() ? dir_.path() / "storage" : storage,
                    .env = env,
                    .port = port},
        "n" + std::to_string(i));
    return *nodes_[i - 1];
  }
  Node& node(int i) { return *nodes_[i - 1]; }
  std::unique_ptr<Api> AdminOn(int i) {
    auto api = std::make_unique<Api>(node(i).port());
    EXPECT_EQ(api->SignIn("admin@nocobase.com", "admin123").status, 200);
    return api;
  }
  void StartThree() {
    for (int i = 1; i <= 3; ++i) StartNode(i);
    for (int i = 1; i <= 3; ++i) {
      ASSERT_TRUE(node(i).WaitHealthy(60s))
          << node(i).process().Stdout() << node(i).process().Stderr();
    }
    for (int i = 1; i <= 3; ++i) api_.push_back(AdminOn(i));
  }
  json::array Nodes(int via) {
    ApiResult r = api_[via - 1]->Get("cluster:nodes");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.data().as_array() : json::array{};
  }

  TempDir dir_;
  TestDatabase pg_;
  TestRedis redis_;
  std::map<std::string, std::string> env_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Api>> api_;
};

TEST_F(ClusterTest, ThreeNodesStartedAtOnceInstallOnceAndAllServe) {
  StartThree();
  ApiResult status = api_[1]->Get("cluster:status");
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(status.data().at("liveNodes").as_int64(), 3);
  std::set<int64_t> workers;
  for (const auto& n : Nodes(2)) {
    EXPECT_EQ(n.at("state").as_string(), "running");
    EXPECT_TRUE(n.at("live").as_bool());
    workers.insert(n.at("workerId").as_int64());
  }
  EXPECT_EQ(workers.size(), 3u);  // leased worker ids are unique

  // A clean stop leaves the registry (and flushes each node's log, read below).
  for (int i = 1; i <= 3; ++i) ASSERT_EQ(node(i).Stop(), 0);
  auto conn = db::OpenPostgres(pg_.options());
  ASSERT_TRUE(conn.ok());
  auto left = (*conn)->Query("SELECT count(*) FROM slipway_nodes");
  ASSERT_TRUE(left.ok());
  EXPECT_EQ((*left)->Int(0, 0), 0);
  int installers = 0, waited = 0;
  std::string logs;
  for (int i = 1; i <= 3; ++i) {
    std::string out = node(i).process().Stdout();
    if (out.find(" installed ") != std::string::npos) ++installers;
    if (out.find("another node is installing") != std::string::npos) ++waited;
    logs += out;
  }
  EXPECT_EQ(installers, 1) << logs;
  RecordProperty("nodes_that_waited", waited);
}

TEST_F(ClusterTest, ChangesThroughOneNodeAreInForceEverywhereWhenTheCallReturns) {
  StartThree();
  ApiResult created = api_[0]->Post(
      "collections:create", J(R"({"name":"tickets","fields":[{"name":"title","type":"string"}]})"));
  ASSERT_EQ(created.status, 200) << created.body;
  // No sleep: the call returned only after every node applied it.
  for (int i = 2; i <= 3; ++i) {
    ApiResult r =
        api_[i - 1]->Post("tickets:create", json::object{{"title", "via n" + std::to_string(i)}});
    EXPECT_EQ(r.status, 200) << "n" << i << ": " << r.body;
  }
  ApiResult field = api_[2]->Post("collections/tickets/fields:create",
                                  J(R"({"name":"priority","type":"integer"})"));
  ASSERT_EQ(field.status, 200) << field.body;
  EXPECT_EQ(api_[0]->Post("tickets:create", J(R"({"title":"p","priority":3})")).status, 200);

  ASSERT_EQ(AddHello(*api_[0]).status, 200);
  ApiResult enabled = api_[0]->Post("pm:enable?filterByTk=hello");
  ASSERT_EQ(enabled.status, 200) << enabled.body;
  for (int i = 1; i <= 3; ++i) {
    ApiResult ping = api_[i - 1]->Get("hello:ping");
    EXPECT_EQ(ping.status, 200) << "n" << i << ": " << ping.body;
  }
  ASSERT_EQ(api_[1]->Post("pm:disable?filterByTk=hello").status, 200);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(api_[i - 1]->Get("hello:ping").status, 404) << "n" << i;
  // Every node reports the same applied epoch.
  std::set<int64_t> epochs;
  for (const auto& n : Nodes(1)) epochs.insert(n.at("appliedEpoch").as_int64());
  EXPECT_EQ(epochs.size(), 1u);

  // Each kind of change (a plugin, a role, a collection with relations pointing at it) bumps the
  // epoch once, through the one change path, and has been applied by every node on return.
  auto epoch = [&] { return api_[2]->Get("cluster:status").data().at("epoch").as_int64(); };
  auto applied_everywhere = [&](int64_t e, const std::string& what) {
    for (const auto& n : Nodes(3)) {
      EXPECT_EQ(n.at("appliedEpoch").as_int64(), e) << what << " on " << n.at("id");
    }
  };
  int64_t before = epoch();
  ASSERT_EQ(api_[0]->Post("pm:enable?filterByTk=hello").status, 200);
  EXPECT_EQ(epoch(), before + 1);
  applied_everywhere(before + 1, "pm:enable");
  ASSERT_EQ(api_[1]
                ->Post("roles:create", J(R"({"name":"clerk","strategy":{"actions":["view"]}})"))
                .status,
            200);
  EXPECT_EQ(epoch(), before + 2);
  applied_everywhere(before + 2, "roles:create");
  ASSERT_EQ(api_[0]
                ->Post("collections:create", J(R"({"name":"owners","fields":[
                             {"name":"name","type":"string"}]})"))
                .status,
            200);
  ASSERT_EQ(api_[0]
                ->Post("collections/tickets/fields:create",
                       J(R"({"name":"owner","type":"belongsTo","target":"owners"})"))
                .status,
            200);
  ApiResult dropped = api_[1]->Post("collections:destroy?filterByTk=owners");
  ASSERT_EQ(dropped.status, 200) << dropped.body;
  EXPECT_EQ(api_[2]->Get("collections/tickets/fields:get?filterByTk=owner").status, 404);
  EXPECT_EQ(api_[2]->Post("tickets:create", J(R"({"title":"after","owner":1})")).status, 400);
  EXPECT_EQ(api_[2]->Post("tickets:create", J(R"({"title":"after"})")).status, 200);
}

TEST_F(ClusterTest, ANodeThatCannotApplyAChangeTakesItselfOutOfService) {
  StartNode(1);
  StartNode(2);
  TempDir other_disk;
  StartNode(3, SLIPWAY_BIN, other_disk.path() / "storage");  // does not share the packages
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(node(i).WaitHealthy(60s));
  for (int i = 1; i <= 3; ++i) api_.push_back(AdminOn(i));
  ASSERT_EQ(AddHello(*api_[0]).status, 200);
  ApiResult enabled = api_[0]->Post("pm:enable?filterByTk=hello");
  EXPECT_EQ(enabled.status, 200) << enabled.body;  // the nodes that are in service confirmed
  HttpResult health = HttpGet(node(3).port(), "/api/__health_check");
  EXPECT_EQ(health.status, 503);
  EXPECT_NE(health.body.find("hello"), std::string::npos) << health.body;
  EXPECT_EQ(api_[2]->Get("collections:list").status, 503);  // no diverged answers
  EXPECT_EQ(api_[2]->Get("pm:list").status, 200);           // but admins can repair it
  EXPECT_EQ(api_[1]->Get("hello:ping").status, 200);
  // Disabling the plugin brings n3 back.
  ASSERT_EQ(api_[0]->Post("pm:disable?filterByTk=hello").status, 200);
  EXPECT_TRUE(WaitForHealth(node(3).port(), 200, 5s));
}

TEST_F(ClusterTest, KillDuringAnUpgradeLeavesNoHalfMigrationAndAnotherNodeFinishesIt) {
  StartNode(1);
  StartNode(2);
  for (int i = 1; i <= 2; ++i) ASSERT_TRUE(node(i).WaitHealthy(60s));
  for (int i = 1; i <= 2; ++i) api_.push_back(AdminOn(i));

  Node& upgrader = StartNode(3, SLIPWAY_SLOW_BIN);
  // Wait until it is inside the slow migration (it holds the schema lock, in its transaction).
  bool inside = false;
  for (int i = 0; i < 300 && !inside; ++i) {
    HttpResult r = HttpGet(upgrader.port(), "/api/app:getInfo");
    inside = r.body.find("9003-slow") != std::string::npos;
    if (!inside) std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(inside) << upgrader.process().Stdout();
  upgrader.process().Signal(SIGKILL);
  upgrader.process().Wait();

  // Nothing of the upgrade is there: the old nodes still serve the old version.
  ApiResult info = api_[0]->Get("app:getInfo");
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_EQ(info.data().at("schemaVersion").as_string(), SLIPWAY_VERSION);
  EXPECT_EQ(api_[0]->Get("collections:list").status, 200);

  // Started again, a new-version node takes the lock the dead one lost and completes it.
  Node& again = StartNode(3, SLIPWAY_SLOW_BIN);
  ASSERT_TRUE(again.WaitHealthy(60s)) << again.process().Stdout();
  Api fresh(again.port());
  ASSERT_EQ(fresh.SignIn("admin@nocobase.com", "admin123").status, 200);
  EXPECT_EQ(fresh.Get("app:getInfo").data().at("schemaVersion").as_string(), SLIPWAY_NEXT_VERSION);
  // Fencing: the old nodes stop serving a schema newer than themselves.
  for (int i = 1; i <= 2; ++i) {
    HttpResult r;
    for (int k = 0; k < 100; ++k) {
      r = HttpGet(node(i).port(), "/api/app:getInfo");
      if (r.status == 503) break;
      std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(r.status, 503) << "n" << i << ": " << r.body;
    EXPECT_NE(r.body.find("APP_OUTDATED"), std::string::npos) << r.body;
    EXPECT_EQ(HttpGet(node(i).port(), "/api/__health_check").status, 503);
  }
  // The migration ran exactly once.
  auto conn = db::OpenPostgres(pg_.options());
  ASSERT_TRUE(conn.ok());
  auto rs = (*conn)->Query(
      "SELECT count(*) FROM slipway_migrations WHERE name IN ('9001-upgrade-marker', '9003-slow')");
  ASSERT_TRUE(rs.ok());
  EXPECT_EQ((*rs)->Int(0, 0), 2);
  auto marker = (*conn)->Query("SELECT count(*) FROM upgrade_marker");
  ASSERT_TRUE(marker.ok()) << marker.status().ToString();
  EXPECT_EQ((*marker)->Int(0, 0), 1);
}

TEST_F(ClusterTest, RedisRestartedNodesReconnectAndConverge) {
  StartThree();
  ASSERT_TRUE(redis_.Restart());
  // A change made right after the restart reaches every node (sync reconnects; polling covers
  // what was missed) and is confirmed before the call returns.
  ApiResult created = api_[0]->Post("collections:create", J(R"({"name":"after_restart"})"));
  ASSERT_EQ(created.status, 200) << created.body;
  for (int i = 2; i <= 3; ++i)
    EXPECT_EQ(api_[i - 1]->Get("after_restart:list").status, 200) << "n" << i;
  ASSERT_EQ(api_[0]->Post("pm:enable?filterByTk=audit-log").status, 200);
  for (int i = 1; i <= 3; ++i)
    EXPECT_EQ(api_[i - 1]->Get("auditLogs:list").status, 200) << "n" << i;
  // The bus reports the reconnect.
  bool reconnected = false;
  for (int k = 0; k < 100 && !reconnected; ++k) {
    ApiResult s = api_[1]->Get("cluster:status");
    if (s.status != 200) continue;
    const json::object& bus = s.data().at("adapters").at("bus").as_object();
    reconnected = bus.at("connected").as_bool() && bus.at("reconnects").as_int64() > 0;
    if (!reconnected) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(reconnected) << api_[1]->Get("cluster:status").body;
  // Every node can issue ids under distinct worker ids (the leases are in the database; Redis
  // keeping them is cluster_store_test.cc's).
  std::set<int64_t> workers;
  for (int k = 0; k < 50; ++k) {
    workers.clear();
    bool settled = true;
    for (int i = 1; i <= 3; ++i) {
      ApiResult s = api_[i - 1]->Get("cluster:status");
      const json::object& ids = s.data().at("adapters").at("workerIds").as_object();
      settled = settled && !ids.at("lost").as_bool() && ids.at("id").as_int64() >= 0;
      workers.insert(ids.at("id").as_int64());
    }
    if (settled && workers.size() == 3) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(workers.size(), 3u);
  ApiResult created_after = api_[2]->Post("after_restart:create", json::object{});
  EXPECT_EQ(created_after.status, 200) << created_after.body;
}

TEST_F(ClusterTest, ANodeStartedWhileRedisIsDownWaitsAndJoinsOnceItIsBack) {
  env_["LOCK_ADAPTER_DEFAULT"] = "redis";  // its worker-id lease is in Redis
  const int port = redis_.port();
  ASSERT_TRUE(redis_.Stop());
  Node& n = StartNode(1);
  HttpResult health = WaitForHealthSaying(n.port(), 503, "waiting to join the cluster", 10s);
  EXPECT_EQ(health.status, 503);
  EXPECT_NE(health.body.find("waiting to join the cluster"), std::string::npos) << health.body;
  ASSERT_TRUE(redis_.Start());
  ASSERT_EQ(redis_.port(), port);
  ASSERT_TRUE(n.WaitHealthy(30s)) << n.process().Stdout();
  api_.push_back(AdminOn(1));
  EXPECT_EQ(Nodes(1).size(), 1u);
}

TEST_F(ClusterTest, ThreeNodesCreatingInParallelNeverCollide) {
  StartThree();
  ASSERT_EQ(api_[0]
                ->Post("collections:create", J(R"({"name":"events","autoGenId":false,"fields":[
      {"name":"id","type":"snowflakeId","primaryKey":true},{"name":"n","type":"integer"}]})"))
                .status,
            200);
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  constexpr int kPerThread = 150;
  for (int i = 1; i <= 3; ++i) {
    for (int t = 0; t < 3; ++t) {
      writers.emplace_back([&, i, t] {
        Api w(node(i).port());
        w.set_token(api_[0]->token());
        for (int k = 0; k < kPerThread; ++k) {
          if (w.Post("events:create", json::object{{"n", i * 1000 + t * 100 + k}}).status != 200)
            failures++;
        }
      });
    }
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(failures.load(), 0);
  ApiResult all = api_[1]->Get("events:list?paginate=false&fields=id");
  ASSERT_EQ(all.status, 200);
  std::set<std::string> ids;
  for (const auto& e : all.data().as_array()) ids.insert(std::string(e.at("id").as_string()));
  EXPECT_EQ(ids.size(), static_cast<size_t>(3 * 3 * kPerThread));
}

TEST_F(ClusterTest, MaintenanceGatesEveryNodeWithinASecond) {
  StartThree();
  auto started = Clock::now();
  ApiResult on = api_[0]->Post("maintenance:on", J(R"({"message":"upgrading the warehouse"})"));
  ASSERT_EQ(on.status, 200) << on.body;
  for (int i = 1; i <= 3; ++i) {
    ApiResult r = api_[i - 1]->Get("collections:list");
    EXPECT_EQ(r.status, 503) << "n" << i << ": " << r.body;
    EXPECT_NE(r.body.find("\"maintaining\":true"), std::string::npos);
    EXPECT_NE(r.body.find("upgrading the warehouse"), std::string::npos);
    EXPECT_FALSE(r.headers["retry-after"].empty());
    EXPECT_EQ(HttpGet(node(i).port(), "/api/__health_check").status, 200);  // in rotation, gated
    EXPECT_EQ(api_[i - 1]->Get("maintenance:status").status, 200);          // admins operate
  }
  EXPECT_LT(Clock::now() - started, 1s);
  ASSERT_EQ(api_[1]->Post("maintenance:off").status, 200);
  for (int i = 1; i <= 3; ++i)
    EXPECT_EQ(api_[i - 1]->Get("collections:list").status, 200) << "n" << i;

  // The same from the command line, from "another machine".
  std::vector<std::string> argv = {SLIPWAY_BIN, "maintenance", "on", "--message", "cli says wait"};
  auto r = RunCommand(argv, env_, dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (int i = 1; i <= 3; ++i)
    EXPECT_EQ(api_[i - 1]->Get("collections:list").status, 503) << "n" << i;
  auto status = RunCommand({SLIPWAY_BIN, "cluster", "status"}, env_, dir_.path());
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("state maintenance"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("n2"), std::string::npos);
  ASSERT_EQ(RunCommand({SLIPWAY_BIN, "maintenance", "off"}, env_, dir_.path()).exit_code, 0);
  for (int i = 1; i <= 3; ++i)
    EXPECT_EQ(api_[i - 1]->Get("collections:list").status, 200) << "n" << i;
}

// Issue 11: a field created and destroyed through one node while clients on all three write and
// read the same collection: no request fails, no value is wrong.
TEST_F(ClusterTest, SchemaChurnThroughThreeNodesNeverBreaksRequestsInFlight) {
  StartThree();
  ApiResult made = api_[0]->Post("collections:create", J(R"({"name":"churned","fields":[
      {"name":"title","type":"string"}]})"));
  ASSERT_EQ(made.status, 200) << made.body;
  ChurnResult r = RunSchemaChurn({node(1).port(), node(2).port(), node(3).port()}, api_[0]->token(),
                                 "churned", 4s);
  EXPECT_EQ(r.failed, 0) << Describe(r);
  EXPECT_EQ(r.changes_failed, 0) << Describe(r);
  EXPECT_GT(r.changes, 4) << Describe(r);
  RecordProperty("churn", Describe(r));
  // Every removal's column is gone once the churn stopped.
  auto conn = db::OpenPostgres(pg_.options());
  ASSERT_TRUE(conn.ok());
  auto pending = (*conn)->Query("SELECT count(*) FROM slipway_pending_drops");
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  EXPECT_EQ((*pending)->Int(0, 0), 0);
}

// Issue 11: a node frozen past NODE_LIVE_TIMEOUT while a collection was created elsewhere answers
// 503 until it has caught up, never 404 with the old schema.
TEST_F(ClusterTest, AFrozenNodeNeverAnswersWithTheOldSchemaWhenItResumes) {
  StartThree();
  ASSERT_TRUE(node(3).process().Signal(SIGSTOP));
  std::this_thread::sleep_for(2500ms);  // NODE_LIVE_TIMEOUT is 2000 here
  ApiResult made = api_[0]->Post("collections:create", J(R"({"name":"arrived","fields":[
      {"name":"title","type":"string"}]})"));
  ASSERT_EQ(made.status, 200) << made.body;  // confirmed without the frozen node
  ASSERT_EQ(api_[0]->Post("arrived:create", J(R"({"title":"first"})")).status, 200);
  ASSERT_TRUE(node(3).process().Signal(SIGCONT));
  std::map<int, int> seen;
  auto deadline = Clock::now() + 5s;
  bool served = false;
  while (Clock::now() < deadline && !served) {
    ApiResult r = api_[2]->Get("arrived:list");
    ++seen[r.status];
    ASSERT_TRUE(r.status == 200 || r.status == 503) << r.status << " " << r.body;
    if (r.status == 503) {
      EXPECT_FALSE(r.headers["retry-after"].empty());
    } else {
      ASSERT_EQ(r.data().as_array().size(), 1u) << r.body;
      served = true;
    }
  }
  EXPECT_TRUE(served);
  std::string statuses;
  for (auto [status, n] : seen) statuses += std::to_string(status) + "x" + std::to_string(n) + " ";
  RecordProperty("statuses_after_resume", statuses);
}

// Issue 11: a second process with a NODE_ID that a live node has is refused at start, clearly,
// and the first one keeps its registry row.
TEST_F(ClusterTest, ASecondProcessWithTheSameNodeIdIsRefused) {
  StartNode(1);
  ASSERT_TRUE(node(1).WaitHealthy(60s)) << node(1).process().Stdout();
  auto env = env_;
  env["NODE_ID"] = "n1";
  Node twin(NodeOptions{.storage = dir_.path() / "twin", .env = env}, "twin");
  int exit_code = twin.process().Wait(20s);
  EXPECT_NE(exit_code, 0);
  EXPECT_NE(exit_code, -1) << "the twin is still running";
  std::string out = twin.process().Stdout() + twin.process().Stderr();
  EXPECT_NE(out.find("NODE_ID 'n1' is in use by another live process"), std::string::npos) << out;
  EXPECT_TRUE(node(1).WaitHealthy(1s));
  api_.push_back(AdminOn(1));
  json::array nodes = Nodes(1);
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].at("address").as_string(), "127.0.0.1:" + std::to_string(node(1).port()));

  // A restart with the same NODE_ID after a crash takes the row over once it has gone quiet.
  ASSERT_TRUE(node(1).process().Signal(SIGKILL));
  node(1).process().Wait(5s);
  StartNode(1);
  EXPECT_TRUE(node(1).WaitHealthy(20s)) << node(1).process().Stdout();
}

// Issue 11: three nodes behind a real HAProxy restarted one after the other under a steady
// client load: no client sees an error, because each node fails its health check for
// SHUTDOWN_DELAY before it stops accepting.
TEST_F(ClusterTest, RollingRestartBehindHaproxyCostsNoClientAnError) {
  env_["SHUTDOWN_DELAY"] = "1000";  // two failed checks at 200 ms, with room
  StartThree();
  ASSERT_EQ(api_[0]
                ->Post("collections:create", J(R"({"name":"steady","fields":[
      {"name":"title","type":"string"}]})"))
                .status,
            200);
  ASSERT_EQ(api_[0]->Post("steady:create", J(R"({"title":"one"})")).status, 200);
  int lb_port = FreePort();
  std::string servers;
  for (int i = 1; i <= 3; ++i) {
    servers += "  server n" + std::to_string(i) + " 127.0.0.1:" + std::to_string(node(i).port()) +
               " check inter 200ms fall 2 rise 2\n";
  }
  std::filesystem::path cfg = dir_.path() / "haproxy.cfg";
  {
    std::ofstream out(cfg);
    out << "global\n  maxconn 1024\ndefaults\n  mode http\n  timeout connect 2s\n"
           "  timeout client 30s\n  timeout server 30s\n  retries 3\n  option redispatch 1\n"
           "  retry-on conn-failure empty-response response-timeout\n"
           "frontend web\n  bind 127.0.0.1:"
        << lb_port
        << "\n  default_backend nodes\nbackend nodes\n  balance roundrobin\n"
           "  option httpchk GET /api/__health_check\n  http-check expect status 200\n"
        << servers;
  }
  Process haproxy({"/usr/sbin/haproxy", "-f", cfg.string(), "-db"}, {}, dir_.path() / "haproxy",
                  "haproxy");
  ASSERT_TRUE(WaitForHealth(lb_port, 200, 10s)) << haproxy.Stderr();
  std::this_thread::sleep_for(1s);  // every server UP (rise 2)

  std::atomic<bool> stop{false};
  std::atomic<int> requests{0}, errors{0};
  std::mutex mu;
  std::vector<std::string> samples;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      Api api(lb_port);
      api.set_token(api_[0]->token());
      while (!stop.load()) {
        ApiResult r = api.Get("steady:list?pageSize=1");
        ++requests;
        if (r.status != 200) {
          ++errors;
          std::lock_guard lock(mu);
          if (samples.size() < 5) samples.push_back(std::to_string(r.status) + " " + r.body);
        }
      }
    });
  }
  for (int i = 1; i <= 3; ++i) {
    int port = node(i).port();
    ASSERT_EQ(node(i).Stop(), 0) << node(i).process().Stdout();
    EXPECT_NE(node(i).process().Stdout().find("leaving"), std::string::npos);
    StartNode(i, DefaultBinary(), {}, port);  // where HAProxy expects it
    ASSERT_TRUE(node(i).WaitHealthy(30s)) << node(i).process().Stdout();
    std::this_thread::sleep_for(700ms);  // back in HAProxy's rotation (rise 2 at 200 ms)
  }
  stop = true;
  for (auto& t : clients) t.join();
  haproxy.Signal(SIGTERM);
  std::string why;
  for (const auto& s : samples) why += "\n  " + s.substr(0, 200);
  EXPECT_EQ(errors.load(), 0) << requests.load() << " requests" << why;
  EXPECT_GT(requests.load(), 100);
  RecordProperty("requests", requests.load());
}

}  // namespace
}  // namespace slipway::testing
