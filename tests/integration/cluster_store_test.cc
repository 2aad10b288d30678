// Where a cluster keeps what makes it one (issue 11, items 4 and 5), with real processes: three
// `slipway serve` nodes on one PostgreSQL database, without Redis (the database keeps the locks
// and worker-id leases and carries the sync signal over LISTEN/NOTIFY), and with a Redis that
// restarts empty or is flushed while the nodes create records.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include "api_client.h"
#include "node.h"
#include "test_database.h"
#include "test_redis.h"

namespace slipway::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

json::value J(std::string_view text) { return json::parse(text); }

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Three nodes on one database; the environment is the test's to choose.
class StoreCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pg_.Create());
    env_ = PostgresEnv(pg_.options());
    env_.insert({{"APP_KEY", "cluster-store-test-key-0123456789abcdef"},
                 {"HEARTBEAT_INTERVAL", "300"},
                 {"NODE_LIVE_TIMEOUT", "2000"}});
  }
  void TearDown() override {
    for (auto& n : nodes_) {
      if (n && n->process().running()) n->Stop();
    }
  }
  void StartThree() {
    for (int i = 1; i <= 3; ++i) {
      auto env = env_;
      env["NODE_ID"] = "n" + std::to_string(i);
      nodes_.push_back(std::make_unique<Node>(
          NodeOptions{.storage = dir_.path() / "storage", .env = env}, "n" + std::to_string(i)));
    }
    for (auto& n : nodes_) {
      ASSERT_TRUE(n->WaitHealthy(60s)) << n->process().Stdout() << n->process().Stderr();
    }
    for (auto& n : nodes_) {
      api_.push_back(std::make_unique<Api>(n->port()));
      ASSERT_EQ(api_.back()->SignIn("admin@nocobase.com", "admin123").status, 200);
    }
  }
  Node& node(int i) { return *nodes_[i - 1]; }
  Api& api(int i) { return *api_[i - 1]; }
  json::object Adapters(int i) {
    ApiResult s = api(i).Get("cluster:status");
    EXPECT_EQ(s.status, 200) << s.body;
    return s.status == 200 ? s.data().at("adapters").as_object() : json::object{};
  }
  // Waits until every node can issue ids (a lease from a store that can forget waits a TTL).
  bool AllIssueIds(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      bool all = true;
      for (int i = 1; i <= 3; ++i) {
        all = all && !Adapters(i).at("workerIds").at("lost").as_bool();
      }
      if (all) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  void CreateEvents() {
    ApiResult r = api(1).Post("collections:create", J(R"({"name":"events","autoGenId":false,
        "fields":[{"name":"id","type":"snowflakeId","primaryKey":true},
                  {"name":"n","type":"integer"}]})"));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // Rows of events, and how many distinct ids they have, straight from the database.
  std::pair<int64_t, int64_t> CountEvents() {
    auto conn = db::OpenPostgres(pg_.options());
    EXPECT_TRUE(conn.ok());
    if (!conn.ok()) return {-1, -1};
    auto rs = (*conn)->Query("SELECT count(*), count(DISTINCT id) FROM events");
    EXPECT_TRUE(rs.ok()) << rs.status().ToString();
    if (!rs.ok()) return {-1, -1};
    return {(*rs)->Int(0, 0), (*rs)->Int(0, 1)};
  }

  TempDir dir_;
  TestDatabase pg_;
  std::map<std::string, std::string> env_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Api>> api_;
};

// What a writer saw: the time each create was sent, its status, and the ids it was given.
struct Writes {
  struct Answer {
    Clock::time_point sent;
    int status;
    std::string error;
  };
  std::mutex mu;
  std::vector<Answer> answers;
  std::vector<std::string> ids;
};

// Creates events through every node (`per_node` threads each) until `stop` is set.
std::vector<std::thread> StartWriters(std::vector<int> ports, const std::string& token,
                                      int per_node, std::atomic<bool>& stop, Writes& out) {
  std::vector<std::thread> writers;
  for (int port : ports) {
    for (int t = 0; t < per_node; ++t) {
      writers.emplace_back([&, port] {
        Api w(port);
        w.set_token(token);
        int k = 0;
        while (!stop.load()) {
          auto sent = Clock::now();
          ApiResult r = w.Post("events:create", json::object{{"n", ++k}});
          std::lock_guard lock(out.mu);
          out.answers.push_back({sent, r.status, r.status == 200 ? "" : r.body});
          if (r.status == 200) out.ids.push_back(std::string(r.data().at("id").as_string()));
        }
      });
    }
  }
  return writers;
}

// (a) Three nodes on PostgreSQL alone. The epoch poll is set to a minute, so every change below
// that is in force on all nodes when its call returns got there by LISTEN/NOTIFY.
class PostgresOnlyClusterTest : public StoreCluster {};

TEST_F(PostgresOnlyClusterTest, IsOneClusterWithoutRedis) {
  env_["SYNC_POLL_INTERVAL"] = "60000";
  StartThree();
  std::set<int64_t> workers;
  for (int i = 1; i <= 3; ++i) {
    json::object a = Adapters(i);
    EXPECT_EQ(a.at("bus").at("backend"), "postgres") << json::serialize(a);
    EXPECT_EQ(a.at("lock").at("backend"), "postgres");
    EXPECT_EQ(a.at("workerIds").at("backend"), "postgres");
    EXPECT_EQ(a.at("workerIds").at("lost"), false) << json::serialize(a);
    workers.insert(a.at("workerIds").at("id").as_int64());
  }
  EXPECT_EQ(workers.size(), 3u) << "each node leased its own worker id";

  // A schema change through one node is in force on the others when the call returns.
  auto started = Clock::now();
  CreateEvents();
  EXPECT_LT(Clock::now() - started, 3s);
  for (int i = 2; i <= 3; ++i) EXPECT_EQ(api(i).Get("events:list").status, 200) << "n" << i;
  ApiResult field =
      api(3).Post("collections/events/fields:create", J(R"({"name":"tag","type":"string"})"));
  ASSERT_EQ(field.status, 200) << field.body;
  EXPECT_EQ(api(1).Post("events:create", J(R"({"n":0,"tag":"x"})")).status, 200);

  // A plugin enabled through one node answers on every node when the call returns.
  ASSERT_EQ(
      api(1)
          .Upload("pm:add", ReadFile(std::string(SLIPWAY_HELLO_PACKAGE_DIR) + "/hello-1.0.0.tgz"),
                  "hello-1.0.0.tgz")
          .status,
      200);
  started = Clock::now();
  ApiResult enabled = api(1).Post("pm:enable?filterByTk=hello");
  ASSERT_EQ(enabled.status, 200) << enabled.body;
  EXPECT_LT(Clock::now() - started, 5s);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(api(i).Get("hello:ping").status, 200) << "n" << i;

  // Maintenance gates every node, from a node and from the command line alike.
  ASSERT_EQ(api(2).Post("maintenance:on", J(R"({"message":"pg only"})")).status, 200);
  for (int i = 1; i <= 3; ++i) {
    ApiResult r = api(i).Get("events:list");
    EXPECT_EQ(r.status, 503) << "n" << i << ": " << r.body;
    EXPECT_NE(r.body.find("pg only"), std::string::npos) << r.body;
  }
  ASSERT_EQ(api(3).Post("maintenance:off").status, 200);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(api(i).Get("events:list").status, 200) << "n" << i;
  auto cli = RunCommand({SLIPWAY_BIN, "maintenance", "on", "--message", "from the cli"}, env_,
                        dir_.path(), 20s);
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(api(i).Get("events:list").status, 503) << "n" << i;
  ASSERT_EQ(RunCommand({SLIPWAY_BIN, "maintenance", "off"}, env_, dir_.path(), 20s).exit_code, 0);

  // Creates through all three nodes at once: every id distinct.
  std::atomic<bool> stop{false};
  Writes writes;
  auto writers = StartWriters({node(1).port(), node(2).port(), node(3).port()}, api(1).token(), 3,
                              stop, writes);
  std::this_thread::sleep_for(2s);
  stop = true;
  for (auto& w : writers) w.join();
  int failed = 0;
  for (const auto& a : writes.answers) failed += a.status != 200;
  EXPECT_EQ(failed, 0);
  EXPECT_GT(writes.ids.size(), 300u);
  std::set<std::string> distinct(writes.ids.begin(), writes.ids.end());
  EXPECT_EQ(distinct.size(), writes.ids.size()) << "a duplicate id was issued";
  auto [rows, ids] = CountEvents();
  EXPECT_EQ(rows, ids);
  EXPECT_EQ(rows, static_cast<int64_t>(writes.ids.size()) + 1);
  std::cout << "[ figures  ] " << writes.ids.size() << " creates through 3 nodes in 2 s\n";

  // A clean stop: one node installed; every node left the registry and gave its worker id back.
  std::string logs;
  int installers = 0;
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(node(i).Stop(), 0);
    std::string out = node(i).process().Stdout();
    installers += out.find(" installed ") != std::string::npos;
    logs += out;
  }
  EXPECT_EQ(installers, 1) << logs;
  auto conn = db::OpenPostgres(pg_.options());
  ASSERT_TRUE(conn.ok());
  auto left = (*conn)->Query(
      "SELECT (SELECT count(*) FROM slipway_nodes), (SELECT count(*) FROM slipway_worker_ids "
      "WHERE expires_ms > CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT))");
  ASSERT_TRUE(left.ok()) << left.status().ToString();
  EXPECT_EQ((*left)->Int(0, 0), 0);
  EXPECT_EQ((*left)->Int(0, 1), 0);
}

// (b) Redis restarted empty, then flushed, while three nodes create records.
class RedisRestartTest : public StoreCluster {
 protected:
  void SetUp() override {
    StoreCluster::SetUp();
    ASSERT_TRUE(redis_.Start());
    env_["REDIS_URL"] = redis_.url();
    env_["SYNC_POLL_INTERVAL"] = "300";
  }
  // FLUSHALL, spoken in RESP on a connection of its own.
  void Flush() {
    RawConnection conn(redis_.port());
    ASSERT_TRUE(conn.connected());
    ASSERT_TRUE(conn.Send("*1\r\n$8\r\nFLUSHALL\r\n"));
    std::string reply;
    for (int i = 0; i < 100 && reply.find("\r\n") == std::string::npos; ++i) {
      reply += conn.ReadAll(20ms);
    }
    ASSERT_EQ(reply.substr(0, 3), "+OK") << reply;
  }
  TestRedis redis_;
};

// By default the leases are in the database: Redis going away costs the creates nothing, and
// nodes started while it is down serve at once.
TEST_F(RedisRestartTest, LeasesInTheDatabaseOutliveRedis) {
  const int port = redis_.port();
  ASSERT_TRUE(redis_.Stop());
  StartThree();
  json::object adapters = Adapters(1);
  EXPECT_EQ(adapters.at("workerIds").at("backend"), "postgres");
  EXPECT_EQ(adapters.at("workerIds").at("lost"), false);
  EXPECT_EQ(adapters.at("bus").at("connected"), false);
  CreateEvents();  // confirmed by polling the epoch, with no sync signal
  ASSERT_TRUE(redis_.Start());
  ASSERT_EQ(redis_.port(), port);
  std::atomic<bool> stop{false};
  Writes writes;
  auto writers = StartWriters({node(1).port(), node(2).port(), node(3).port()}, api(1).token(), 2,
                              stop, writes);
  std::this_thread::sleep_for(500ms);
  ASSERT_TRUE(redis_.Restart());
  std::this_thread::sleep_for(500ms);
  Flush();
  std::this_thread::sleep_for(500ms);
  stop = true;
  for (auto& w : writers) w.join();
  for (const auto& a : writes.answers) EXPECT_EQ(a.status, 200) << a.error;
  std::set<std::string> distinct(writes.ids.begin(), writes.ids.end());
  EXPECT_EQ(distinct.size(), writes.ids.size()) << "a duplicate id was issued";
  auto [rows, ids] = CountEvents();
  EXPECT_EQ(rows, ids);
  // The sync signal found Redis once it was there (its reconnect backoff is up to 5 s).
  bool connected = false;
  for (int k = 0; k < 100 && !connected; ++k) {
    connected = Adapters(1).at("bus").at("connected").as_bool();
    if (!connected) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(connected) << json::serialize(Adapters(1));
}

// With LOCK_ADAPTER_DEFAULT=redis the leases are in Redis, which forgets them: a node stops
// issuing ids under a lease it cannot confirm, takes one again as soon as Redis answers (or, after
// a FLUSHALL, at its next renewal), and waits one TTL (2 s here) before using it. No duplicate,
// no 500, and no 503 once that is over. Redis is down longer than a lease's deadline, so each
// node's lease lapses while its Redis client backs off between reconnection attempts; the
// lease must come back as soon as Redis does, not when the client's backoff (up to 5 s) ends.
TEST_F(RedisRestartTest, LeasesInRedisAreNeverUsedPastTheirConfirmation) {
  constexpr auto kTtl = 2000ms;
  // The TTL, plus the time to find the lease gone (a renewal every TTL/5) and lease again.
  constexpr auto kSettle = kTtl + kTtl / 5 + 800ms;
  env_["LOCK_ADAPTER_DEFAULT"] = "redis";
  env_["WORKER_ID_TTL"] = std::to_string(kTtl.count());
  StartThree();
  EXPECT_EQ(Adapters(1).at("workerIds").at("backend"), "redis");
  ASSERT_TRUE(AllIssueIds(kTtl + 3s)) << json::serialize(Adapters(1));
  CreateEvents();

  std::atomic<bool> stop{false};
  Writes writes;
  auto writers = StartWriters({node(1).port(), node(2).port(), node(3).port()}, api(1).token(), 2,
                              stop, writes);
  std::this_thread::sleep_for(500ms);
  auto restart = Clock::now();
  const int port = redis_.port();
  ASSERT_TRUE(redis_.Stop());
  std::this_thread::sleep_for(kTtl + 200ms);  // past every lease's deadline (TTL - TTL/5)
  ASSERT_TRUE(redis_.Start());                // empty: nothing is persisted
  ASSERT_EQ(redis_.port(), port);
  auto back = Clock::now();
  std::this_thread::sleep_for(kSettle + 300ms);
  auto flush = Clock::now();
  Flush();
  std::this_thread::sleep_for(kSettle + 300ms);
  stop = true;
  for (auto& w : writers) w.join();

  int ok = 0, unavailable = 0;
  Clock::time_point last_503_after_restart{}, last_503_after_flush{};
  for (const auto& a : writes.answers) {
    if (a.status == 200) {
      ++ok;
      continue;
    }
    ASSERT_EQ(a.status, 503) << a.error;
    EXPECT_NE(a.error.find("WORKER_ID_UNAVAILABLE"), std::string::npos) << a.error;
    ++unavailable;
    if (a.sent < flush) {
      last_503_after_restart = std::max(last_503_after_restart, a.sent);
      EXPECT_LT(a.sent, back + kSettle)
          << "503 " << Ms(a.sent - back) << " ms after Redis was back";
    } else {
      last_503_after_flush = std::max(last_503_after_flush, a.sent);
      EXPECT_LT(a.sent, flush + kSettle) << "503 " << Ms(a.sent - flush) << " ms after FLUSHALL";
    }
  }
  std::set<std::string> distinct(writes.ids.begin(), writes.ids.end());
  EXPECT_EQ(distinct.size(), writes.ids.size()) << "a duplicate id was issued";
  auto [rows, ids] = CountEvents();
  EXPECT_EQ(rows, ids);
  EXPECT_GT(ok, 100);
  std::cout << "[ figures  ] " << ok << " creates, " << unavailable
            << " answered 503; Redis was down " << Ms(back - restart) << " ms; last 503 sent "
            << (last_503_after_restart == Clock::time_point{} ? 0.0
                                                              : Ms(last_503_after_restart - back))
            << " ms after Redis was back; last 503 after FLUSHALL sent "
            << (last_503_after_flush == Clock::time_point{} ? 0.0
                                                            : Ms(last_503_after_flush - flush))
            << " ms after it (lease TTL " << kTtl.count() << " ms)\n";
}

}  // namespace
}  // namespace slipway::testing
