// Backups and restores in a running three-node PostgreSQL cluster (issue 13): a restore gates
// every node and leaves every node serving the restored data, its status answered by any node;
// a scheduled backup runs on exactly one node per tick, and retention keeps the newest.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <thread>

#include "api_client.h"
#include "db/postgres/postgres_connection.h"
#include "local_cluster.h"

namespace slipway::testing {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST(BackupCluster, ARestoreGatesEveryNodeAndEveryNodeServesTheRestoredData) {
  LocalCluster cluster(3);
  ASSERT_TRUE(cluster.ok());
  ASSERT_EQ(cluster.api(1)
                .Post("collections:create", json::parse(R"({"name":"notes","fields":[
                          {"name":"body","type":"string"}]})"))
                .status,
            200);
  {
    auto conn = db::OpenPostgres(cluster.database().options());
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE((*conn)
                    ->ExecScript("INSERT INTO notes (body, \"createdAt\", \"updatedAt\") SELECT "
                                 "'note ' || i, now(), now() FROM generate_series(1, 200000) i")
                    .ok());
  }
  ApiResult made = cluster.api(1).Post("backups:create", json::object{});
  ASSERT_EQ(made.status, 202) << made.body;
  const std::string name(made.data().at("name").as_string());
  // The backup's status through every node in turn.
  for (int i = 0;; ++i) {
    ApiResult st = cluster.api(1 + i % 3).Get("backups:taskStatus?names=" + name);
    ASSERT_EQ(st.status, 200) << st.body;
    if (!st.data().at(name).at("inProgress").as_bool()) break;
    ASSERT_LT(i, 2000);
    std::this_thread::sleep_for(20ms);
  }
  // Changes after the backup, which the restore takes away.
  ASSERT_EQ(cluster.api(2).Post("notes:create", json::parse(R"({"body":"later"})")).status, 200);
  ASSERT_EQ(cluster.api(3).Post("collections:create", json::parse(R"({"name":"later"})")).status,
            200);

  // A reader holds `notes` open, as a long report would: the restore's change waits for it, with
  // every node gated (the rows were loaded beside the served data before the gate closed).
  auto reader = db::OpenPostgres(cluster.database().options());
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE((*reader)->ExecScript("BEGIN; SELECT count(*) FROM notes").ok());
  bool reading = true;

  ApiResult asked = cluster.api(2).Post("backups:restore", json::object{{"name", name}});
  ASSERT_EQ(asked.status, 202) << asked.body;
  const std::string task(asked.data().at("task").as_string());
  // A second restore while this one runs is refused, by any node.
  ApiResult second = cluster.api(3).Post("backups:restore", json::object{{"name", name}});
  EXPECT_EQ(second.status, 409) << second.body;
  EXPECT_NE(second.body.find("RESTORE_IN_PROGRESS"), std::string::npos) << second.body;
  std::set<int> gated;
  json::value status;
  for (int i = 0;; ++i) {
    const int n = 1 + i % 3;
    ApiResult info = cluster.api(n).Get("app:getInfo");
    if (info.status == 503) {
      EXPECT_NE(info.body.find("APP_COMMANDING"), std::string::npos) << info.body;
      gated.insert(n);
    }
    if (reading && gated.size() == 3) {
      ASSERT_TRUE((*reader)->ExecScript("COMMIT").ok());
      reading = false;
    }
    ApiResult st = cluster.api(n).Get("backups:restoreStatus?task=" + task);
    ASSERT_EQ(st.status, 200) << "node " << n << ": " << st.body;
    if (!st.data().at("inProgress").as_bool()) {
      status = st.data();
      break;
    }
    ASSERT_LT(i, 6000);
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(status.at("state"), "succeeded") << json::serialize(status);
  EXPECT_EQ(gated, (std::set<int>{1, 2, 3}));
  for (int n = 1; n <= 3; ++n) {
    ApiResult last = cluster.api(n).Get("notes:list?pageSize=1&sort=-id");
    ASSERT_EQ(last.status, 200) << "node " << n << ": " << last.body;
    EXPECT_EQ(last.data().at(0).at("body"), "note 200000") << n;
    EXPECT_EQ(last.json.at("meta").at("count"), 200000) << n;
    EXPECT_EQ(cluster.api(n).Get("later:list").status, 404) << n;
    EXPECT_EQ(cluster.api(n).Get("maintenance:status").data().at("state"), "running") << n;
  }
  // Writes go on from every node.
  for (int n = 1; n <= 3; ++n) {
    EXPECT_EQ(cluster.api(n).Post("notes:create", json::parse(R"({"body":"after"})")).status, 200);
  }
}

TEST(BackupCluster, AScheduledBackupRunsOncePerTickAndRetentionKeepsTheNewest) {
  LocalCluster cluster(3);
  ASSERT_TRUE(cluster.ok());
  ApiResult bad =
      cluster.api(1).Post("backupSettings:update", json::parse(R"({"cron":"61 * * * *"})"));
  EXPECT_EQ(bad.status, 400) << bad.body;
  bad = cluster.api(1).Post("backupSettings:update", json::parse(R"({"keep":0})"));
  EXPECT_EQ(bad.status, 400) << bad.body;
  ApiResult set =
      cluster.api(1).Post("backupSettings:update",
                          json::parse(R"({"scheduled":true,"cron":"*/2 * * * * *","keep":2})"));
  ASSERT_EQ(set.status, 200) << set.body;
  std::this_thread::sleep_for(9s);
  ASSERT_EQ(
      cluster.api(2).Post("backupSettings:update", json::parse(R"({"scheduled":false})")).status,
      200);
  ApiResult got = cluster.api(3).Get("backupSettings:get");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.data().at("keep"), 2);
  EXPECT_FALSE(got.data().at("scheduled").as_bool());
  EXPECT_FALSE(got.data().as_object().contains("password"));
  // Every scheduled backup finished; one per tick (two seconds apart), none twice.
  std::vector<json::value> tasks;
  for (int i = 0; i < 300; ++i) {
    ApiResult list = cluster.api(1).Get("asyncTasks:list?kind=backups.create");
    ASSERT_EQ(list.status, 200);
    bool running = false;
    tasks.clear();
    for (const json::value& t : list.data().as_array()) {
      running = running || (t.at("state") != "succeeded" && t.at("state") != "failed");
      tasks.push_back(t);
    }
    if (!running) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_GE(tasks.size(), 3u);
  ASSERT_LE(tasks.size(), 5u);
  std::set<std::string> names, nodes;
  std::vector<int64_t> created;
  for (const json::value& t : tasks) {
    EXPECT_EQ(t.at("state"), "succeeded") << json::serialize(t);
    names.insert(std::string(t.at("params").at("name").as_string()));
    nodes.insert(std::string(t.at("nodeId").as_string()));
    created.push_back(t.at("createdAt").as_int64());
  }
  EXPECT_EQ(names.size(), tasks.size());
  // Each queued in a tick of its own (ticks are two seconds apart; the node that moves the
  // schedule queues within the tick).
  std::set<int64_t> ticks;
  for (int64_t ms : created) ticks.insert(ms / 2000);
  EXPECT_EQ(ticks.size(), created.size());
  // Retention: the two newest archives are left.
  size_t archives = 0;
  for (const auto& e : fs::directory_iterator(cluster.storage() / "backups")) {
    archives += e.path().extension() == ".slwbak";
  }
  EXPECT_EQ(archives, 2u);
  ApiResult listed = cluster.api(2).Get("backups:list");
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(listed.data().as_array().size(), 2u);
}

}  // namespace
}  // namespace slipway::testing
