#include "db/migration.h"

#include <gtest/gtest.h>

#include "core/semver.h"
#include "db/catalog.h"
#include "db/core_migrations.h"
#include "test_database.h"

namespace slipway::db {
namespace {

using testing::SqlMigration;

// Every case runs on SQLite and on PostgreSQL, each in a fresh database.
class MigrationTest : public ::testing::TestWithParam<Dialect> {
 protected:
  MigrationTest() : db_(GetParam()) {}
  void SetUp() override {
    ASSERT_TRUE(db_.Create());
    auto c = db_.Open();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    conn_ = std::move(c).value();
    ASSERT_TRUE(EnsureBookkeepingTables(*conn_).ok());
  }
  Status ApplyAll(const std::vector<Migration>& all) {
    ASSIGN_OR_RETURN(auto pending, PendingMigrations(*conn_, all));
    ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*conn_));
    for (const Migration* m : pending) RETURN_IF_ERROR(ApplyMigration(*conn_, *m));
    return tx.Commit();
  }
  testing::DialectDatabase db_;  // declared first: outlives the connection
  std::unique_ptr<Connection> conn_;
};

INSTANTIATE_TEST_SUITE_P(Dialects, MigrationTest, ::testing::ValuesIn(testing::kAllDialects),
                         testing::DialectTestName);

TEST_P(MigrationTest, PendingAreOrderedByVersionThenName) {
  std::vector<Migration> all = {SqlMigration("0.10.0", "a", "SELECT 1"),
                                SqlMigration("0.2.0", "b", "SELECT 1"),
                                SqlMigration("0.2.0", "a", "SELECT 1")};
  auto pending = PendingMigrations(*conn_, all);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_EQ((*pending)[0]->Id(), "core/0.2.0/a");
  EXPECT_EQ((*pending)[1]->Id(), "core/0.2.0/b");
  EXPECT_EQ((*pending)[2]->Id(), "core/0.10.0/a");
}

TEST_P(MigrationTest, EachRunsOnceAndIsRecordedWithItsChecksum) {
  std::vector<Migration> all = {SqlMigration("0.1.0", "t", "CREATE TABLE t1 (x INTEGER)")};
  ASSERT_TRUE(ApplyAll(all).ok());
  ASSERT_TRUE(ApplyAll(all).ok());  // second time: nothing pending, CREATE TABLE not rerun
  auto applied = ListApplied(*conn_);
  ASSERT_TRUE(applied.ok());
  ASSERT_EQ(applied->size(), 1u);
  EXPECT_EQ((*applied)[0].checksum, all[0].Checksum(GetParam()));
  EXPECT_EQ((*applied)[0].checksum.size(), 64u);
}

TEST_P(MigrationTest, ChangedChecksumOfAnAppliedMigrationIsRefused) {
  ASSERT_TRUE(ApplyAll({SqlMigration("0.1.0", "t", "CREATE TABLE t1 (x INTEGER)")}).ok());
  auto pending =
      PendingMigrations(*conn_, {SqlMigration("0.1.0", "t", "CREATE TABLE t1 (x TEXT)")});
  ASSERT_FALSE(pending.ok());
  EXPECT_EQ(pending.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(pending.status().tag(), "MIGRATION_CHECKSUM_MISMATCH");
  EXPECT_NE(pending.status().message().find("core/0.1.0/t"), std::string::npos);
}

TEST_P(MigrationTest, CodeMigrationsChecksumTheirRevision) {
  Migration m;
  m.owner = "p";
  m.version = "1.0.0";
  m.name = "code";
  m.run = [](Connection&) { return Status::Ok(); };
  m.revision = "1";
  std::string one = m.Checksum(GetParam());
  m.revision = "2";
  EXPECT_NE(one, m.Checksum(GetParam()));
}

TEST_P(MigrationTest, FailureNamesTheMigrationAndOutsideTransactionIsRefused) {
  Migration bad = SqlMigration("0.1.0", "bad", "INSERT INTO nope VALUES (1)");
  EXPECT_EQ(ApplyMigration(*conn_, bad).code(), StatusCode::kInternal);  // no transaction
  ASSERT_TRUE(conn_->Begin().ok());
  Status s = ApplyMigration(*conn_, bad);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("core/0.1.0/bad"), std::string::npos);
  ASSERT_TRUE(conn_->Rollback().ok());
}

TEST(CoreMigrationsTest, HaveUniqueNamesAndValidVersions) {
  std::set<std::string> names;
  for (const Migration& m : CoreMigrations()) {
    EXPECT_TRUE(names.insert(m.name).second) << m.name;
    EXPECT_TRUE(core::SemVer::Parse(m.version).ok()) << m.Id();
    EXPECT_FALSE(m.sqlite_sql.empty() && !m.run) << m.Id();
    EXPECT_FALSE(m.postgres_sql.empty() && !m.run) << m.Id();
  }
}

}  // namespace
}  // namespace slipway::db
