// Durable tasks on a real database (SQLite and PostgreSQL): claims by several nodes at once,
// leases, progress, expiry, cancellation, and the runner with WORKER_MODE.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "cluster/cluster_test_util.h"
#include "ops/task_runner.h"
#include "ops/task_store.h"

namespace slipway::ops {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using cluster::testing::Backend;
using cluster::testing::ClusterDatabase;
using cluster::testing::Eventually;

class TaskTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ClusterDatabase>(cluster::testing::DialectOf(GetParam()));
    ASSERT_TRUE(db_->Create());
    store_ = std::make_unique<TaskStore>(db_->pool());
  }
  // A store as another node sees it: a pool of its own on the same database.
  TaskStore& OtherNode() {
    pools_.push_back(std::make_unique<db::Pool>(db_->dialect(), db_->factory(), 2));
    stores_.push_back(std::make_unique<TaskStore>(*pools_.back()));
    return *stores_.back();
  }
  TaskRecord Get(const std::string& id) {
    auto t = store_->Get(id);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : TaskRecord{};
  }

  std::unique_ptr<ClusterDatabase> db_;
  std::vector<std::unique_ptr<db::Pool>> pools_;  // after db_: closed before it
  std::vector<std::unique_ptr<TaskStore>> stores_;
  std::unique_ptr<TaskStore> store_;
};

// SCHED_IDLE, or nice 10 where the policy is refused (TaskRunner's LowerPriority).
bool RunsAtIdlePriority() {
  return ::sched_getscheduler(0) == SCHED_IDLE ||
         ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())) >= 10;
}

TEST_P(TaskTest, QueuedTasksAreClaimedOnceInOrderByTheirKinds) {
  auto first = store_->Enqueue("backup", json::object{{"note", "a"}}, 1);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->state, TaskState::kQueued);
  EXPECT_EQ(first->params.at("note"), "a");
  ASSERT_TRUE(store_->Enqueue("export", {}, std::nullopt).ok());
  ASSERT_TRUE(store_->Enqueue("backup", {}, std::nullopt).ok());

  auto none = store_->Claim("n1", {"restore"}, 10s);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto claimed = OtherNode().Claim("n2", {"backup"}, 10s);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_TRUE(claimed->has_value());
  EXPECT_EQ((*claimed)->id, first->id);  // the oldest of its kinds
  EXPECT_EQ((*claimed)->state, TaskState::kRunning);
  EXPECT_EQ((*claimed)->node_id, "n2");
  EXPECT_TRUE((*claimed)->started_ms.has_value());
  auto export_task = store_->Claim("n1", {"backup", "export"}, 10s);
  ASSERT_TRUE(export_task.ok() && export_task->has_value());
  EXPECT_EQ((*export_task)->kind, "export");
  EXPECT_EQ(Get(first->id).node_id, "n2");  // any node reads any task
  EXPECT_FALSE(store_->Enqueue("bad kind!", {}, std::nullopt).ok());
}

TEST_P(TaskTest, ConcurrentClaimersNeverShareATask) {
  constexpr int kTasks = 40;
  std::set<std::string> queued;
  for (int i = 0; i < kTasks; ++i) {
    auto t = store_->Enqueue("job", {}, std::nullopt);
    ASSERT_TRUE(t.ok());
    queued.insert(t->id);
  }
  std::vector<TaskStore*> nodes;
  for (int i = 0; i < 4; ++i) nodes.push_back(&OtherNode());
  std::mutex mu;
  std::vector<std::string> claimed;
  std::vector<std::thread> threads;
  for (int n = 0; n < 4; ++n) {
    threads.emplace_back([&, n] {
      for (;;) {
        auto t = nodes[n]->Claim("n" + std::to_string(n), {"job"}, 10s);
        if (!t.ok()) {
          if (GetParam() == Backend::kSqlite) continue;  // SQLITE_BUSY under contention: retry
          ADD_FAILURE() << t.status().ToString();
          return;
        }
        if (!t->has_value()) return;
        std::lock_guard lock(mu);
        claimed.push_back((*t)->id);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()), queued);
}

TEST_P(TaskTest, ProgressRenewsTheLeaseAndAnExpiredLeaseFailsTheTask) {
  auto t = store_->Enqueue("backup", {}, std::nullopt);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(store_->Claim("n1", {"backup"}, 300ms).ok());
  auto report = store_->Report(t->id, "n1", {50, 200, "rows", "posts"}, 300ms);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(*report);
  TaskRecord seen = OtherNode().Get(t->id).value();
  EXPECT_EQ(seen.progress.done, 50);
  EXPECT_EQ(seen.progress.total, 200);
  EXPECT_EQ(seen.progress.unit, "rows");
  EXPECT_EQ(seen.progress.message, "posts");
  // Another node may not report for it.
  auto wrong = store_->Report(t->id, "n2", {}, 300ms);
  EXPECT_EQ(wrong.status().tag(), kTaskLost);
  // The node dies: nothing renews; any reader finds the task failed, naming the node.
  ASSERT_TRUE(Eventually([&] { return Get(t->id).state == TaskState::kFailed; }, 3s));
  EXPECT_NE(Get(t->id).error.find("'n1'"), std::string::npos) << Get(t->id).error;
  EXPECT_EQ(store_->Report(t->id, "n1", {}, 300ms).status().tag(), kTaskLost);
  EXPECT_EQ(store_->Finish(t->id, "n1", TaskState::kSucceeded, nullptr, "").tag(), kTaskLost);
}

TEST_P(TaskTest, FinishedTasksKeepTheirResultAndCancellation) {
  auto a = store_->Enqueue("backup", {}, 7);
  auto b = store_->Enqueue("backup", {}, 7);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(store_->Claim("n1", {"backup"}, 10s).ok());
  ASSERT_TRUE(store_
                  ->Finish(a->id, "n1", TaskState::kSucceeded,
                           json::object{{"name", "backup_x.slipway"}}, "")
                  .ok());
  TaskRecord done = Get(a->id);
  EXPECT_EQ(done.state, TaskState::kSucceeded);
  EXPECT_EQ(done.result.at("name"), "backup_x.slipway");
  EXPECT_TRUE(done.finished_ms.has_value());
  EXPECT_EQ(done.ToJson().at("state"), "succeeded");
  EXPECT_FALSE(store_->Cancel(a->id).ok());  // already finished
  auto cancelled = store_->Cancel(b->id);    // queued: at once
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state, TaskState::kCancelled);
  auto c = store_->Enqueue("backup", {}, 7);
  ASSERT_TRUE(store_->Claim("n1", {"backup"}, 10s).ok());
  auto asked = store_->Cancel(c->id);  // running: asked, seen at the next report
  ASSERT_TRUE(asked.ok());
  EXPECT_EQ(asked->state, TaskState::kRunning);
  EXPECT_TRUE(*store_->Report(c->id, "n1", {}, 10s));
  auto listed = store_->List("backup");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 3u);
  EXPECT_EQ(listed->front().id, c->id);  // newest first
  EXPECT_EQ(store_->Get("no-such-task").status().code(), StatusCode::kNotFound);
}

TEST_P(TaskTest, TheRunnerRunsHandlersAndRecordsEveryOutcome) {
  core::WorkerMode mode;  // empty WORKER_MODE: requests and tasks
  TaskRunner runner(*store_, "n1", mode, {.poll = 50ms, .lease = 2s, .renew = 100ms});
  std::atomic<int> ran{0};
  std::atomic<bool> idle{false};
  runner.Register("count", [&](TaskContext& ctx) -> Result<json::value> {
    for (int i = 1; i <= 3; ++i) RETURN_IF_ERROR(ctx.Report({i, 3, "steps", "step"}));
    idle = RunsAtIdlePriority();
    ++ran;
    return json::value(json::object{{"counted", 3}});
  });
  runner.Register("fail", [](TaskContext&) -> Result<json::value> {
    return InvalidArgument("the archive is truncated");
  });
  runner.Register("throw",
                  [](TaskContext&) -> Result<json::value> { throw std::runtime_error("boom"); });
  runner.Register("slow", [](TaskContext& ctx) -> Result<json::value> {
    for (;;) {
      RETURN_IF_ERROR(ctx.Report({0, 0, "", "waiting"}));
      std::this_thread::sleep_for(20ms);
    }
  });
  auto ok = store_->Enqueue("count", {}, std::nullopt);
  auto bad = store_->Enqueue("fail", {}, std::nullopt);
  auto threw = store_->Enqueue("throw", {}, std::nullopt);
  auto other = store_->Enqueue("not-mine", {}, std::nullopt);
  runner.Start();
  runner.Wake();
  ASSERT_TRUE(Eventually([&] { return Get(threw->id).finished(); }, 5s));
  ASSERT_TRUE(Eventually([&] { return Get(ok->id).finished() && Get(bad->id).finished(); }, 5s));
  EXPECT_EQ(Get(ok->id).state, TaskState::kSucceeded);
  EXPECT_EQ(Get(ok->id).result.at("counted").as_int64(), 3);
  EXPECT_EQ(Get(ok->id).progress.done, 3);
  EXPECT_TRUE(idle.load()) << "a node's tasks run behind its requests";
  EXPECT_FALSE(RunsAtIdlePriority()) << "and nothing else does";
  EXPECT_EQ(Get(bad->id).state, TaskState::kFailed);
  EXPECT_EQ(Get(bad->id).error, "the archive is truncated");
  EXPECT_EQ(Get(threw->id).state, TaskState::kFailed);
  EXPECT_NE(Get(threw->id).error.find("boom"), std::string::npos);
  EXPECT_EQ(Get(other->id).state, TaskState::kQueued);  // no handler here: left for another node
  // Cancelling a running task stops it at its next report.
  auto slow = store_->Enqueue("slow", {}, std::nullopt);
  runner.Wake();
  ASSERT_TRUE(Eventually([&] { return Get(slow->id).state == TaskState::kRunning; }, 5s));
  ASSERT_TRUE(store_->Cancel(slow->id).ok());
  ASSERT_TRUE(Eventually([&] { return Get(slow->id).finished(); }, 5s));
  EXPECT_EQ(Get(slow->id).state, TaskState::kCancelled);
  EXPECT_EQ(ran.load(), 1);
}

TEST_P(TaskTest, WorkerModeDecidesWhichNodesTakeWhichTasks) {
  auto requests_only = core::ParseWorkerMode("!");
  ASSERT_TRUE(requests_only.ok());
  TaskRunner web(*store_, "web", *requests_only, {.poll = 30ms});
  auto only_exports = core::ParseWorkerMode("export, import");
  ASSERT_TRUE(only_exports.ok());
  TaskRunner worker(OtherNode(), "worker", *only_exports, {.poll = 30ms});
  std::atomic<int> by_web{0}, by_worker{0};
  for (TaskRunner* r : {&web, &worker}) {
    std::atomic<int>* counter = r == &web ? &by_web : &by_worker;
    for (const char* kind : {"backup", "export"}) {
      r->Register(kind, [counter](TaskContext&) -> Result<json::value> {
        ++*counter;
        return json::value(nullptr);
      });
    }
  }
  EXPECT_TRUE(web.ClaimableKinds().empty());
  EXPECT_EQ(worker.ClaimableKinds(), (std::vector<std::string>{"export"}));
  auto backup = store_->Enqueue("backup", {}, std::nullopt);
  auto exported = store_->Enqueue("export", {}, std::nullopt);
  web.Start();
  worker.Start();
  ASSERT_TRUE(Eventually([&] { return Get(exported->id).finished(); }, 5s));
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(Get(exported->id).node_id, "worker");
  EXPECT_EQ(Get(backup->id).state, TaskState::kQueued);  // nobody here takes backups
  EXPECT_EQ(by_web.load(), 0);
  EXPECT_EQ(by_worker.load(), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, TaskTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         cluster::testing::BackendName);

TEST_P(TaskTest, ACommandRunsATaskItHoldsAndARestartedNodeFailsWhatItHeld) {
  // A command's task is running from the start (no runner can claim it) and ends as its
  // handler says; every Note and Report reaches the observer.
  auto held =
      store_->Start("restore", json::object{{"password", "secret"}}, std::nullopt, "n1/cli/1", 10s);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_EQ(held->state, TaskState::kRunning);
  EXPECT_EQ(held->ToJson().at("params").at("password"), "******");
  auto none = OtherNode().Claim("n2", {"restore"}, 10s);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  std::vector<int64_t> seen;
  bool idle = true;
  TaskHandler handler = Observed(
      [&](TaskContext& ctx) -> Result<json::value> {
        idle = RunsAtIdlePriority();  // a command's task has the machine to itself
        ctx.Note({1, 3, "rows", "noted"});
        RETURN_IF_ERROR(ctx.Hold(1h));
        RETURN_IF_ERROR(ctx.Report({2, 3, "rows", "reported"}));
        return json::value("done");
      },
      [&](const TaskProgress& p) { seen.push_back(p.done); });
  auto ran = RunTask(*store_, "n1/cli/1", *held, handler, {}, nullptr);
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  EXPECT_EQ(ran->state, TaskState::kSucceeded);
  EXPECT_EQ(ran->result, "done");
  EXPECT_EQ(ran->progress.done, 2);
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(idle);

  // A node that starts again under its id fails the tasks it held when it stopped.
  auto before = store_->Start("backup", {}, std::nullopt, "n3", 1h);
  ASSERT_TRUE(before.ok());
  auto other = store_->Start("backup", {}, std::nullopt, "n4", 1h);
  ASSERT_TRUE(other.ok());
  auto failed = store_->FailRunningOf("n3", "node 'n3' restarted while it ran");
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(*failed, 1);
  EXPECT_EQ(Get(before->id).state, TaskState::kFailed);
  EXPECT_EQ(Get(before->id).error, "node 'n3' restarted while it ran");
  EXPECT_EQ(Get(other->id).state, TaskState::kRunning);
}

TEST(WorkerModeTest, ParsesNocoBasesForms) {
  auto all = core::ParseWorkerMode("");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->serves_requests && all->takes_tasks && all->TakesKind("backup"));
  auto web = core::ParseWorkerMode("!");
  EXPECT_TRUE(web->serves_requests);
  EXPECT_FALSE(web->takes_tasks);
  auto star = core::ParseWorkerMode("*");
  EXPECT_FALSE(star->serves_requests);
  EXPECT_TRUE(star->TakesKind("anything"));
  auto none = core::ParseWorkerMode("-");
  EXPECT_FALSE(none->serves_requests || none->takes_tasks);
  auto list = core::ParseWorkerMode(" backup ,restore");
  ASSERT_TRUE(list.ok());
  EXPECT_FALSE(list->serves_requests);
  EXPECT_TRUE(list->TakesKind("restore"));
  EXPECT_FALSE(list->TakesKind("export"));
  EXPECT_FALSE(core::ParseWorkerMode("backup,,restore").ok());
  EXPECT_FALSE(core::ParseWorkerMode("back up").ok());
}

}  // namespace
}  // namespace slipway::ops
