#include "ops/installer.h"

#include <gtest/gtest.h>

#include "db/catalog.h"
#include "db/core_migrations.h"
#include "test_database.h"

namespace slipway::ops {
namespace {

using testing::SqlMigration;

// Every case runs on SQLite and on PostgreSQL, each in a fresh database.
class InstallerTest : public ::testing::TestWithParam<db::Dialect> {
 protected:
  InstallerTest() : db_(GetParam()) {}
  void SetUp() override {
    ASSERT_TRUE(db_.Create());
    pool_ = std::make_unique<db::Pool>(GetParam(), db_.factory(), 2);
    lock_ = db_.MakeLock();
  }

  Installer Make(const char* version, std::vector<db::Migration> extra = {}) {
    InstallerOptions o;
    o.binary_version = *core::SemVer::Parse(version);
    o.migrations = db::CoreMigrations();
    for (auto& m : extra) o.migrations.push_back(std::move(m));
    o.install_migrations = o.migrations;
    o.lock_timeout = std::chrono::milliseconds(200);
    return Installer(*pool_, *lock_, std::move(o));
  }
  std::string SchemaVersion() {
    auto info = Make("0.1.0").Inspect();
    return info.ok() ? info->schema_version : "error";
  }
  bool Exists(const char* table) {
    auto c = pool_->Acquire();
    return c.ok() && *db::TableExists(**c, table);
  }

  testing::DialectDatabase db_;  // declared first: outlives the pool and the lock
  std::unique_ptr<db::Pool> pool_;
  std::unique_ptr<db::SchemaLock> lock_;
};

INSTANTIATE_TEST_SUITE_P(Dialects, InstallerTest, ::testing::ValuesIn(testing::kAllDialects),
                         testing::DialectTestName);

TEST_P(InstallerTest, InspectSeesEmptyCurrentOlderNewer) {
  EXPECT_EQ(Make("0.1.0").Inspect()->status, SchemaStatus::kEmpty);
  ASSERT_TRUE(Make("0.1.0").Install(false).ok());
  EXPECT_EQ(Make("0.1.0").Inspect()->status, SchemaStatus::kCurrent);
  EXPECT_EQ(Make("0.2.0").Inspect()->status, SchemaStatus::kOlder);
  EXPECT_EQ(Make("0.0.9").Inspect()->status, SchemaStatus::kNewer);
}

TEST_P(InstallerTest, InstallRefusesAnInstalledDatabaseUnlessForced) {
  ASSERT_TRUE(Make("0.1.0").Install(false).ok());
  Status again = Make("0.1.0").Install(false);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  {
    auto c = pool_->Acquire();
    ASSERT_TRUE((*c)->ExecScript("CREATE TABLE user_data (x INTEGER)").ok());
  }
  ASSERT_TRUE(Make("0.1.0").Install(true).ok());
  EXPECT_FALSE(Exists("user_data"));
  EXPECT_TRUE(Exists("slipway_plugins"));
}

// A database installed before the cluster's lease tables existed gets them at the next start of
// a node of the same version (NodeProcedures::StartUp runs Upgrade for a current schema too).
TEST_P(InstallerTest, ADatabaseFromBeforeTheLeaseTablesGetsThemAtTheNextStart) {
  InstallerOptions o;
  o.binary_version = *core::SemVer::Parse("0.1.0");
  for (const db::Migration& m : db::CoreMigrations()) {
    if (m.name != "0005-cluster-leases") o.install_migrations.push_back(m);
  }
  o.migrations = o.install_migrations;
  ASSERT_TRUE(Installer(*pool_, *lock_, std::move(o)).Install(false).ok());
  ASSERT_FALSE(Exists("slipway_worker_ids"));
  ASSERT_TRUE(Make("0.1.0").Upgrade().ok());
  EXPECT_TRUE(Exists("slipway_worker_ids"));
  EXPECT_TRUE(Exists("slipway_locks"));
  EXPECT_EQ(SchemaVersion(), "0.1.0");
}

TEST_P(InstallerTest, UpgradeAppliesNewMigrationsAndBumpsTheVersion) {
  ASSERT_TRUE(Make("0.1.0").Install(false).ok());
  ASSERT_TRUE(Make("0.2.0", {SqlMigration("0.2.0", "add", "CREATE TABLE added (x INTEGER)")})
                  .Upgrade()
                  .ok());
  EXPECT_TRUE(Exists("added"));
  EXPECT_EQ(SchemaVersion(), "0.2.0");
}

TEST_P(InstallerTest, FailedUpgradeRollsEverythingBack) {
  ASSERT_TRUE(Make("0.1.0").Install(false).ok());
  Status s = Make("0.2.0", {SqlMigration("0.2.0", "a-good", "CREATE TABLE added (x INTEGER)"),
                            SqlMigration("0.2.0", "b-bad", "INSERT INTO missing VALUES (1)")})
                 .Upgrade();
  ASSERT_EQ(s.code(), StatusCode::kAborted);
  EXPECT_EQ(s.tag(), "MIGRATION_FAILED");
  EXPECT_NE(s.message().find("core/0.2.0/b-bad"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("rolled back"), std::string::npos);
  EXPECT_FALSE(Exists("added"));  // the good migration before it was undone too
  EXPECT_EQ(SchemaVersion(), "0.1.0");
}

TEST_P(InstallerTest, NewerDatabaseIsNeverWritten) {
  ASSERT_TRUE(Make("0.2.0").Install(false).ok());
  Status s =
      Make("0.1.0", {SqlMigration("0.1.0", "x", "CREATE TABLE should_not (x INTEGER)")}).Upgrade();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.tag(), "APP_OUTDATED");
  EXPECT_FALSE(Exists("should_not"));
  EXPECT_EQ(SchemaVersion(), "0.2.0");
}

TEST_P(InstallerTest, WaitsForTheSchemaLock) {
  auto other = db_.MakeLock();
  ASSERT_TRUE(other->Acquire(std::chrono::milliseconds(100)).ok());
  Status s = Make("0.1.0").Install(false);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(Make("0.1.0").Inspect()->status, SchemaStatus::kEmpty);
}

TEST_P(InstallerTest, ReportsProgress) {
  InstallerOptions o;
  o.binary_version = core::SemVer(0, 1, 0);
  o.migrations = db::CoreMigrations();
  o.install_migrations = o.migrations;
  std::vector<std::pair<int, int>> steps;
  o.progress = [&](int done, int total, std::string_view) { steps.emplace_back(done, total); };
  ASSERT_TRUE(Installer(*pool_, *lock_, o).Install(false).ok());
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.front().first, 0);
  EXPECT_EQ(steps.back().first, steps.back().second);
}

}  // namespace
}  // namespace slipway::ops
