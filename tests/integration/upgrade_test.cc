// Upgrades for real, between real binaries: this version, a test-only next version with one
// extra migration (slipway-next) and one whose second extra migration fails
// (slipway-next-broken). Assertions look at the database itself, not only at exit codes.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/json.hpp>

#include "node.h"

namespace slipway::testing {
namespace {

using namespace std::chrono_literals;

// Direct access to the SQLite file, as an operator with the sqlite3 shell would have.
class Db {
 public:
  explicit Db(const std::filesystem::path& p) { sqlite3_open(p.c_str(), &db_); }
  ~Db() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
  }
  // First column of every row, as text ("NULL" for null).
  std::vector<std::string> Column(const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return {"<error>"};
    while (sqlite3_step(st) == SQLITE_ROW) {
      auto t = sqlite3_column_text(st, 0);
      out.emplace_back(t ? reinterpret_cast<const char*>(t) : "NULL");
    }
    sqlite3_finalize(st);
    return out;
  }
  std::string One(const std::string& sql) {
    auto c = Column(sql);
    return c.empty() ? "<none>" : c[0];
  }
  bool HasTable(const std::string& t) {
    return One("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='" + t + "'") == "1";
  }
  bool HasColumn(const std::string& table, const std::string& col) {
    return One("SELECT count(*) FROM pragma_table_info('" + table + "') WHERE name='" + col +
               "'") == "1";
  }

 private:
  sqlite3* db_ = nullptr;
};

class UpgradeTest : public ::testing::Test {
 protected:
  std::filesystem::path storage() const { return dir_.path() / "storage"; }
  std::filesystem::path db_file() const { return storage() / "db" / "slipway.sqlite"; }

  // Installs with this version and writes application data the upgrade must keep.
  void InstallOldWithData() {
    auto r = RunCommand({SLIPWAY_BIN, "install", "--storage", storage().string()}, {}, dir_.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Db db(db_file());
    db.Exec(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL);"
        "INSERT INTO orders (total) VALUES (10.5), (20.25), (30);"
        // an added, disabled plugin: its row must survive the upgrade
        "INSERT INTO slipway_plugins (name, version, enabled) VALUES ('acme', '1.0.0', 0);");
    applied_before_ = db.Column("SELECT owner || '/' || name FROM slipway_migrations ORDER BY 1");
    ASSERT_FALSE(applied_before_.empty());
  }

  void ExpectOldSchemaIntact() {
    Db db(db_file());
    EXPECT_EQ(db.One("SELECT schema_version FROM slipway_cluster"), SLIPWAY_VERSION);
    EXPECT_FALSE(db.HasTable("upgrade_marker"));
    EXPECT_FALSE(db.HasColumn("slipway_plugins", "description"));
    EXPECT_EQ(db.Column("SELECT owner || '/' || name FROM slipway_migrations ORDER BY 1"),
              applied_before_);
    EXPECT_EQ(db.One("SELECT sum(total) FROM orders"), "60.75");
  }

  TempDir dir_;
  std::vector<std::string> applied_before_;
};

TEST_F(UpgradeTest, ServeUpgradesAnOlderDatabaseAndKeepsItsData) {
  InstallOldWithData();
  Node next({.binary = SLIPWAY_NEXT_BIN, .storage = storage()}, "next");
  ASSERT_TRUE(next.WaitHealthy()) << next.process().Stdout();
  auto info = boost::json::parse(next.Get("/api/app:getInfo").body).at("data");
  EXPECT_EQ(info.at("version").as_string(), SLIPWAY_NEXT_VERSION);
  EXPECT_EQ(info.at("schemaVersion").as_string(), SLIPWAY_NEXT_VERSION);
  EXPECT_EQ(next.Stop(), 0);

  Db db(db_file());
  EXPECT_EQ(db.One("SELECT schema_version FROM slipway_cluster"), SLIPWAY_NEXT_VERSION);
  EXPECT_EQ(db.One("SELECT note FROM upgrade_marker WHERE id = 1"), "added by the next version");
  EXPECT_TRUE(db.HasColumn("slipway_plugins", "description"));
  EXPECT_EQ(db.One("SELECT version FROM slipway_migrations WHERE name = '9001-upgrade-marker'"),
            SLIPWAY_NEXT_VERSION);
  EXPECT_EQ(
      db.One("SELECT length(checksum) FROM slipway_migrations WHERE name = '9001-upgrade-marker'"),
      "64");
  // Application data and the earlier bookkeeping survived.
  EXPECT_EQ(db.Column("SELECT total FROM orders ORDER BY id"),
            (std::vector<std::string>{"10.5", "20.25", "30.0"}));
  EXPECT_EQ(db.One("SELECT version FROM slipway_plugins WHERE name = 'acme'"), "1.0.0");
  for (const auto& id : applied_before_) {
    EXPECT_EQ(
        db.One("SELECT count(*) FROM slipway_migrations WHERE owner || '/' || name = '" + id + "'"),
        "1");
  }
}

TEST_F(UpgradeTest, UpgradeCommandDoesTheSameWithoutServing) {
  InstallOldWithData();
  auto r =
      RunCommand({SLIPWAY_NEXT_BIN, "upgrade", "--storage", storage().string()}, {}, dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(std::string("database is at slipway ") + SLIPWAY_NEXT_VERSION),
            std::string::npos);
  Db db(db_file());
  EXPECT_EQ(db.One("SELECT schema_version FROM slipway_cluster"), SLIPWAY_NEXT_VERSION);
  EXPECT_TRUE(db.HasTable("upgrade_marker"));
  // A second run has nothing to do and says so the same way.
  EXPECT_EQ(
      RunCommand({SLIPWAY_NEXT_BIN, "upgrade", "--storage", storage().string()}, {}, dir_.path())
          .exit_code,
      0);
}

TEST_F(UpgradeTest, OlderBinaryRefusesNewerDatabase) {
  InstallOldWithData();
  ASSERT_EQ(
      RunCommand({SLIPWAY_NEXT_BIN, "upgrade", "--storage", storage().string()}, {}, dir_.path())
          .exit_code,
      0);
  Db before(db_file());
  std::string migrations_before = before.One("SELECT count(*) FROM slipway_migrations");

  int port = FreePort();
  auto r = RunCommand({SLIPWAY_BIN, "serve", "--host", "127.0.0.1", "--port", std::to_string(port),
                       "--storage", storage().string()},
                      {}, dir_.path(), 20s);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(std::string("schema is at version ") + SLIPWAY_NEXT_VERSION +
                       ", newer than this binary (" + SLIPWAY_VERSION + ")"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(HttpGet(port, "/api/__health_check").status, 0);  // it never listened

  auto up = RunCommand({SLIPWAY_BIN, "upgrade", "--storage", storage().string()}, {}, dir_.path());
  EXPECT_EQ(up.exit_code, 3);
  Db after(db_file());
  EXPECT_EQ(after.One("SELECT schema_version FROM slipway_cluster"), SLIPWAY_NEXT_VERSION);
  EXPECT_EQ(after.One("SELECT count(*) FROM slipway_migrations"), migrations_before);
}

TEST_F(UpgradeTest, FailingMigrationRollsBackAndTheNodeReportsIt) {
  InstallOldWithData();
  Node broken({.binary = SLIPWAY_BROKEN_BIN, .storage = storage()}, "broken");
  // The node stays up in state error: health fails, the API answers 503 naming the migration.
  HttpResult body;
  for (int i = 0; i < 200; ++i) {
    body = broken.Get("/api/app:getInfo");
    if (body.body.find("APP_ERROR") != std::string::npos) break;
    std::this_thread::sleep_for(25ms);
  }
  ASSERT_EQ(body.status, 503) << body.body;
  auto e = boost::json::parse(body.body).at("error").as_object();
  EXPECT_EQ(e.at("code").as_string(), "APP_ERROR");
  EXPECT_TRUE(e.at("maintaining").as_bool());
  std::string message(e.at("message").as_string());
  EXPECT_NE(message.find(std::string("core/") + SLIPWAY_NEXT_VERSION + "/9002-broken"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("rolled back"), std::string::npos) << message;
  EXPECT_FALSE(body.headers["retry-after"].empty());
  auto health = broken.Get("/api/__health_check");
  EXPECT_EQ(health.status, 503);
  EXPECT_NE(health.body.find("error"), std::string::npos);
  EXPECT_EQ(broken.Stop(), 0);

  ExpectOldSchemaIntact();  // 9001 ran before 9002 failed, and was rolled back with it

  // The same through the CLI: exit 5, one line, same intact schema; the old binary still serves.
  auto r =
      RunCommand({SLIPWAY_BROKEN_BIN, "upgrade", "--storage", storage().string()}, {}, dir_.path());
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_NE(r.err.find("9002-broken"), std::string::npos);
  ExpectOldSchemaIntact();
  Node old({.storage = storage()}, "old");
  EXPECT_TRUE(old.WaitHealthy());
  old.Stop();
}

TEST_F(UpgradeTest, NoAutoUpgradeRefusesToServeAnOlderSchema) {
  InstallOldWithData();
  int port = FreePort();
  auto r = RunCommand({SLIPWAY_NEXT_BIN, "serve", "--no-auto-upgrade", "--host", "127.0.0.1",
                       "--port", std::to_string(port), "--storage", storage().string()},
                      {}, dir_.path(), 20s);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("run slipway upgrade"), std::string::npos) << r.err;
  ExpectOldSchemaIntact();
}

}  // namespace
}  // namespace slipway::testing
