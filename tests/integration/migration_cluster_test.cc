// An import into a running three-node PostgreSQL cluster (issue 14): every node serves the new
// schema once migrations:execute's task ends, and reads and writes through the other nodes
// while it runs see either the old schema or the new one, never a mix, and never a 500.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <mutex>
#include <set>
#include <thread>

#include "api_client.h"
#include "db/postgres/postgres_connection.h"
#include "local_cluster.h"
#include "node.h"

namespace slipway::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::set<std::string> Keys(const json::value& record) {
  std::set<std::string> keys;
  for (const auto& [k, v] : record.as_object()) keys.insert(std::string(k));
  return keys;
}

TEST(MigrationCluster, ReadsAndWritesThroughOtherNodesSeeOneSchemaAndNo500) {
  // Development: products gain a field and a relation; 100,000 items to overwrite.
  TestDatabase dev_db;
  ASSERT_TRUE(dev_db.Create());
  TempDir dev_dir;
  auto dev_env = PostgresEnv(dev_db.options());
  dev_env["APP_KEY"] = "development-key-0123456789abcdef012";
  Node dev_node(NodeOptions{.storage = dev_dir.path() / "storage", .env = dev_env}, "dev");
  ASSERT_TRUE(dev_node.WaitHealthy(30s)) << dev_node.process().Stderr();
  Api dev(dev_node.port());
  ASSERT_EQ(dev.SignIn("admin@nocobase.com", "admin123").status, 200);

  LocalCluster prod(3);
  ASSERT_TRUE(prod.ok());
  const char* products = R"({"name":"products","fields":[{"name":"name","type":"string"}]})";
  const char* items = R"({"name":"items","fields":[{"name":"label","type":"string"}]})";
  const char* orders = R"({"name":"orders","fields":[{"name":"total","type":"double"}]})";
  for (Api* api : {&dev, &prod.api(1)}) {
    for (const char* def : {products, items, orders}) {
      ASSERT_EQ(api->Post("collections:create", json::parse(def)).status, 200);
    }
  }
  ASSERT_EQ(dev.Post("collections/products/fields:create",
                     json::parse(R"({"name":"sku","type":"string"})"))
                .status,
            200);
  ASSERT_EQ(dev.Post("collections/products/fields:create",
                     json::parse(R"({"name":"item","type":"belongsTo","target":"items"})"))
                .status,
            200);
  {
    auto conn = db::OpenPostgres(dev_db.options());
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE((*conn)
                    ->ExecScript("INSERT INTO items (label, \"createdAt\", \"updatedAt\") SELECT "
                                 "'item ' || i, now(), now() FROM generate_series(1, 100000) i")
                    .ok());
  }
  ASSERT_EQ(
      prod.api(1).Post("products:create", json::parse(R"([{"name":"a"},{"name":"b"}])")).status,
      200);
  const std::set<std::string> old_keys = Keys(prod.api(2).Get("products:list").data().at(0));

  ApiResult made =
      dev.Post("migrations:create", json::parse(R"({"rules":{"tables":{"items":"overwrite"}}})"));
  ASSERT_EQ(made.status, 202) << made.body;
  ASSERT_EQ(WaitTask(dev, std::string(made.data().at("taskId").as_string()))["state"], "succeeded");
  const std::string name(made.data().at("name").as_string());
  ApiResult file = dev.Get("migrations:download?filterByTk=" + name);
  ASSERT_EQ(file.status, 200);
  ApiResult up = prod.api(1).Upload("migrations:upload", file.body, name);
  ASSERT_EQ(up.status, 200) << up.body;

  // Readers and writers on nodes 2 and 3 while node 1's task imports.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> problems;
  std::set<std::string> seen_shapes;
  std::atomic<int> reads{0}, writes{0};
  std::atomic<int64_t> slowest_write_ms{0};
  auto worker = [&](int node, bool write) {
    Api api(prod.node(node).port());
    api.set_token(prod.api(node).token());
    while (!stop) {
      if (write) {
        auto t0 = std::chrono::steady_clock::now();
        ApiResult r = api.Post("orders:create", json::parse(R"({"total":1})"));
        int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - t0)
                         .count();
        int64_t prev = slowest_write_ms.load();
        while (ms > prev && !slowest_write_ms.compare_exchange_weak(prev, ms)) {
        }
        ++writes;
        if (r.status != 200) {
          std::lock_guard lock(mu);
          problems.push_back("write on node " + std::to_string(node) + ": " + r.body);
        }
      } else {
        ApiResult r = api.Get("products:list");
        ++reads;
        std::lock_guard lock(mu);
        if (r.status != 200) {
          problems.push_back("read on node " + std::to_string(node) + ": " + r.body);
          continue;
        }
        std::string shape;
        std::set<std::string> first;
        for (const json::value& rec : r.data().as_array()) {
          std::set<std::string> keys = Keys(rec);
          if (first.empty()) first = keys;
          if (keys != first) problems.push_back("records of one response differ in fields");
        }
        for (const std::string& k : first) shape += k + ",";
        seen_shapes.insert(shape);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int node : {2, 3}) {
    threads.emplace_back(worker, node, false);
    threads.emplace_back(worker, node, true);
  }
  std::this_thread::sleep_for(300ms);
  ApiResult asked = prod.api(1).Post("migrations:execute", json::object{{"name", name}});
  ASSERT_EQ(asked.status, 202) << asked.body;
  json::object task = WaitTask(prod.api(1), std::string(asked.data().at("taskId").as_string()));
  std::this_thread::sleep_for(300ms);
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_EQ(task["state"], "succeeded") << json::serialize(task);

  EXPECT_TRUE(problems.empty()) << problems.size() << " problems, first: " << problems.front();
  // Two shapes only: the old one and the new one.
  std::set<std::string> new_keys = old_keys;
  new_keys.insert("sku");
  new_keys.insert("itemId");
  auto shape_of = [](const std::set<std::string>& keys) {
    std::string s;
    for (const std::string& k : keys) s += k + ",";
    return s;
  };
  for (const std::string& s : seen_shapes) {
    EXPECT_TRUE(s == shape_of(old_keys) || s == shape_of(new_keys)) << "a mixed shape: " << s;
  }
  EXPECT_TRUE(seen_shapes.count(shape_of(new_keys))) << "the new schema was never seen";
  // Every node serves the new schema and the rows now.
  for (int node : {1, 2, 3}) {
    ApiResult r = prod.api(node).Get("products:list");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(Keys(r.data().at(0)), new_keys) << "node " << node;
    ApiResult count = prod.api(node).Get("items:list?pageSize=1");
    ASSERT_EQ(count.status, 200);
    EXPECT_EQ(count.json.at("meta").at("count").as_int64(), 100000) << "node " << node;
  }
  std::printf(
      "[ import ] %d reads and %d writes through nodes 2 and 3 during it; the slowest "
      "write took %lld ms; the change itself %lld ms, the whole task %lld ms\n",
      reads.load(), writes.load(), static_cast<long long>(slowest_write_ms.load()),
      static_cast<long long>(task.at("result").at("changeMs").as_int64()),
      static_cast<long long>(task.at("result").at("ms").as_int64()));
  EXPECT_EQ(dev_node.Stop(), 0);
}

}  // namespace
}  // namespace slipway::testing
