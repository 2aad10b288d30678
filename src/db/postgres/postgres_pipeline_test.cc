#include "db/postgres/postgres_pipeline.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "core/fiber.h"
#include "db/database.h"
#include "test_postgres.h"

namespace slipway::db {
namespace {

using fiber::FiberThread;
using testing::TestDatabase;
using testing::TestPostgres;

TEST(CountPlaceholdersTest, FindsTheHighestOutsideQuotes) {
  EXPECT_EQ(CountPlaceholders("SELECT 1"), 0);
  EXPECT_EQ(CountPlaceholders("SELECT * FROM t WHERE a = $1 AND b IN ($3, $2)"), 3);
  EXPECT_EQ(CountPlaceholders("SELECT '$9', \"a$8\" FROM t WHERE x = $12"), 12);
  EXPECT_EQ(CountPlaceholders("SELECT 'it''s $5' WHERE y = $1"), 1);
}

class PostgresPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(db_.Create());
    pipeline_ = MakePostgresPipeline(db_.options());
  }

  TestDatabase db_;
  std::unique_ptr<Connection> pipeline_;
  FiberThread thread_;
};

// Fifty fibers reading at once share one backend, and each gets its own answer.
TEST_F(PostgresPipelineTest, ConcurrentReadsShareOneConnection) {
  std::vector<int64_t> got(50, -1);
  std::set<int64_t> backends;
  std::vector<std::function<void()>> tasks;
  for (int i = 0; i < 50; ++i) {
    tasks.push_back([&, i] {
      auto rs = pipeline_->Query("SELECT $1::int * 2, pg_backend_pid()", {int64_t{i}});
      ASSERT_TRUE(rs.ok()) << rs.status().ToString();
      got[i] = (*rs)->Int(0, 0);
      backends.insert((*rs)->Int(0, 1));
    });
  }
  thread_.RunAll(std::move(tasks));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(got[i], 2 * i);
  EXPECT_EQ(backends.size(), 1u);
}

// A failing statement fails alone: the reads batched behind it (which the server skips) are sent
// again and succeed.
TEST_F(PostgresPipelineTest, AnErrorFailsOnlyItsOwnStatement) {
  std::vector<Status> status(20);
  std::vector<int64_t> got(20, -1);
  std::vector<std::function<void()>> tasks;
  for (int i = 0; i < 20; ++i) {
    tasks.push_back([&, i] {
      // i = 5 divides by zero.
      auto rs = pipeline_->Query("SELECT 100 / $1::int", {int64_t{i == 5 ? 0 : 1}});
      status[i] = rs.status();
      if (rs.ok()) got[i] = (*rs)->Int(0, 0);
    });
  }
  thread_.RunAll(std::move(tasks));
  for (int i = 0; i < 20; ++i) {
    if (i == 5) {
      EXPECT_EQ(status[i].code(), StatusCode::kInvalidArgument) << status[i].ToString();
      EXPECT_NE(status[i].message().find("division by zero"), std::string::npos);
    } else {
      EXPECT_TRUE(status[i].ok()) << i << ": " << status[i].ToString();
      EXPECT_EQ(got[i], 100);
    }
  }
}

TEST_F(PostgresPipelineTest, BadSqlIsInternalAndTheNextStatementWorks) {
  Status bad, missing;
  int64_t after = 0;
  thread_.RunAll({[&] {
    bad = pipeline_->Query("SELEC 1").status();
    missing = pipeline_->Query("SELECT * FROM no_such_table WHERE id = $1", {int64_t{1}}).status();
    auto rs = pipeline_->Query("SELECT $1::int", {int64_t{7}});
    ASSERT_TRUE(rs.ok()) << rs.status().ToString();
    after = (*rs)->Int(0, 0);
  }});
  EXPECT_EQ(bad.code(), StatusCode::kInternal) << bad.ToString();
  EXPECT_NE(bad.message().find("syntax error"), std::string::npos) << bad.message();
  EXPECT_EQ(missing.code(), StatusCode::kInternal) << missing.ToString();
  EXPECT_NE(missing.message().find("no_such_table"), std::string::npos) << missing.message();
  EXPECT_EQ(after, 7);
}

TEST_F(PostgresPipelineTest, RefusesWhatIsNotASingleRead) {
  EXPECT_EQ(pipeline_->Begin().code(), StatusCode::kInternal);
  EXPECT_EQ(pipeline_->ExecScript("SELECT 1").code(), StatusCode::kInternal);
  auto outside = pipeline_->Query("SELECT 1");  // not in a fiber
  EXPECT_EQ(outside.status().code(), StatusCode::kInternal);
  Status short_params;
  thread_.RunAll({[&] {
    short_params = pipeline_->Query("SELECT $1::int + $2::int", {int64_t{1}}).status();
  }});
  EXPECT_EQ(short_params.code(), StatusCode::kInternal);
  EXPECT_NE(short_params.message().find("expects 2 parameters"), std::string::npos);
}

// After DDL changes a table's columns, a statement prepared before is prepared again.
TEST_F(PostgresPipelineTest, PreparesAgainAfterTheTableChanged) {
  auto admin = OpenPostgres(db_.options());
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE((*admin)->ExecScript("CREATE TABLE t (id int); INSERT INTO t VALUES (1)").ok());
  int columns_before = 0, columns_after = 0;
  auto read = [&](int* columns) {
    thread_.RunAll({[&] {
      auto rs = pipeline_->Query("SELECT * FROM t WHERE id = $1", {int64_t{1}});
      ASSERT_TRUE(rs.ok()) << rs.status().ToString();
      *columns = (*rs)->column_count();
    }});
  };
  read(&columns_before);
  ASSERT_TRUE((*admin)->ExecScript("ALTER TABLE t ADD COLUMN name text").ok());
  read(&columns_after);
  EXPECT_EQ(columns_before, 1);
  EXPECT_EQ(columns_after, 2);
}

TEST(PostgresPipelineReconnectTest, ALostServerFailsTheReadAndTheNextOneReconnects) {
  TestPostgres server;  // its own server: restarting the shared one would disturb other tests
  ASSERT_TRUE(server.Start());
  auto pipeline = MakePostgresPipeline(server.options());
  FiberThread thread;
  auto read = [&]() {
    Result<int64_t> out = Internal("not run");
    thread.RunAll({[&] {
      auto rs = pipeline->Query("SELECT $1::int", {int64_t{3}});
      out = rs.ok() ? Result<int64_t>((*rs)->Int(0, 0)) : Result<int64_t>(rs.status());
    }});
    return out;
  };
  ASSERT_TRUE(read().ok());
  ASSERT_TRUE(server.Restart());
  auto failed = read();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable) << failed.status().ToString();
  auto again = read();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, 3);
  ASSERT_TRUE(server.Stop());
  auto down = read();
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable) << down.status().ToString();
}

// Fibers borrow from their thread's own connections: never more than `per_thread` at once, and
// a fiber that finds none free waits (without blocking the thread) instead of failing.
TEST_F(PostgresPipelineTest, FibersShareTheirThreadsConnections) {
  Pool pool(
      Dialect::kPostgres, [&] { return OpenPostgres(db_.options()); }, 1, /*per_thread=*/2);
  pool.SetReaderFactory([&] { return Result(MakePostgresPipeline(db_.options())); });
  std::set<int64_t> backends;
  int done = 0;
  std::vector<std::function<void()>> tasks;
  for (int i = 0; i < 8; ++i) {
    tasks.push_back([&] {
      auto conn = pool.Acquire();
      ASSERT_TRUE(conn.ok()) << conn.status().ToString();
      ASSERT_TRUE((*conn)->Begin().ok());  // a real connection: transactions work
      auto rs = (*conn)->Query("SELECT pg_backend_pid(), pg_sleep(0.02)");
      ASSERT_TRUE(rs.ok()) << rs.status().ToString();
      backends.insert((*rs)->Int(0, 0));
      ASSERT_TRUE((*conn)->Commit().ok());
      auto reader = pool.AcquireReader();
      ASSERT_TRUE(reader.ok());
      EXPECT_TRUE((*reader)->Query("SELECT 1").ok());
      ++done;
    });
  }
  thread_.RunAll(std::move(tasks));
  EXPECT_EQ(done, 8);
  EXPECT_LE(backends.size(), 2u);
  EXPECT_GE(backends.size(), 1u);
}

}  // namespace
}  // namespace slipway::db
