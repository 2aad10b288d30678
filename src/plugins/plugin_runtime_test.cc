#include "plugins/plugin_runtime.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "api/services.h"
#include "core/config.h"
#include "db/sqlite/sqlite_connection.h"

namespace slipway::plugins {
namespace {

namespace json = boost::json;

// A plugin whose Load() is the test's function.
class ScriptedPlugin final : public slipway::Plugin {
 public:
  explicit ScriptedPlugin(std::function<Status(PluginContext&)> load) : load_(std::move(load)) {}
  std::string_view name() const override { return "scripted"; }
  std::string_view version() const override { return "1.2.3"; }
  Status Load(PluginContext& ctx) override { return load_(ctx); }

 private:
  std::function<Status(PluginContext&)> load_;
};

// Registration never reaches the services; a call would be a bug in the runtime.
class NoServices final : public api::Services {
 public:
  const core::Config& config() const override { return config_; }
  db::Pool& pool() override { return pool_; }
  Result<int64_t> NextSnowflake() override { return Internal("not in this test"); }
  std::shared_ptr<const api::Snapshot> snapshot() const override { return nullptr; }
  std::shared_ptr<void> HoldEpoch(int64_t) override { return nullptr; }
  Status ApplyChange(const api::ChangeOptions&, const api::ChangeFn&) override {
    return Internal("not in this test");
  }
  void CollectionChanged(std::string_view) override {}
  Status ReloadSnapshot() override { return Internal("not in this test"); }
  Status PublishSync(std::string_view, const json::value&) override {
    return Internal("not in this test");
  }

 private:
  core::Config config_;
  db::Pool pool_{db::Dialect::kSqlite, [] { return db::OpenSqlite({":memory:"}); }, 1};
};

Status LoadWith(std::function<void(PluginContext&)> registrations) {
  NoServices services;
  PluginRuntime rt(std::make_unique<ScriptedPlugin>([&](PluginContext& ctx) {
                     registrations(ctx);
                     return Status::Ok();
                   }),
                   nullptr, /*built_in=*/false, "1.0.0", services);
  return rt.LoadRegistrations();
}

ActionHandler Echo() {
  return [](ActionContext&) -> Result<json::value> { return json::value(1); };
}

PluginMigration SqlMigration(std::string name, std::string version = "1.0.0") {
  PluginMigration m;
  m.name = std::move(name);
  m.version = std::move(version);
  m.sqlite_sql = m.postgres_sql = "CREATE TABLE t (id INTEGER)";
  return m;
}

struct RefusedCase {
  const char* what;
  std::function<void(PluginContext&)> registrations;
  const char* message;  // a part of the load error
};

TEST(PluginRuntimeTest, InvalidRegistrationsFailTheLoadNamingThePluginAndTheRegistration) {
  const RefusedCase cases[] = {
      {"duplicate action",
       [](PluginContext& c) {
         c.AddAction("things", "hello", Echo());
         c.AddAction("things", "hello", Echo());
       },
       "action 'things:hello' is added twice"},
      {"empty action name", [](PluginContext& c) { c.AddAction("things", "", Echo()); },
       "needs a resource, an action name and a handler"},
      {"empty handler", [](PluginContext& c) { c.AddAction("things", "go", nullptr); },
       "needs a resource, an action name and a handler"},
      {"duplicate collection",
       [](PluginContext& c) {
         json::object d{{"name", "things"}, {"fields", json::array{}}};
         EXPECT_TRUE(c.AddCollection(d).ok());
         EXPECT_FALSE(c.AddCollection(d).ok());
       },
       "collection 'things' is added twice"},
      {"malformed collection",
       [](PluginContext& c) {
         EXPECT_FALSE(c.AddCollection({{"name", 7}}).ok());
       },
       "name"},
      {"duplicate migration",
       [](PluginContext& c) {
         c.AddMigration(SqlMigration("create-t"));
         c.AddMigration(SqlMigration("create-t", "1.1.0"));
       },
       "migration 'create-t' is added twice"},
      {"unnamed migration", [](PluginContext& c) { c.AddMigration(SqlMigration("")); },
       "a migration has no name"},
      {"migration without a version",
       [](PluginContext& c) { c.AddMigration(SqlMigration("create-t", "soon")); },
       "migration 'create-t' has no valid version ('soon')"},
      {"migration with SQL and code",
       [](PluginContext& c) {
         PluginMigration m = SqlMigration("both");
         m.run = [](db::Connection&) { return Status::Ok(); };
         c.AddMigration(std::move(m));
       },
       "needs either SQL or a run function, not both"},
      {"migration with neither",
       [](PluginContext& c) {
         PluginMigration m;
         m.name = "empty";
         m.version = "1.0.0";
         c.AddMigration(std::move(m));
       },
       "not neither"},
      {"duplicate setting",
       [](PluginContext& c) {
         c.DeclareSetting("greeting", "hi");
         c.DeclareSetting("greeting", "hello");
       },
       "setting 'greeting' is declared twice"},
      {"empty setting key", [](PluginContext& c) { c.DeclareSetting("", 1); },
       "a setting has no key"},
      {"record hook without collection",
       [](PluginContext& c) {
         c.OnRecord("", RecordEvent::kAfterCreate, [](RecordChange&) { return Status::Ok(); });
       },
       "a record hook needs a collection"},
      {"empty record hook",
       [](PluginContext& c) { c.OnRecord("*", RecordEvent::kAfterCreate, nullptr); },
       "a record hook needs a collection"},
      {"empty sync handler", [](PluginContext& c) { c.OnSyncMessage(nullptr); },
       "a sync handler is empty"},
  };
  for (const RefusedCase& c : cases) {
    SCOPED_TRACE(c.what);
    Status s = LoadWith(c.registrations);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find("plugin 'scripted'"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.message();
  }
}

TEST(PluginRuntimeTest, HooksAndSyncHandlersAddUpAndValidRegistrationsLoad) {
  NoServices services;
  PluginRuntime rt(std::make_unique<ScriptedPlugin>([](PluginContext& c) {
                     auto ok = [](RecordChange&) { return Status::Ok(); };
                     c.OnRecord("*", RecordEvent::kBeforeCreate, ok);
                     c.OnRecord("*", RecordEvent::kBeforeCreate, ok);
                     c.OnSyncMessage([](const json::value&) {});
                     c.OnSyncMessage([](const json::value&) {});
                     c.AddAction("things", "hello", Echo());
                     c.AddAction("others", "hello", Echo());
                     c.AddMigration(SqlMigration("create-t"));
                     c.DeclareSetting("greeting", "hi");
                     return Status::Ok();
                   }),
                   nullptr, false, "1.0.0", services);
  ASSERT_TRUE(rt.LoadRegistrations().ok());
  EXPECT_EQ(rt.hooks().size(), 2u);
  EXPECT_EQ(rt.sync_handlers().size(), 2u);
  EXPECT_EQ(rt.actions().size(), 2u);
  EXPECT_EQ(rt.migrations().size(), 1u);
  EXPECT_EQ(rt.setting_defaults().at("greeting"), json::value("hi"));
}

TEST(PluginRuntimeTest, AThrowingLoadFailsTheLoadAndNamesThePlugin) {
  NoServices services;
  PluginRuntime rt(std::make_unique<ScriptedPlugin>(
                       [](PluginContext&) -> Status { throw std::runtime_error("load exploded"); }),
                   nullptr, false, "1.0.0", services);
  Status s = rt.LoadRegistrations();
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("plugin 'scripted' Load threw: load exploded"), std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace slipway::plugins
