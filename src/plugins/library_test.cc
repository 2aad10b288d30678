#include "plugins/library.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "plugins/package.h"
#include "test_database.h"
#include "test_support.h"

namespace slipway::plugins {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// Records what a plugin registers.
class RecordingContext : public PluginContext {
 public:
  struct Action {
    ActionHandler handler;
    Access access;
  };
  struct Hook {
    std::string collection;
    RecordEvent event;
    RecordHook hook;
  };

  std::string_view plugin_name() const override { return "hello"; }
  std::string_view app_version() const override { return "0.1.0"; }
  Status AddCollection(const json::object& definition) override {
    collections.push_back(definition);
    return Status::Ok();
  }

  void AddMigration(PluginMigration migration) override {
    migrations.push_back(std::move(migration));
  }
  void AddAction(std::string resource, std::string action, ActionHandler handler,
                 Access access) override {
    actions[resource + ":" + action] = {std::move(handler), access};
  }
  void OnRecord(std::string collection, RecordEvent event, RecordHook hook) override {
    hooks.push_back({std::move(collection), event, std::move(hook)});
  }
  void DeclareSetting(std::string key, json::value default_value) override {
    settings[key] = std::move(default_value);
  }
  void OnSyncMessage(std::function<void(const json::value&)> handler) override {
    sync_handlers.push_back(std::move(handler));
  }

  std::vector<json::object> collections;
  std::vector<PluginMigration> migrations;
  std::map<std::string, Action> actions;
  std::vector<Hook> hooks;
  json::object settings;
  std::vector<std::function<void(const json::value&)>> sync_handlers;
};

class FakeActionContext : public ActionContext {
 public:
  explicit FakeActionContext(db::Connection* conn) : conn_(conn) {}
  std::string_view resource() const override { return "hello"; }
  std::string_view action() const override { return "ping"; }
  const json::object& params() const override { return params_; }
  const json::value& body() const override { return body_; }
  std::string_view header(std::string_view) const override { return ""; }
  const Caller& caller() const override { return caller_; }
  Result<db::Connection*> db() override { return conn_; }
  json::object settings() const override { return {{"greeting", "hello"}}; }

  json::object params_;

 private:
  db::Connection* conn_;
  json::value body_;
  Caller caller_{1, "root"};
};

struct Loaded {
  std::unique_ptr<PluginLibrary> library;
  std::unique_ptr<Plugin> plugin;  // declared after library: destroyed first
};

Loaded Load(const fs::path& path) {
  Loaded out;
  auto library = PluginLibrary::Open(path);
  EXPECT_TRUE(library.ok()) << library.status().ToString();
  if (!library.ok()) return out;
  out.library = std::move(library).value();
  auto plugin = out.library->Create();
  EXPECT_TRUE(plugin.ok()) << plugin.status().ToString();
  if (plugin.ok()) out.plugin = std::move(plugin).value();
  return out;
}

void ExpectRefused(const char* path, StatusCode code, const std::string& needle) {
  auto library = PluginLibrary::Open(path);
  Status status = library.ok() ? (*library)->Create().status() : library.status();
  ASSERT_FALSE(status.ok()) << path << " loaded; expected " << needle;
  EXPECT_EQ(status.code(), code) << status.ToString();
  EXPECT_NE(status.message().find(needle), std::string::npos) << status.message();
  EXPECT_NE(status.message().find(path), std::string::npos) << status.message();
}

TEST(PluginLibraryTest, LoadsTheHelloPlugin) {
  Loaded hello = Load(SLIPWAY_HELLO_1_LIBRARY);
  ASSERT_TRUE(hello.plugin);
  EXPECT_EQ(hello.plugin->name(), "hello");
  EXPECT_EQ(hello.plugin->version(), "1.0.0");
  EXPECT_EQ(hello.library->path(), fs::path(SLIPWAY_HELLO_1_LIBRARY));
}

TEST(PluginLibraryTest, LoadsTwoVersionsSideBySide) {
  // RTLD_LOCAL: each library keeps its own symbols although both export the same names.
  Loaded one = Load(SLIPWAY_HELLO_1_LIBRARY);
  Loaded two = Load(SLIPWAY_HELLO_2_LIBRARY);
  ASSERT_TRUE(one.plugin && two.plugin);
  EXPECT_EQ(one.plugin->version(), "1.0.0");
  EXPECT_EQ(two.plugin->version(), "2.0.0");
  auto another = one.library->Create();
  ASSERT_TRUE(another.ok());
  EXPECT_EQ((*another)->version(), "1.0.0");
}

TEST(PluginLibraryTest, LoadsTheLibraryOfAnUnpackedPackage) {
  testing::TempDir tmp;
  auto bytes =
      ReadFileBytes(fs::path(SLIPWAY_HELLO_PACKAGE_DIR) / "hello-1.0.0.tgz", kMaxPackageBytes);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto dir = UnpackPackage(*bytes, tmp.path());
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  auto info = InspectPackage(*dir);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  Loaded hello = Load(info->library);  // a 0644 file: dlopen needs no execute bit
  ASSERT_TRUE(hello.plugin);
  EXPECT_EQ(hello.plugin->version(), info->manifest.version_text);
}

TEST(PluginLibraryTest, RefusesLibrariesWithoutTheEntryPoints) {
  ExpectRefused(SLIPWAY_BAD_PLUGIN_NO_ENTRY, StatusCode::kInvalidArgument,
                "missing entry symbol slipway_plugin_api_version");
  ExpectRefused(SLIPWAY_BAD_PLUGIN_NO_CREATE, StatusCode::kInvalidArgument,
                "missing entry symbol slipway_plugin_create");
  ExpectRefused(SLIPWAY_BAD_PLUGIN_API_V2, StatusCode::kInvalidArgument,
                "plugin library targets plugin API " + std::to_string(kPluginApiVersion + 1) +
                    "; this Slipway provides " + std::to_string(kPluginApiVersion));
}

TEST(PluginLibraryTest, RefusesWhatDlopenCannotLoad) {
  testing::TempDir tmp;
  fs::path text = tmp.path() / "libnot.so";
  { std::ofstream(text) << "not an ELF file"; }
  ExpectRefused(text.c_str(), StatusCode::kInvalidArgument, "cannot load: ");
  fs::path missing = tmp.path() / "missing.so";
  ExpectRefused(missing.c_str(), StatusCode::kInvalidArgument, "cannot load: ");
}

TEST(PluginLibraryTest, FactoryFailuresDoNotEscape) {
  ExpectRefused(SLIPWAY_BAD_PLUGIN_NULL_CREATE, StatusCode::kInternal, "returned null");
  ExpectRefused(SLIPWAY_BAD_PLUGIN_THROWING_CREATE, StatusCode::kInternal,
                "threw: hello from a throwing factory");
}

// The example plugin's registrations, as a plugin author would check them.
class HelloPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(database_.Create());
    auto conn = database_.Open();
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    conn_ = std::move(conn).value();
  }

  RecordingContext LoadInto(const Loaded& loaded) {
    RecordingContext ctx;
    EXPECT_TRUE(loaded.plugin);
    if (loaded.plugin) {
      Status s = loaded.plugin->Load(ctx);
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    return ctx;
  }

  // What the collection sync makes of the 1.0.0 definition, on SQLite (plus priority for 2.0.0).
  void CreateNotesTable(bool with_priority = false) {
    std::string sql = R"(CREATE TABLE "hello_notes" (
        "id" INTEGER PRIMARY KEY AUTOINCREMENT, "text" TEXT, "done" INTEGER)";
    sql += with_priority ? R"(, "priority" INTEGER))" : ")";
    ASSERT_TRUE(conn_->ExecScript(sql).ok());
  }

  bool TableExists(const std::string& name) {
    auto rs =
        conn_->Query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1", {name});
    return rs.ok() && (*rs)->row_count() == 1;
  }

  testing::DialectDatabase database_{db::Dialect::kSqlite};
  std::unique_ptr<db::Connection> conn_;
};

TEST_F(HelloPluginTest, RegistersCollectionActionSettingAndHook) {
  Loaded hello = Load(SLIPWAY_HELLO_1_LIBRARY);
  RecordingContext ctx = LoadInto(hello);
  ASSERT_EQ(ctx.collections.size(), 1u);
  EXPECT_EQ(ctx.collections[0].at("name"), "hello_notes");
  json::array fields = ctx.collections[0].at("fields").as_array();
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[0].at("name"), "text");
  EXPECT_EQ(fields[0].at("type"), "string");
  EXPECT_EQ(fields[1].at("name"), "done");
  EXPECT_EQ(fields[1].at("type"), "boolean");
  EXPECT_TRUE(ctx.migrations.empty());  // the table comes from the collection sync
  ASSERT_EQ(ctx.actions.count("hello:ping"), 1u);
  EXPECT_EQ(ctx.actions["hello:ping"].access, Access::kSignedIn);
  EXPECT_EQ(ctx.settings, (json::object{{"greeting", "hello"}}));

  ASSERT_EQ(ctx.hooks.size(), 1u);
  EXPECT_EQ(ctx.hooks[0].collection, "hello_notes");
  EXPECT_EQ(ctx.hooks[0].event, RecordEvent::kBeforeCreate);
  json::object values{{"text", "  buy milk \n"}, {"done", false}};
  RecordChange change;
  change.collection = "hello_notes";
  change.event = RecordEvent::kBeforeCreate;
  change.values = &values;
  ASSERT_TRUE(ctx.hooks[0].hook(change).ok());
  EXPECT_EQ(values.at("text"), "buy milk");
  values["text"] = " \t ";
  ASSERT_TRUE(ctx.hooks[0].hook(change).ok());
  EXPECT_EQ(values.at("text"), "");
}

TEST_F(HelloPluginTest, PingCountsNotes) {
  Loaded hello = Load(SLIPWAY_HELLO_1_LIBRARY);
  RecordingContext ctx = LoadInto(hello);
  CreateNotesTable();
  ASSERT_TRUE(conn_
                  ->ExecScript(R"(INSERT INTO "hello_notes" ("text", "done")
                                   VALUES ('a', 1), ('b', 1), ('c', 0))")
                  .ok());
  FakeActionContext action(conn_.get());
  auto pong = ctx.actions["hello:ping"].handler(action);
  ASSERT_TRUE(pong.ok()) << pong.status().ToString();
  EXPECT_EQ(*pong, (json::value{{"pong", true}, {"version", "1.0.0"}, {"notes", 3}}));

  action.params_["done"] = "true";  // as a query string delivers it
  pong = ctx.actions["hello:ping"].handler(action);
  ASSERT_TRUE(pong.ok()) << pong.status().ToString();
  EXPECT_EQ(pong->at("notes"), 2);
  action.params_["done"] = "false";
  pong = ctx.actions["hello:ping"].handler(action);
  ASSERT_TRUE(pong.ok()) << pong.status().ToString();
  EXPECT_EQ(pong->at("notes"), 1);
}

TEST_F(HelloPluginTest, PingReportsDatabaseErrorsWithContext) {
  // No table: the error comes back through Status::WithContext, which the library takes from
  // this executable (ENABLE_EXPORTS).
  Loaded hello = Load(SLIPWAY_HELLO_1_LIBRARY);
  RecordingContext ctx = LoadInto(hello);
  FakeActionContext action(conn_.get());
  action.params_["done"] = "true";
  auto pong = ctx.actions["hello:ping"].handler(action);
  ASSERT_FALSE(pong.ok());
  EXPECT_EQ(pong.status().message().rfind("hello:ping: ", 0), 0u) << pong.status().message();
}

TEST_F(HelloPluginTest, Version2AddsPriorityAndItsMigration) {
  Loaded hello = Load(SLIPWAY_HELLO_2_LIBRARY);
  RecordingContext ctx = LoadInto(hello);
  ASSERT_EQ(ctx.collections.size(), 1u);
  json::array fields = ctx.collections[0].at("fields").as_array();
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields[2].at("name"), "priority");
  EXPECT_EQ(fields[2].at("type"), "integer");
  ASSERT_EQ(ctx.migrations.size(), 1u);
  const PluginMigration& m = ctx.migrations[0];
  EXPECT_EQ(m.version, "2.0.0");
  EXPECT_EQ(m.name, "0002-priority");
  EXPECT_FALSE(m.postgres_sql.empty());
  // After the sync added the column, notes written by 1.0.0 get priority 0.
  CreateNotesTable(/*with_priority=*/true);
  ASSERT_TRUE(conn_->ExecScript(R"(INSERT INTO "hello_notes" ("text") VALUES ('old'))").ok());
  ASSERT_TRUE(conn_->ExecScript(m.sqlite_sql).ok());
  auto rs = conn_->Query(R"(SELECT "priority" FROM "hello_notes")");
  ASSERT_TRUE(rs.ok()) << rs.status().ToString();
  EXPECT_EQ((*rs)->Int(0, 0), 0);
}

TEST_F(HelloPluginTest, Version3HasABrokenMigrationThatRollsBack) {
  Loaded hello = Load(SLIPWAY_HELLO_3_LIBRARY);
  RecordingContext ctx = LoadInto(hello);
  ASSERT_EQ(ctx.migrations.size(), 2u);
  EXPECT_EQ(ctx.migrations[0].name, "0002-priority");
  const PluginMigration& broken = ctx.migrations[1];
  EXPECT_EQ(broken.version, "3.0.0");
  EXPECT_EQ(broken.name, "0003-broken");
  EXPECT_FALSE(broken.postgres_sql.empty());
  ASSERT_TRUE(conn_->Begin().ok());
  EXPECT_FALSE(conn_->ExecScript(broken.sqlite_sql).ok());
  EXPECT_TRUE(TableExists("hello_tmp"));  // it got that far
  ASSERT_TRUE(conn_->Rollback().ok());
  EXPECT_FALSE(TableExists("hello_tmp"));
}

}  // namespace
}  // namespace slipway::plugins
