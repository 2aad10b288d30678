#include "api/services_impl.h"

#include <gtest/gtest.h>

#include <limits>

#include "db/cluster_state.h"
#include "db/migration.h"
#include "db/postgres/postgres_connection.h"
#include "db/sqlite/sqlite_connection.h"
#include "db/system_tables.h"
#include "test_database.h"

namespace slipway::api {
namespace {

using testing::DialectDatabase;

class RecordingAnnouncer final : public cluster::ChangeAnnouncer {
 public:
  Status AnnounceAndConfirm(int64_t epoch) override {
    announced.push_back(epoch);
    return Status::Ok();
  }
  Status WaitUntilDrained(int64_t epoch) override {
    drained.push_back(epoch);
    return Status::Ok();
  }
  Result<int64_t> DrainedFloor() override { return std::numeric_limits<int64_t>::max(); }
  Status PublishPluginMessage(std::string_view, const boost::json::value&) override {
    return Status::Ok();
  }
  std::vector<int64_t> announced;
  std::vector<int64_t> drained;
};

// The one change path (services.h), on a database that has just the cluster row and two tables
// with a foreign key between them.
class ServicesImplTest : public ::testing::TestWithParam<db::Dialect> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(db_.Create());
    pool_ = std::make_unique<db::Pool>(GetParam(), db_.factory(), 4);
    lock_ = db_.MakeLock();
    auto conn = pool_->Acquire();
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    ASSERT_TRUE(db::EnsureBookkeepingTables(**conn).ok());
    ASSERT_TRUE((*conn)
                    ->Exec("INSERT INTO " + std::string(db::kClusterTable) +
                           " (id, schema_version, state) VALUES (1, '0.1.0', 'running')")
                    .ok());
    ASSERT_TRUE((*conn)->ExecScript("CREATE TABLE parents (id INTEGER PRIMARY KEY)").ok());
    ASSERT_TRUE((*conn)
                    ->ExecScript("CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id "
                                 "INTEGER REFERENCES parents (id))")
                    .ok());
    ASSERT_TRUE((*conn)->ExecScript("INSERT INTO parents (id) VALUES (1)").ok());
    ASSERT_TRUE((*conn)->ExecScript("INSERT INTO children (id, parent_id) VALUES (1, 1)").ok());
    auto snowflake = core::SnowflakeGenerator::Create(0);
    ASSERT_TRUE(snowflake.ok());
    services_ = std::make_unique<ServicesImpl>(config_, *pool_, *lock_, std::move(*snowflake));
    services_->SetLoader([](db::Connection& c) -> Result<std::shared_ptr<const Snapshot>> {
      ASSIGN_OR_RETURN(db::ClusterRow row, db::ReadClusterRow(c));
      auto snap = std::make_shared<Snapshot>();
      snap->epoch = row.epoch;
      snap->cluster_state = row.state;
      return std::shared_ptr<const Snapshot>(std::move(snap));
    });
    services_->SetAnnouncer(&announcer_);
    ASSERT_TRUE(services_->ReloadSnapshot().ok());
  }
  int64_t StoredEpoch() {
    auto conn = pool_->Acquire();
    EXPECT_TRUE(conn.ok());
    auto row = db::ReadClusterRow(**conn);
    EXPECT_TRUE(row.ok());
    return row.ok() ? row->epoch : -1;
  }
  // Another writer, outside the change: true when it cannot write the cluster row (it is locked).
  bool ClusterRowIsLocked() {
    if (GetParam() == db::Dialect::kSqlite) {
      // SQLite locks the whole database for a writer: a second one cannot begin.
      db::SqliteOptions options;
      options.path = sqlite_path_;
      options.busy_timeout_ms = 50;
      auto other = db::OpenSqlite(options);
      if (!other.ok()) return false;
      return !(*other)->Begin().ok();
    }
    auto other = db_.Open();
    if (!other.ok()) return false;
    if (!(*other)->ExecScript("SET lock_timeout = '100ms'").ok()) return false;
    return !(*other)
                ->Exec("UPDATE " + std::string(db::kClusterTable) +
                       " SET message = 'x' WHERE id = 1")
                .ok();
  }

  DialectDatabase db_{GetParam()};
  std::filesystem::path sqlite_path_ = "";
  core::Config config_;
  std::unique_ptr<db::Pool> pool_;
  std::unique_ptr<db::SchemaLock> lock_;
  RecordingAnnouncer announcer_;
  std::unique_ptr<ServicesImpl> services_;
};

TEST_P(ServicesImplTest, TheEpochIsBumpedFirstWithTheClusterRowLockedThenAnnounced) {
  if (GetParam() == db::Dialect::kSqlite) {
    // The test database's file, for the second writer.
    auto conn = pool_->Acquire();
    auto rs = (*conn)->Query("PRAGMA database_list");
    ASSERT_TRUE(rs.ok());
    sqlite_path_ = std::string((*rs)->Text(0, 2));
  }
  int64_t seen_epoch = -1;
  bool locked = false;
  Status s = services_->ApplyChange(
      {"test"}, [&](db::Connection& conn, const Snapshot& now) -> Result<SnapshotUpdate> {
        ASSIGN_OR_RETURN(db::ClusterRow row, db::ReadClusterRow(conn));
        seen_epoch = row.epoch;
        EXPECT_EQ(now.epoch, row.epoch)
            << "the snapshot handed to the change is read after the bump";
        locked = ClusterRowIsLocked();
        RETURN_IF_ERROR(conn.Exec("INSERT INTO parents (id) VALUES (2)"));
        return SnapshotUpdate{};
      });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(seen_epoch, 1);
  EXPECT_TRUE(locked) << "another writer could change the cluster row during the change";
  EXPECT_EQ(StoredEpoch(), 1);
  EXPECT_EQ(services_->snapshot()->epoch, 1);
  EXPECT_EQ(announcer_.announced, std::vector<int64_t>{1});
  EXPECT_FALSE(ClusterRowIsLocked()) << "the lock outlived the change";
}

TEST_P(ServicesImplTest, AFailedChangeLeavesNothingAndTellsNobody) {
  Status s = services_->ApplyChange(
      {"test"}, [&](db::Connection& conn, const Snapshot&) -> Result<SnapshotUpdate> {
        RETURN_IF_ERROR(conn.Exec("INSERT INTO parents (id) VALUES (3)"));
        return InvalidArgument("refused halfway");
      });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(StoredEpoch(), 0);
  EXPECT_TRUE(announcer_.announced.empty());
  auto conn = pool_->Acquire();
  auto rs = (*conn)->Query("SELECT count(*) FROM parents WHERE id = 3");
  ASSERT_TRUE(rs.ok());
  EXPECT_EQ((*rs)->Int(0, 0), 0);
}

TEST_P(ServicesImplTest, TheSchemaLockIsHeldWhenTheChangeAsksForIt) {
  auto other = db_.MakeLock();
  bool free_during = true;
  Status s =
      services_->ApplyChange({"plugin", /*schema_lock=*/true},
                             [&](db::Connection&, const Snapshot&) -> Result<SnapshotUpdate> {
                               auto got = other->TryAcquire();
                               free_during = got.ok() && *got;
                               if (free_during) other->Release();
                               return SnapshotUpdate{};
                             });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(free_during);
  auto after = other->TryAcquire();
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(*after) << "the schema lock outlived the change";
  other->Release();
}

TEST_P(ServicesImplTest, RowsLeftPointingAtNothingRefuseTheChange) {
  Status s = services_->ApplyChange(
      {"test"}, [&](db::Connection& conn, const Snapshot&) -> Result<SnapshotUpdate> {
        // On SQLite foreign keys are off during a change (tables may be rebuilt): the check at
        // the end catches this. PostgreSQL refuses it at once.
        RETURN_IF_ERROR(conn.Exec("DELETE FROM parents WHERE id = 1"));
        return SnapshotUpdate{};
      });
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(StoredEpoch(), 0);
  auto conn = pool_->Acquire();
  auto rs = (*conn)->Query("SELECT count(*) FROM parents WHERE id = 1");
  ASSERT_TRUE(rs.ok());
  EXPECT_EQ((*rs)->Int(0, 0), 1);
}

INSTANTIATE_TEST_SUITE_P(Dialects, ServicesImplTest, ::testing::ValuesIn(testing::kAllDialects),
                         testing::DialectTestName);

}  // namespace
}  // namespace slipway::api
