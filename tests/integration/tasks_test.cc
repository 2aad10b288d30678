// Durable tasks through real nodes (PostgreSQL): any node answers asyncTasks for any task, a task
// whose node died is reported failed, callers see only their own tasks, and WORKER_MODE shapes
// what each node does (a tasks-only node fails its health check and refuses requests).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api_client.h"
#include "db/postgres/postgres_connection.h"
#include "node.h"
#include "test_database.h"

namespace slipway::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

TEST(TasksTest, AnyNodeAnswersForAnyTaskAndWorkerModeShapesEachNode) {
  TempDir dir;
  TestDatabase pg;
  ASSERT_TRUE(pg.Create());
  auto env = PostgresEnv(pg.options());
  env["APP_KEY"] = "cluster-test-key-0123456789abcdef0123";
  auto node = [&](const std::string& id, const std::string& mode) {
    auto e = env;
    e["NODE_ID"] = id;
    e["WORKER_MODE"] = mode;
    return std::make_unique<Node>(NodeOptions{.storage = dir.path() / "storage", .env = e}, id);
  };
  auto both = node("both", "");  // requests and tasks
  auto web = node("web", "!");   // requests only
  auto worker = node("worker", "*");
  ASSERT_TRUE(both->WaitHealthy(60s)) << both->process().Stderr();
  ASSERT_TRUE(web->WaitHealthy(60s)) << web->process().Stderr();
  HttpResult health = WaitForHealthSaying(worker->port(), 503, "takes no requests", 60s);
  EXPECT_EQ(health.status, 503) << health.body;

  Api root(both->port()), root_web(web->port()), at_worker(worker->port());
  ASSERT_EQ(root.SignIn("admin@nocobase.com", "admin123").status, 200);
  ASSERT_EQ(root_web.SignIn("admin@nocobase.com", "admin123").status, 200);
  ASSERT_EQ(at_worker.SignIn("admin@nocobase.com", "admin123").status, 200);  // operations stay
  ApiResult refused = at_worker.Get("asyncTasks:list");
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.code(), "WORKER_NODE");

  // Tasks as backups will queue them (kinds no node here has a handler for: they stay queued),
  // and one that was running on a node that died.
  auto conn = db::OpenPostgres(pg.options());
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  auto insert = [&](const std::string& id, const std::string& state, const std::string& node_id,
                    int64_t created_by) {
    Status s = (*conn)->Exec(
        "INSERT INTO slipway_tasks (id, kind, state, params, progress, node_id, lease_until_ms, "
        "created_by, created_ms, updated_ms) VALUES ($1, 'report', $2, '{}', "
        "'{\"done\":3,\"total\":10,\"unit\":\"rows\",\"message\":\"\"}', $3, 0, $4, 1, 1)",
        {id, state, node_id, created_by});
    ASSERT_TRUE(s.ok()) << s.ToString();
  };
  insert("t-queued", "queued", "", 1);
  insert("t-dead", "running", "ghost", 1);
  insert("t-other", "queued", "", 999);

  ApiResult dead = root_web.Get("asyncTasks:get?filterByTk=t-dead");
  ASSERT_EQ(dead.status, 200) << dead.body;
  EXPECT_EQ(dead.data().at("state"), "failed");
  EXPECT_NE(dead.data().at("error").as_string().find("'ghost'"), std::string::npos);
  EXPECT_EQ(dead.data().at("progress").at("done").as_int64(), 3);
  ApiResult listed = root.Get("asyncTasks:list");
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.data().as_array().size(), 3u);  // root sees every task
  EXPECT_EQ(root.Get("asyncTasks:get?filterByTk=t-queued").data().at("state"), "queued");

  // A member sees and stops only its own tasks.
  ASSERT_EQ(root.Post("users:create", json::parse(R"({"email":"m@x.io","password":"pw-member-1"})"))
                .status,
            200);
  Api member(web->port());
  ASSERT_EQ(member.SignIn("m@x.io", "pw-member-1").status, 200);
  EXPECT_EQ(member.Get("asyncTasks:list").data().as_array().size(), 0u);
  EXPECT_EQ(member.Get("asyncTasks:get?filterByTk=t-queued").status, 404);
  EXPECT_EQ(member.Post("asyncTasks:stop?filterByTk=t-queued").status, 404);

  ApiResult stopped = root_web.Post("asyncTasks:stop?filterByTk=t-queued");
  EXPECT_EQ(stopped.status, 202) << stopped.body;
  EXPECT_EQ(stopped.data().at("state"), "cancelled");
  EXPECT_EQ(root.Get("asyncTasks:get?filterByTk=t-queued").data().at("state"), "cancelled");
  EXPECT_EQ(root.Post("asyncTasks:stop?filterByTk=t-queued").status, 409);
  EXPECT_EQ(root.Get("asyncTasks:get?filterByTk=nope").status, 404);

  EXPECT_EQ(both->Stop(), 0);
  EXPECT_EQ(web->Stop(), 0);
  EXPECT_EQ(worker->Stop(), 0);
}

TEST(TasksTest, AMalformedWorkerModeStopsTheNodeWithOneLine) {
  TempDir dir;
  RunResult r = RunCommand(
      {SLIPWAY_BIN, "serve", "--port", "0", "--storage", (dir.path() / "storage").string()},
      {{"WORKER_MODE", "backup,,restore"}}, dir.path(), 30s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.out + r.err).find("WORKER_MODE"), std::string::npos) << r.out << r.err;
}

}  // namespace
}  // namespace slipway::testing
