#include "db/postgres/postgres_connection.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "test_postgres.h"
#include "test_support.h"

namespace slipway::db {
namespace {

using testing::TestDatabase;
using testing::TestPostgres;

class PostgresConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(db_.Create());
    auto c = OpenPostgres(db_.options());
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    conn_ = std::move(c).value();
  }
  std::unique_ptr<ResultSet> Must(std::string_view sql, std::initializer_list<Value> params = {}) {
    auto rs = conn_->Query(sql, params);
    EXPECT_TRUE(rs.ok()) << sql << ": " << rs.status().ToString();
    return rs.ok() ? std::move(rs).value() : nullptr;
  }
  int64_t Count(const std::string& table) {
    auto rs = Must("SELECT count(*) FROM " + table);
    return rs ? rs->Int(0, 0) : -1;
  }
  Status Raise(const char* sqlstate) {
    return conn_->ExecScript(std::string("DO $$BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = '") +
                             sqlstate + "'; END$$");
  }

  TestDatabase db_;  // declared first: dropped after the connection closed
  std::unique_ptr<Connection> conn_;
};

TEST_F(PostgresConnectionTest, ReadsEveryCellKind) {
  auto rs = Must(
      "SELECT NULL::int AS nothing, 42::int2 AS small, -7::int4 AS medium, "
      "9007199254740993::int8 AS big, 26::oid AS an_oid, 1.5::float4 AS f4, 0.1::float8 AS f8, "
      "12345678901234567890.123456789::numeric AS exact, true AS yes, false AS no, "
      "'{\"a\": 1}'::json AS j, '{\"b\":[1,2]}'::jsonb AS jb, decode('00ff41', 'hex') AS bytes, "
      "'héllo'::text AS txt, '2024-01-02 03:04:05+02'::timestamptz AS ts, "
      "'Infinity'::float8 AS inf");
  ASSERT_TRUE(rs);
  ASSERT_EQ(rs->row_count(), 1);
  ASSERT_EQ(rs->column_count(), 16);
  EXPECT_EQ(rs->column_name(3), "big");
  EXPECT_EQ(rs->ColumnIndex("ts"), 14);
  EXPECT_EQ(rs->affected_rows(), 0);  // a SELECT changes nothing

  EXPECT_EQ(rs->Kind(0, 0), CellKind::kNull);
  EXPECT_TRUE(rs->IsNull(0, 0));
  EXPECT_EQ(rs->Kind(0, 1), CellKind::kInteger);
  EXPECT_EQ(rs->Int(0, 1), 42);
  EXPECT_EQ(rs->Kind(0, 2), CellKind::kInteger);
  EXPECT_EQ(rs->Int(0, 2), -7);
  EXPECT_EQ(rs->Kind(0, 3), CellKind::kInteger);
  EXPECT_EQ(rs->Int(0, 3), 9007199254740993);  // not representable as a double
  EXPECT_EQ(rs->Text(0, 3), "9007199254740993");
  EXPECT_EQ(rs->Kind(0, 4), CellKind::kInteger);
  EXPECT_EQ(rs->Int(0, 4), 26);
  EXPECT_EQ(rs->Kind(0, 5), CellKind::kReal);
  EXPECT_EQ(rs->Double(0, 5), 1.5);
  EXPECT_EQ(rs->Kind(0, 6), CellKind::kReal);
  EXPECT_EQ(rs->Double(0, 6), 0.1);
  EXPECT_EQ(rs->Kind(0, 7), CellKind::kText);  // numeric keeps every digit
  EXPECT_EQ(rs->Text(0, 7), "12345678901234567890.123456789");
  EXPECT_EQ(rs->Kind(0, 8), CellKind::kBool);
  EXPECT_TRUE(rs->Bool(0, 8));
  EXPECT_EQ(rs->Int(0, 8), 1);
  EXPECT_EQ(rs->Kind(0, 9), CellKind::kBool);
  EXPECT_FALSE(rs->Bool(0, 9));
  EXPECT_EQ(rs->Kind(0, 10), CellKind::kJson);
  EXPECT_EQ(rs->Text(0, 10), "{\"a\": 1}");
  EXPECT_EQ(rs->Kind(0, 11), CellKind::kJson);
  EXPECT_EQ(rs->Text(0, 11), "{\"b\": [1, 2]}");
  EXPECT_EQ(rs->Kind(0, 12), CellKind::kBlob);
  EXPECT_EQ(rs->Text(0, 12), std::string_view("\x00\xff"
                                              "A",
                                              3));
  EXPECT_EQ(rs->Kind(0, 13), CellKind::kText);
  EXPECT_EQ(rs->Text(0, 13), "héllo");
  EXPECT_EQ(rs->Kind(0, 14), CellKind::kText);
  EXPECT_EQ(rs->Text(0, 14), "2024-01-02 01:04:05+00");  // session is UTC, ISO dates
  EXPECT_EQ(rs->Double(0, 15), std::numeric_limits<double>::infinity());
}

TEST_F(PostgresConnectionTest, ParametersRoundTripExactly) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  const int64_t min = std::numeric_limits<int64_t>::min();
  const double third = 1.0 / 3;
  const std::string tricky = "it's \"quoted\" $1 \\ ; DROP TABLE x; --";
  auto rs = Must(
      "SELECT $1::int8, $2::int8, $3::float8, $4::float8, $5::bool, $6::bool, $7::text, "
      "$8::int4 IS NULL, $9::text",
      {max, min, third, 1e300, true, false, tricky, Null(), std::string("")});
  ASSERT_TRUE(rs);
  EXPECT_EQ(rs->Int(0, 0), max);
  EXPECT_EQ(rs->Int(0, 1), min);
  EXPECT_EQ(rs->Double(0, 2), third);
  EXPECT_EQ(rs->Double(0, 3), 1e300);
  EXPECT_TRUE(rs->Bool(0, 4));
  EXPECT_FALSE(rs->Bool(0, 5));
  EXPECT_EQ(rs->Text(0, 6), tricky);
  EXPECT_TRUE(rs->Bool(0, 7));
  EXPECT_EQ(rs->Kind(0, 8), CellKind::kText);  // an empty string is not NULL
  EXPECT_EQ(rs->Text(0, 8), "");
}

TEST_F(PostgresConnectionTest, CountsAffectedRows) {
  ASSERT_TRUE(conn_->ExecScript("CREATE TABLE t (id int PRIMARY KEY, v text)").ok());
  auto ins = Must("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')");
  ASSERT_TRUE(ins);
  EXPECT_EQ(ins->affected_rows(), 3);
  auto upd =
      Must("UPDATE t SET v = $1 WHERE id >= $2 RETURNING id", {std::string("z"), int64_t{2}});
  ASSERT_TRUE(upd);
  EXPECT_EQ(upd->affected_rows(), 2);
  EXPECT_EQ(upd->row_count(), 2);
  auto del = Must("DELETE FROM t WHERE id = $1", {int64_t{9}});
  ASSERT_TRUE(del);
  EXPECT_EQ(del->affected_rows(), 0);
}

TEST_F(PostgresConnectionTest, MapsConstraintViolations) {
  ASSERT_TRUE(conn_
                  ->ExecScript("CREATE TABLE p (id int PRIMARY KEY, name text NOT NULL, "
                               "parent int REFERENCES p (id), n int CHECK (n > 0))")
                  .ok());
  ASSERT_TRUE(Must("INSERT INTO p (id, name) VALUES (1, 'a')"));

  auto dup =
      conn_->Query("INSERT INTO p (id, name) VALUES ($1, $2)", {int64_t{1}, std::string("b")});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(dup.status().tag(), "UNIQUE_VIOLATION");
  EXPECT_NE(dup.status().message().find("duplicate key"), std::string::npos);
  EXPECT_NE(dup.status().message().find("Key (id)=(1)"), std::string::npos)  // the DETAIL
      << dup.status().message();

  auto null = conn_->Query("INSERT INTO p (id, name) VALUES ($1, $2)", {int64_t{2}, Null()});
  EXPECT_EQ(null.status().code(), StatusCode::kInvalidArgument) << null.status().ToString();

  auto fk = conn_->Query("INSERT INTO p (id, name, parent) VALUES (3, 'c', 99)");
  EXPECT_EQ(fk.status().code(), StatusCode::kFailedPrecondition) << fk.status().ToString();
  EXPECT_EQ(fk.status().tag(), "FOREIGN_KEY_VIOLATION");

  auto check = conn_->Query("INSERT INTO p (id, name, n) VALUES (4, 'd', -1)");
  EXPECT_EQ(check.status().code(), StatusCode::kInvalidArgument) << check.status().ToString();

  auto data = conn_->Query("SELECT $1::int", {std::string("not a number")});
  EXPECT_EQ(data.status().code(), StatusCode::kInvalidArgument) << data.status().ToString();
  auto divide = conn_->Query("SELECT 1 / 0");
  EXPECT_EQ(divide.status().code(), StatusCode::kInvalidArgument) << divide.status().ToString();
  EXPECT_EQ(Count("p"), 1);
  EXPECT_TRUE(conn_->healthy());
}

TEST_F(PostgresConnectionTest, MapsWrongSqlToInternal) {
  auto syntax = conn_->Query("SELEC 1");
  EXPECT_EQ(syntax.status().code(), StatusCode::kInternal);
  EXPECT_NE(syntax.status().message().find("syntax error"), std::string::npos)
      << syntax.status().message();
  EXPECT_EQ(conn_->ExecScript("CREATE TABLE (").code(), StatusCode::kInternal);
  EXPECT_EQ(conn_->Query("SELECT * FROM no_such_table").status().code(), StatusCode::kInternal);
  auto few = conn_->Query("SELECT $1::int + $2::int", {int64_t{1}});
  EXPECT_EQ(few.status().code(), StatusCode::kInternal);
  EXPECT_NE(few.status().message().find("expects 2 parameters"), std::string::npos);
  EXPECT_TRUE(conn_->healthy());  // none of these breaks the connection
  auto ok = Must("SELECT 1");
  ASSERT_TRUE(ok);
}

TEST_F(PostgresConnectionTest, MapsRetryableAndConnectionStates) {
  EXPECT_EQ(Raise("40001").code(), StatusCode::kAborted);  // serialization failure
  EXPECT_EQ(Raise("40P01").code(), StatusCode::kAborted);  // deadlock
  EXPECT_EQ(Raise("22012").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Raise("P0001").code(), StatusCode::kInternal);
  EXPECT_TRUE(conn_->healthy());
  Status shutdown = Raise("57P01");  // admin_shutdown: the session is going away
  EXPECT_EQ(shutdown.code(), StatusCode::kUnavailable);
  EXPECT_FALSE(conn_->healthy());
  EXPECT_EQ(conn_->Query("SELECT 1").status().code(), StatusCode::kUnavailable);
}

TEST_F(PostgresConnectionTest, RollbackUndoesAndCommitKeeps) {
  ASSERT_TRUE(conn_->ExecScript("CREATE TABLE t (id int PRIMARY KEY)").ok());
  EXPECT_FALSE(conn_->in_transaction());
  ASSERT_TRUE(conn_->Begin().ok());
  EXPECT_TRUE(conn_->in_transaction());
  ASSERT_TRUE(Must("INSERT INTO t VALUES (1)"));
  ASSERT_TRUE(conn_->Rollback().ok());
  EXPECT_FALSE(conn_->in_transaction());
  EXPECT_EQ(Count("t"), 0);

  {
    auto tx = Transaction::Begin(*conn_);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(Must("INSERT INTO t VALUES (2)"));
    ASSERT_TRUE(tx->Commit().ok());
  }
  EXPECT_EQ(Count("t"), 1);
  {
    auto tx = Transaction::Begin(*conn_);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(Must("INSERT INTO t VALUES (3)"));
  }  // destroyed without Commit
  EXPECT_FALSE(conn_->in_transaction());
  EXPECT_EQ(Count("t"), 1);
  EXPECT_EQ(conn_->Commit().code(), StatusCode::kInternal);  // no transaction
}

TEST_F(PostgresConnectionTest, CommitOfAFailedTransactionIsAborted) {
  ASSERT_TRUE(conn_->ExecScript("CREATE TABLE t (id int PRIMARY KEY)").ok());
  ASSERT_TRUE(conn_->Begin().ok());
  ASSERT_TRUE(Must("INSERT INTO t VALUES (1)"));
  EXPECT_EQ(conn_->Query("INSERT INTO t VALUES (1)").status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(conn_->in_transaction());  // failed, still to be ended
  Status commit = conn_->Commit();
  EXPECT_EQ(commit.code(), StatusCode::kAborted) << commit.ToString();
  EXPECT_FALSE(conn_->in_transaction());
  EXPECT_EQ(Count("t"), 0);
}

TEST_F(PostgresConnectionTest, PoolRollsBackAConnectionReturnedInATransaction) {
  ASSERT_TRUE(conn_->ExecScript("CREATE TABLE t (id int PRIMARY KEY)").ok());
  Pool pool(
      Dialect::kPostgres, [this] { return OpenPostgres(db_.options()); }, 1);
  {
    auto c = pool.Acquire();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_TRUE((*c)->Begin().ok());
    ASSERT_TRUE((*c)->Query("INSERT INTO t VALUES (1)").ok());
  }  // returned mid-transaction
  auto again = pool.Acquire(std::chrono::seconds(1));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE((*again)->in_transaction());
  // Had the transaction leaked, this row would stay invisible to other sessions.
  ASSERT_TRUE((*again)->Query("INSERT INTO t VALUES (2)").ok());
  auto ids = Must("SELECT string_agg(id::text, ',') FROM t");
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->Text(0, 0), "2");
}

TEST_F(PostgresConnectionTest, PreparesEachStatementOncePerConnection) {
  const std::string sql = "SELECT $1::int + 1 AS next";
  for (int64_t i = 0; i < 5; ++i) {
    auto rs = Must(sql, {i});
    ASSERT_TRUE(rs);
    EXPECT_EQ(rs->Int(0, 0), i + 1);
  }
  auto prepared = Must("SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", {sql});
  ASSERT_TRUE(prepared);
  EXPECT_EQ(prepared->Int(0, 0), 1);
}

TEST_F(PostgresConnectionTest, BoundsItsStatementCache) {
  for (int i = 0; i < 600; ++i) ASSERT_TRUE(Must("SELECT " + std::to_string(i)));
  auto rs = Must("SELECT count(*) FROM pg_prepared_statements");
  ASSERT_TRUE(rs);
  EXPECT_LE(rs->Int(0, 0), 512);
  EXPECT_GT(rs->Int(0, 0), 0);
  auto again = Must("SELECT 599");  // still answers after the cache was cleared
  ASSERT_TRUE(again);
  EXPECT_EQ(again->Int(0, 0), 599);
}

TEST_F(PostgresConnectionTest, PreparesAgainWhenTheServerForgotTheStatement) {
  ASSERT_TRUE(Must("SELECT $1::int * 2", {int64_t{2}}));
  ASSERT_TRUE(conn_->ExecScript("DEALLOCATE ALL").ok());
  auto rs = Must("SELECT $1::int * 2", {int64_t{21}});
  ASSERT_TRUE(rs);
  EXPECT_EQ(rs->Int(0, 0), 42);

  // A table whose columns changed after SELECT * was prepared.
  ASSERT_TRUE(conn_->ExecScript("CREATE TABLE w (a int); INSERT INTO w VALUES (1)").ok());
  auto before = Must("SELECT * FROM w");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->column_count(), 1);
  ASSERT_TRUE(conn_->ExecScript("ALTER TABLE w ADD COLUMN b int DEFAULT 7").ok());
  auto after = Must("SELECT * FROM w");
  ASSERT_TRUE(after);
  ASSERT_EQ(after->column_count(), 2);
  EXPECT_EQ(after->Int(0, 1), 7);
}

TEST_F(PostgresConnectionTest, ScriptsRunSeveralStatements) {
  ASSERT_TRUE(conn_
                  ->ExecScript("CREATE TABLE a (x int); CREATE TABLE b (y int); "
                               "INSERT INTO a VALUES (1), (2);")
                  .ok());
  EXPECT_EQ(Count("a"), 2);
  EXPECT_EQ(Count("b"), 0);
  EXPECT_TRUE(conn_->ExecScript("").ok());
  // A failing script stops at the failing statement and, as one implicit transaction, undoes
  // the statements before it.
  EXPECT_EQ(conn_->ExecScript("INSERT INTO a VALUES (3); INSERT INTO nope VALUES (1)").code(),
            StatusCode::kInternal);
  EXPECT_EQ(Count("a"), 2);
}

TEST(PostgresOpenTest, UnreachableServerIsUnavailableAndNamed) {
  PostgresOptions options;
  options.port = static_cast<uint16_t>(testing::FreePort());
  options.database = "somewhere";
  auto conn = OpenPostgres(options);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), StatusCode::kUnavailable);
  const std::string& m = conn.status().message();
  EXPECT_NE(m.find("127.0.0.1:" + std::to_string(options.port) + "/somewhere"), std::string::npos)
      << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;  // one line
}

TEST(PostgresOpenTest, OptionValuesAreNotParsedAsConninfo) {
  TestPostgres& server = TestPostgres::Shared();
  ASSERT_TRUE(server.Start());
  // A database name that would connect to "postgres" if it were spliced into a conninfo string.
  PostgresOptions options = server.options("nothere dbname=postgres");
  auto conn = OpenPostgres(options);
  ASSERT_FALSE(conn.ok());
  EXPECT_NE(conn.status().message().find("nothere dbname=postgres"), std::string::npos)
      << conn.status().message();
}

// The server restarts under an open connection: the next statement fails (and is not retried
// inside the connection), the connection reports itself broken, and the pool replaces it.
TEST(PostgresReconnectTest, PoolHandsOutAFreshConnectionAfterARestart) {
  TestPostgres server;  // its own server: restarting the shared one would disturb other tests
  ASSERT_TRUE(server.Start());
  Pool pool(
      Dialect::kPostgres, [&] { return OpenPostgres(server.options()); }, 1);
  {
    auto c = pool.Acquire();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_TRUE((*c)->Query("SELECT $1::int", {int64_t{1}}).ok());
    ASSERT_TRUE(server.Restart());
    auto failed = (*c)->Query("SELECT $1::int", {int64_t{1}});
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable) << failed.status().ToString();
    EXPECT_FALSE((*c)->healthy());
    EXPECT_EQ((*c)->Query("SELECT 1").status().code(), StatusCode::kUnavailable);
  }
  auto fresh = pool.Acquire(std::chrono::seconds(5));
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_TRUE((*fresh)->healthy());
  auto rs = (*fresh)->Query("SELECT $1::int", {int64_t{5}});
  ASSERT_TRUE(rs.ok()) << rs.status().ToString();
  EXPECT_EQ((*rs)->Int(0, 0), 5);

  // With the server down, Acquire says so instead of handing out a dead connection.
  fresh = PooledConnection();
  ASSERT_TRUE(server.Stop());
  {
    auto idle = pool.Acquire(std::chrono::seconds(1));
    ASSERT_TRUE(idle.ok());  // the idle connection is not known to be dead yet
    EXPECT_EQ((*idle)->Query("SELECT 1").status().code(), StatusCode::kUnavailable);
  }
  auto none = pool.Acquire(std::chrono::seconds(1));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(none.status().message().find(server.options().Describe()), std::string::npos)
      << none.status().message();
}

}  // namespace
}  // namespace slipway::db
