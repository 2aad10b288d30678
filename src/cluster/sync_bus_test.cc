#include "cluster/sync_bus.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <memory>
#include <mutex>
#include <vector>

#include "cluster/cluster_test_util.h"
#include "cluster/database/postgres_sync_bus.h"
#include "cluster/memory/memory_sync_bus.h"
#include "cluster/redis/redis_sync_bus.h"
#include "cluster/sync_envelope.h"
#include "core/logging.h"
#include "test_redis.h"

namespace slipway::cluster {
namespace {

using namespace std::chrono_literals;
using slipway::testing::TestRedis;
using testing::Backend;
using testing::Eventually;

// A channel name no other test uses, short enough for PostgreSQL (63 bytes with the prefix).
std::string UniqueName(const std::string& base) {
  static int counter = 0;
  return base + "-" + std::to_string(++counter) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() %
                        1'000'000'000);
}
namespace json = boost::json;

// What a node's handler saw, in order.
// Declared before the buses that deliver into it, so that it outlives their threads.
class Inbox {
 public:
  SyncBus::Handler Handler() {
    return [this](const json::value& v) {
      std::lock_guard lock(mu_);
      messages_.push_back(v);
    };
  }
  std::vector<json::value> messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }
  size_t size() const { return messages().size(); }
  bool Has(const json::value& v) const {
    for (const auto& m : messages()) {
      if (m == v) return true;
    }
    return false;
  }

 private:
  mutable std::mutex mu_;
  std::vector<json::value> messages_;
};

redis::RedisSyncBusOptions FastOptions() {
  redis::RedisSyncBusOptions o;
  o.backoff_initial = 20ms;
  o.backoff_max = 200ms;
  return o;
}

database::PostgresSyncBusOptions FastPostgresOptions() {
  database::PostgresSyncBusOptions o;
  o.backoff_initial = 20ms;
  o.backoff_max = 200ms;
  return o;
}

class SyncBusTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kRedis) {
      ASSERT_TRUE(TestRedis::Shared().Start());
    }
    if (GetParam() == Backend::kPostgres) {
      db_ = std::make_unique<testing::ClusterDatabase>(db::Dialect::kPostgres);
      ASSERT_TRUE(db_->Create());
    }
    hub_ = std::make_shared<memory::MemorySyncHub>();
  }

  std::unique_ptr<SyncBus> MakeBus(const std::string& node) {
    switch (GetParam()) {
      case Backend::kMemory:
        return std::make_unique<memory::MemorySyncBus>(node, hub_);
      case Backend::kRedis:
        return std::make_unique<redis::RedisSyncBus>(
            *redis::ParseRedisUrl(TestRedis::Shared().url()), node, FastOptions());
      default:
        return std::make_unique<database::PostgresSyncBus>(*db_->postgres(), db_->pool(), node,
                                                           FastPostgresOptions());
    }
  }

  // Publishes raw bytes on `channel`, as a foreign or broken publisher would.
  void InjectRaw(const std::string& channel, const std::string& payload) {
    if (GetParam() == Backend::kMemory) {
      hub_->Deliver(channel, payload);
    } else if (GetParam() == Backend::kRedis) {
      auto client = testing::ClientFor(TestRedis::Shared());
      ASSERT_TRUE(client->Call({"PUBLISH", "slipway:" + channel, payload}).ok());
    } else {
      auto conn = db_->pool().Acquire();
      ASSERT_TRUE(conn.ok());
      ASSERT_TRUE((*conn)->Exec("SELECT pg_notify($1, $2)", {"slipway:" + channel, payload}).ok());
    }
  }

  static bool Connected(const SyncBus& bus) { return bus.status().connected; }

  std::unique_ptr<testing::ClusterDatabase> db_;  // Postgres: outlives the buses of a test
  std::shared_ptr<memory::MemorySyncHub> hub_;
};

TEST_P(SyncBusTest, EachNodeGetsTheOthersMessagesNeverItsOwn) {
  std::string channel = UniqueName("sync");
  Inbox in_a, in_b;
  auto a = MakeBus("node-a");
  auto b = MakeBus("node-b");
  a->Subscribe(channel, in_a.Handler());
  b->Subscribe(channel, in_b.Handler());
  a->Start();
  b->Start();
  ASSERT_TRUE(Eventually([&] { return Connected(*a) && Connected(*b); }));
  std::string backend = testing::BackendLabel(GetParam());
  std::transform(backend.begin(), backend.end(), backend.begin(), ::tolower);
  EXPECT_EQ(a->status().backend, backend);

  json::value from_a = {{"type", "epoch"}, {"epoch", 7}, {"nested", {1, "two", nullptr}}};
  ASSERT_TRUE(a->Publish(channel, from_a).ok());
  ASSERT_TRUE(Eventually([&] { return in_b.size() == 1; }));
  EXPECT_EQ(in_b.messages()[0], from_a);

  // b answers after it got a's message; once a has b's answer, a's own message (sent earlier on
  // the same path) would have arrived before it had it not been skipped.
  json::value from_b = {{"type", "ack"}};
  ASSERT_TRUE(b->Publish(channel, from_b).ok());
  ASSERT_TRUE(Eventually([&] { return in_a.size() >= 1; }));
  EXPECT_EQ(in_a.messages()[0], from_b);  // not its own, which would have come first
  ASSERT_EQ(in_a.size(), 1u);
  EXPECT_EQ(in_b.size(), 1u);
}

TEST_P(SyncBusTest, DeliversOnlyTheSubscribedChannelsAndLateSubscriptions) {
  std::string x = UniqueName("x"), y = UniqueName("y"), late = UniqueName("late");
  Inbox in_x, in_y, in_late;
  auto a = MakeBus("node-a");
  auto b = MakeBus("node-b");
  b->Subscribe(x, in_x.Handler());
  b->Start();
  ASSERT_TRUE(Eventually([&] { return Connected(*b); }));
  b->Subscribe(y, in_y.Handler());
  b->Subscribe(late, in_late.Handler());
  // A subscription made after Start takes effect shortly; probe until it does.
  ASSERT_TRUE(Eventually([&] {
    (void)a->Publish(late, json::value("probe"));
    return in_late.size() > 0;
  }));
  ASSERT_TRUE(a->Publish(y, json::value("for y")).ok());
  ASSERT_TRUE(a->Publish(x, json::value("for x")).ok());
  // Markers sent after them: once they are in, anything else sent earlier would be too.
  ASSERT_TRUE(a->Publish(x, json::value("end")).ok());
  ASSERT_TRUE(a->Publish(y, json::value("end")).ok());
  ASSERT_TRUE(Eventually([&] { return in_x.size() >= 2 && in_y.size() >= 2; }));
  EXPECT_EQ(in_x.messages(), (std::vector<json::value>{json::value("for x"), json::value("end")}));
  EXPECT_EQ(in_y.messages(), (std::vector<json::value>{json::value("for y"), json::value("end")}));
}

TEST_P(SyncBusTest, DropsMalformedMessagesAndKeepsGoing) {
  std::string channel = UniqueName("sync");
  Inbox in_b;
  auto a = MakeBus("node-a");
  auto b = MakeBus("node-b");
  b->Subscribe(channel, in_b.Handler());
  b->Start();
  ASSERT_TRUE(Eventually([&] { return Connected(*b); }));
  InjectRaw(channel, "not json at all");
  InjectRaw(channel, R"({"from":"x","body":1})");       // no ts
  InjectRaw(channel, R"({"from":7,"ts":1,"body":1})");  // from is not a string
  InjectRaw(channel, R"({"from":"x","ts":1})");         // no body
  InjectRaw(channel, R"([1,2,3])");
  InjectRaw(channel, R"({"from":"foreign","ts":1,"body":"ok"})");  // well-formed, foreign
  ASSERT_TRUE(a->Publish(channel, json::value("last")).ok());
  ASSERT_TRUE(Eventually([&] { return in_b.size() == 2; }));
  EXPECT_EQ(in_b.messages(), (std::vector<json::value>{json::value("ok"), json::value("last")}));
}

TEST_P(SyncBusTest, AHandlerThatThrowsDoesNotStopDelivery) {
  std::string channel = UniqueName("sync");
  Inbox in_b;
  auto a = MakeBus("node-a");
  auto b = MakeBus("node-b");
  b->Subscribe(channel, [](const json::value&) { throw std::runtime_error("boom"); });
  b->Subscribe(channel, in_b.Handler());
  b->Start();
  ASSERT_TRUE(Eventually([&] { return Connected(*b); }));
  ASSERT_TRUE(a->Publish(channel, json::value(1)).ok());
  ASSERT_TRUE(a->Publish(channel, json::value(2)).ok());
  EXPECT_TRUE(Eventually([&] { return in_b.size() == 2; }));
}

TEST_P(SyncBusTest, StopsPromptlyAndDeliversNothingAfterwards) {
  std::string channel = UniqueName("sync");
  Inbox in_b, in_c;
  auto a = MakeBus("node-a");
  auto b = MakeBus("node-b");
  auto c = MakeBus("node-c");  // a witness that the message went out
  b->Subscribe(channel, in_b.Handler());
  c->Subscribe(channel, in_c.Handler());
  b->Start();
  c->Start();
  ASSERT_TRUE(Eventually([&] { return Connected(*b) && Connected(*c); }));
  auto start = std::chrono::steady_clock::now();
  b->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
  EXPECT_FALSE(b->status().connected);
  ASSERT_TRUE(a->Publish(channel, json::value("after stop")).ok());
  ASSERT_TRUE(Eventually([&] { return in_c.size() == 1; }));  // delivered to who listens
  EXPECT_EQ(in_b.size(), 0u);
  // And it can start again.
  b->Start();
  ASSERT_TRUE(Eventually([&] {
    (void)a->Publish(channel, json::value("again"));
    return in_b.size() > 0;
  }));
}

INSTANTIATE_TEST_SUITE_P(Backends, SyncBusTest,
                         ::testing::Values(Backend::kMemory, Backend::kRedis, Backend::kPostgres),
                         testing::BackendName);

TEST(SyncEnvelopeTest, RoundTripsAndNamesTheSender) {
  std::string wire = EncodeEnvelope("n1", json::value{{"k", "v"}});
  auto e = DecodeEnvelope(wire);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->from, "n1");
  EXPECT_GT(e->ts, 1'700'000'000'000);
  EXPECT_EQ(e->body, (json::value{{"k", "v"}}));
  EXPECT_EQ(DecodeEnvelope("{").status().code(), StatusCode::kInvalidArgument);
}

// Redis only: the subscriber's own connection comes and goes with the server.

class RedisSyncBusTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()); }
  std::unique_ptr<redis::RedisSyncBus> MakeBus(const std::string& node) {
    return std::make_unique<redis::RedisSyncBus>(*redis::ParseRedisUrl(server_.url()), node,
                                                 FastOptions());
  }
  TestRedis server_;
};

TEST_F(RedisSyncBusTest, SubscriberSurvivesARestart) {
  Inbox in_b;
  auto a = MakeBus("node-a");
  auto b = MakeBus("node-b");
  b->Subscribe("sync", in_b.Handler());
  b->Start();
  ASSERT_TRUE(Eventually([&] { return b->status().connected; }));
  auto first_since = b->status().since;
  EXPECT_EQ(b->status().reconnects, 0);

  auto restart_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(server_.Restart());
  auto restarted_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(
      Eventually([&] { return b->status().reconnects == 1 && b->status().connected; }, 5000ms))
      << "last error: " << b->status().last_error;
  auto resubscribed_at = std::chrono::steady_clock::now();
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  std::cout << "[ timing   ] redis restart took " << ms(restarted_at - restart_at)
            << " ms; subscriber back " << ms(resubscribed_at - restarted_at)
            << " ms after the server was\n";
  BusStatus s = b->status();
  EXPECT_GT(s.since, first_since);
  EXPECT_NE(s.last_error, "");

  // The publisher's connection also died with the old server; the first publish reconnects.
  ASSERT_TRUE(a->Publish("sync", json::value("after restart")).ok());
  ASSERT_TRUE(Eventually([&] { return in_b.Has(json::value("after restart")); }, 2000ms));
}

TEST_F(RedisSyncBusTest, PublishFailsFastWhileDownAndWorksWhenBack) {
  Inbox in_b;
  auto a = MakeBus("node-a");
  auto b = MakeBus("node-b");
  b->Subscribe("sync", in_b.Handler());
  b->Start();
  ASSERT_TRUE(Eventually([&] { return b->status().connected; }));
  ASSERT_TRUE(a->Publish("sync", json::value("before")).ok());

  ASSERT_TRUE(server_.Stop());
  ASSERT_TRUE(Eventually([&] { return !b->status().connected; }));
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) {
    Status s = a->Publish("sync", json::value("while down"));
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
    EXPECT_NE(s.message().find("is unreachable"), std::string::npos) << s.message();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 300ms);
  EXPECT_FALSE(b->status().connected);
  EXPECT_NE(b->status().last_error, "");

  ASSERT_TRUE(server_.Start());
  ASSERT_TRUE(Eventually([&] { return b->status().connected; }));
  ASSERT_TRUE(Eventually([&] { return a->Publish("sync", json::value("back")).ok(); }, 2000ms));
  ASSERT_TRUE(Eventually([&] { return in_b.Has(json::value("back")); }, 2000ms));
  EXPECT_FALSE(in_b.Has(json::value("while down")));
}

TEST_F(RedisSyncBusTest, NoticesASilentServerByPing) {
  redis::RedisSyncBusOptions options = FastOptions();
  options.ping_interval = 100ms;
  options.timeout = 200ms;
  Inbox in_b;
  redis::RedisSyncBus b(*redis::ParseRedisUrl(server_.url()), "node-b", options);
  b.Subscribe("sync", in_b.Handler());
  b.Start();
  ASSERT_TRUE(Eventually([&] { return b.status().connected; }));
  // A paused server keeps the connection open but answers nothing.
  auto admin = testing::ClientFor(server_);
  ASSERT_TRUE(admin->Call({"CLIENT", "PAUSE", "1500", "ALL"}).ok());
  // While paused, PINGs go unanswered: the subscriber gives up on the connection...
  EXPECT_TRUE(Eventually([&] { return !b.status().connected; }, 1400ms));
  // ...and gets a new one once the pause ends.
  EXPECT_TRUE(
      Eventually([&] { return b.status().connected && b.status().reconnects >= 1; }, 4000ms));
}

// PostgreSQL only: the receiving session is a connection the server can end.

class PostgresSyncBusTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(db_.Create()); }
  std::unique_ptr<database::PostgresSyncBus> MakeBus(const std::string& node) {
    return std::make_unique<database::PostgresSyncBus>(*db_.postgres(), db_.pool(), node,
                                                       FastPostgresOptions());
  }
  testing::ClusterDatabase db_{db::Dialect::kPostgres};
};

TEST_F(PostgresSyncBusTest, ReconnectsAfterItsSessionIsTerminated) {
  Inbox in_b;
  auto a = MakeBus("node-a");
  auto b = MakeBus("node-b");
  b->Subscribe("sync", in_b.Handler());
  b->Start();
  ASSERT_TRUE(Eventually([&] { return b->status().connected; }));
  ASSERT_TRUE(a->Publish("sync", json::value("before")).ok());
  ASSERT_TRUE(Eventually([&] { return in_b.Has(json::value("before")); }));

  // The server ends b's session, as an administrator or a failover would.
  auto killed = db_.Int(
      "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM "
      "pg_stat_activity WHERE application_name = '" +
      b->session_name() + "' AND datname = current_database()) t");
  ASSERT_EQ(killed, 1);
  ASSERT_TRUE(Eventually([&] { return b->status().reconnects == 1 && b->status().connected; }))
      << "last error: " << b->status().last_error;
  EXPECT_NE(b->status().last_error.find("lost"), std::string::npos) << b->status().last_error;
  // Listening again on the new session: messages arrive as before.
  ASSERT_TRUE(a->Publish("sync", json::value("after")).ok());
  EXPECT_TRUE(Eventually([&] { return in_b.Has(json::value("after")); }));
}

TEST_F(PostgresSyncBusTest, RefusesWhatNotifyCannotCarry) {
  auto a = MakeBus("node-a");
  Status s = a->Publish("sync", json::value(std::string(9000, 'x')));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("7999"), std::string::npos) << s.message();
  EXPECT_TRUE(a->Publish("sync", json::value(std::string(7000, 'x'))).ok());
  Status long_name = a->Publish(std::string(56, 'c'), json::value(1));
  EXPECT_EQ(long_name.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(long_name.message().find("too long"), std::string::npos) << long_name.message();
  EXPECT_TRUE(a->Publish(std::string(55, 'c'), json::value(1)).ok());
}

TEST_F(PostgresSyncBusTest, PublishIsUnavailableWhenTheDatabaseIsDown) {
  db::Pool dead(
      db::Dialect::kPostgres,
      [] { return Result<std::unique_ptr<db::Connection>>(Unavailable("db is down")); }, 1);
  database::PostgresSyncBus bus(*db_.postgres(), dead, "node-a", FastPostgresOptions());
  Status s = bus.Publish("sync", json::value(1));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("sync bus"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace slipway::cluster
