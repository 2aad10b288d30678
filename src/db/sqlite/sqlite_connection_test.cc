#include "db/sqlite/sqlite_connection.h"

#include <gtest/gtest.h>

#include "db/catalog.h"
#include "test_support.h"

namespace slipway::db {
namespace {

TEST(SqlitePlaceholdersTest, TranslatesOutsideQuotesOnly) {
  EXPECT_EQ(TranslatePlaceholdersForSqlite("SELECT $1, '$2', \"$3\", $10"),
            "SELECT ?1, '$2', \"$3\", ?10");
  EXPECT_EQ(TranslatePlaceholdersForSqlite("SELECT 'it''s $1', $2"), "SELECT 'it''s $1', ?2");
}

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = OpenSqlite({dir_.path() / "sub" / "t.sqlite"});
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    conn_ = std::move(c).value();
    ASSERT_TRUE(conn_
                    ->ExecScript("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT "
                                 "NULL, score REAL, ok BOOLEAN)")
                    .ok());
  }
  testing::TempDir dir_;
  std::unique_ptr<Connection> conn_;
};

TEST_F(SqliteTest, BindsAndReadsEveryKind) {
  auto ins = conn_->Query("INSERT INTO t (name, score, ok) VALUES ($1, $2, $3) RETURNING id",
                          {std::string("a"), 2.5, true});
  ASSERT_TRUE(ins.ok()) << ins.status().ToString();
  EXPECT_EQ((*ins)->affected_rows(), 1);
  EXPECT_EQ((*ins)->Int(0, 0), 1);
  auto rs = conn_->Query("SELECT id, name, score, ok, NULL AS n FROM t WHERE name = $1",
                         {std::string("a")});
  ASSERT_TRUE(rs.ok());
  auto& r = **rs;
  ASSERT_EQ(r.row_count(), 1);
  EXPECT_EQ(r.column_name(1), "name");
  EXPECT_EQ(r.ColumnIndex("score"), 2);
  EXPECT_EQ(r.Kind(0, 0), CellKind::kInteger);
  EXPECT_EQ(r.Text(0, 0), "1");
  EXPECT_EQ(r.Text(0, 1), "a");
  EXPECT_DOUBLE_EQ(r.Double(0, 2), 2.5);
  EXPECT_TRUE(r.Bool(0, 3));
  EXPECT_TRUE(r.IsNull(0, 4));
}

TEST_F(SqliteTest, ClassifiesConstraintViolations) {
  ASSERT_TRUE(conn_->Query("INSERT INTO t (name) VALUES ('x')").ok());
  auto dup = conn_->Query("INSERT INTO t (name) VALUES ('x')");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  auto null = conn_->Query("INSERT INTO t (name) VALUES (NULL)");
  EXPECT_EQ(null.status().code(), StatusCode::kInvalidArgument);
  auto syntax = conn_->Query("SELEC nonsense");
  EXPECT_EQ(syntax.status().code(), StatusCode::kInternal);
}

TEST_F(SqliteTest, RollbackUndoesAndCommitKeeps) {
  {
    auto tx = Transaction::Begin(*conn_);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(conn_->Query("INSERT INTO t (name) VALUES ('gone')").ok());
  }  // destroyed without Commit: rolled back
  EXPECT_FALSE(conn_->in_transaction());
  {
    auto tx = Transaction::Begin(*conn_);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(conn_->Query("INSERT INTO t (name) VALUES ('kept')").ok());
    ASSERT_TRUE(tx->Commit().ok());
  }
  auto rs = conn_->Query("SELECT name FROM t ORDER BY id");
  ASSERT_TRUE(rs.ok());
  ASSERT_EQ((*rs)->row_count(), 1);
  EXPECT_EQ((*rs)->Text(0, 0), "kept");
}

TEST_F(SqliteTest, DeferredForeignKeysAreCheckedOnceAllRowsAreIn) {
  ASSERT_TRUE(conn_
                  ->ExecScript("CREATE TABLE node (id INTEGER PRIMARY KEY, parentId INTEGER "
                               "REFERENCES node (id) ON DELETE SET NULL)")
                  .ok());
  {
    // A child before its parent, in statements of their own: refused row by row...
    auto tx = Transaction::Begin(*conn_);
    ASSERT_TRUE(tx.ok());
    EXPECT_FALSE(conn_->Query("INSERT INTO node (id, parentId) VALUES (1, 2)").ok());
  }
  {
    // ...taken once the checks wait for the parent.
    auto tx = Transaction::Begin(*conn_);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(DeferForeignKeyChecks(*conn_).ok());
    ASSERT_TRUE(conn_->Query("INSERT INTO node (id, parentId) VALUES (1, 2)").ok());
    ASSERT_TRUE(conn_->Query("INSERT INTO node (id, parentId) VALUES (2, NULL)").ok());
    ASSERT_TRUE(CheckForeignKeys(*conn_, {"t", "node"}).ok());
    ASSERT_TRUE(tx->Commit().ok());
  }
  {
    // A row whose parent never comes is named before the commit.
    auto tx = Transaction::Begin(*conn_);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(DeferForeignKeyChecks(*conn_).ok());
    ASSERT_TRUE(conn_->Query("INSERT INTO node (id, parentId) VALUES (3, 9)").ok());
    Status s = CheckForeignKeys(*conn_, {"node"});
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(s.tag(), "FOREIGN_KEY_VIOLATION");
    EXPECT_NE(s.message().find("a row of 'node' (rowid 3) points at a row of 'node'"),
              std::string::npos)
        << s.message();
  }
  auto rs = conn_->Query("SELECT count(*) FROM node");
  ASSERT_TRUE(rs.ok());
  EXPECT_EQ((*rs)->Int(0, 0), 2);
}

TEST(PoolTest, ReusesConnectionsAndRollsBackLeftoverTransactions) {
  testing::TempDir dir;
  int opened = 0;
  Pool pool(
      Dialect::kSqlite,
      [&] {
        ++opened;
        return OpenSqlite({dir.path() / "p.sqlite"});
      },
      2);
  {
    auto c = pool.Acquire();
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE((*c)->ExecScript("CREATE TABLE x (v INTEGER)").ok());
    ASSERT_TRUE((*c)->Begin().ok());
    ASSERT_TRUE((*c)->Query("INSERT INTO x VALUES (1)").ok());
  }  // returned with an open transaction
  auto c = pool.Acquire();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(opened, 1);
  EXPECT_FALSE((*c)->in_transaction());
  auto rs = (*c)->Query("SELECT count(*) FROM x");
  ASSERT_TRUE(rs.ok());
  EXPECT_EQ((*rs)->Int(0, 0), 0);
}

TEST(PoolTest, AcquireTimesOutWhenAllAreLent) {
  testing::TempDir dir;
  Pool pool(
      Dialect::kSqlite, [&] { return OpenSqlite({dir.path() / "p.sqlite"}); }, 1);
  auto held = pool.Acquire();
  ASSERT_TRUE(held.ok());
  auto second = pool.Acquire(std::chrono::milliseconds(50));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("DB_POOL_MAX=1"), std::string::npos);
}

TEST(SqliteOpenTest, UnopenablePathIsUnavailableAndNamesIt) {
  auto c = OpenSqlite({"/proc/definitely/not/here.sqlite"});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(c.status().message().find("/proc/definitely/not/here.sqlite"), std::string::npos);
}

}  // namespace
}  // namespace slipway::db
