// The plugin manager against the real binary, on SQLite and PostgreSQL: built-ins and the
// preset, the lifecycle of an external package (add, enable with its dependencies, disable,
// remove), upgrade v1 -> v2 with data kept, a failing plugin migration rolled back, every kind of
// bad package refused without a trace, the audit log, no outage during enable/disable, and the
// `slipway pm` command.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <thread>

#include "api_client.h"
#include "node.h"
#include "package_builder.h"
#include "test_database.h"

namespace slipway::testing {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string Package(const std::string& version) {
  return std::string(SLIPWAY_HELLO_PACKAGE_DIR) + "/hello-" + version + ".tgz";
}

json::value J(std::string_view text) { return json::parse(text); }

class PluginsTest : public ::testing::TestWithParam<db::Dialect> {
 protected:
  void SetUp() override {
    env_ = {{"APP_KEY", "integration-test-key-0123456789abcdef"}, {"SYNC_POLL_INTERVAL", "200"}};
    if (GetParam() == db::Dialect::kPostgres) {
      pg_.emplace();
      ASSERT_TRUE(pg_->Create());
      env_.merge(PostgresEnv(pg_->options()));
    }
    Start();
  }
  void TearDown() override {
    if (node_) {
      EXPECT_EQ(node_->Stop(), 0);
    }
  }
  // Starts the node and signs in. `out_of_service_because` non-empty: the node is expected to
  // come up out of service, with that text in its health check's answer.
  void Start(const std::string& out_of_service_because = "") {
    node_ = std::make_unique<Node>(NodeOptions{.storage = storage(), .env = env_});
    if (out_of_service_because.empty()) {
      ASSERT_TRUE(node_->WaitHealthy(30s))
          << node_->process().Stdout() << node_->process().Stderr();
    } else {
      HttpResult health = WaitForHealthSaying(node_->port(), 503, out_of_service_because, 30s);
      ASSERT_NE(health.body.find(out_of_service_because), std::string::npos) << health.body;
    }
    api_ = std::make_unique<Api>(node_->port());
    ASSERT_EQ(api_->SignIn("admin@nocobase.com", "admin123").status, 200);
  }
  fs::path storage() const { return dir_.path() / "storage"; }

  ApiResult Add(const std::string& version) {
    return api_->Upload("pm:add", ReadFile(Package(version)), "hello-" + version + ".tgz");
  }
  json::object Plugin(const std::string& name) {
    ApiResult r = api_->Get("pm:get?filterByTk=" + name);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.data().as_object() : json::object{};
  }
  // What an operator would compare: the plugin list and the package directory.
  std::string State() {
    std::string listing = api_->Get("pm:list").body;
    std::error_code ec;
    if (fs::exists(storage() / "plugins", ec)) {
      for (const auto& e : fs::recursive_directory_iterator(storage() / "plugins")) {
        if (e.path().filename() == ".staging") continue;  // the (empty) scratch directory
        listing += "\n" + e.path().string();
      }
    }
    return listing;
  }

  TempDir dir_;
  std::map<std::string, std::string> env_;
  std::optional<TestDatabase> pg_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<Api> api_;
};

TEST_P(PluginsTest, BuiltinsFollowThePreset) {
  ApiResult list = api_->Get("pm:list");
  ASSERT_EQ(list.status, 200) << list.body;
  std::map<std::string, json::object> by_name;
  for (const auto& p : list.data().as_array())
    by_name[std::string(p.at("name").as_string())] = p.as_object();
  ASSERT_TRUE(by_name.count("users") && by_name.count("acl") && by_name.count("audit-log"));
  EXPECT_TRUE(by_name["users"].at("enabled").as_bool());
  EXPECT_TRUE(by_name["users"].at("required").as_bool());
  EXPECT_TRUE(by_name["acl"].at("enabled").as_bool());
  EXPECT_FALSE(by_name["audit-log"].at("enabled").as_bool());
  EXPECT_TRUE(by_name["audit-log"].at("builtIn").as_bool());

  ApiResult users = api_->Post("pm:disable?filterByTk=users");
  EXPECT_EQ(users.status, 409);
  EXPECT_EQ(users.code(), "PLUGIN_REQUIRED");
  EXPECT_EQ(api_->Post("pm:remove?filterByTk=audit-log").code(), "PLUGIN_BUILT_IN");
  EXPECT_EQ(api_->Post("pm:enable?filterByTk=nope").status, 404);
  // Only roles that may configure manage plugins.
  ASSERT_EQ(
      api_->Post("users:create", J(R"({"email":"m@example.com","password":"member-pw-1"})")).status,
      200);
  Api member(node_->port());
  ASSERT_EQ(member.SignIn("m@example.com", "member-pw-1").status, 200);
  EXPECT_EQ(member.Get("pm:list").status, 403);
}

TEST_P(PluginsTest, LifecycleOfAPackage) {
  ApiResult added = Add("1.0.0");
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_FALSE(added.data().at("enabled").as_bool());
  EXPECT_TRUE(fs::exists(storage() / "plugins" / "hello" / "1.0.0" / "manifest.json"));
  EXPECT_EQ(api_->Get("hello:ping").status, 404);  // added, not enabled
  EXPECT_EQ(Add("1.0.0").status, 409);             // same version again

  // Enabling enables audit-log first (hello depends on it), runs the install migration.
  ApiResult enabled = api_->Post("pm:enable?filterByTk=hello");
  ASSERT_EQ(enabled.status, 200) << enabled.body;
  EXPECT_TRUE(Plugin("audit-log").at("enabled").as_bool());
  ApiResult ping = api_->Get("hello:ping");
  ASSERT_EQ(ping.status, 200) << ping.body;
  EXPECT_EQ(ping.data().at("version").as_string(), "1.0.0");
  ApiResult note = api_->Post("hello_notes:create", J(R"({"text":"  trimmed by the hook  "})"));
  ASSERT_EQ(note.status, 200) << note.body;
  EXPECT_EQ(note.data().at("text").as_string(), "trimmed by the hook");
  EXPECT_EQ(api_->Get("hello:ping").data().at("notes").as_int64(), 1);

  // audit-log cannot go while hello needs it; hello cannot be removed while enabled.
  ApiResult in_use = api_->Post("pm:disable?filterByTk=audit-log");
  EXPECT_EQ(in_use.status, 409);
  EXPECT_EQ(in_use.code(), "PLUGIN_IN_USE");
  EXPECT_NE(in_use.message().find("'hello'"), std::string::npos);
  EXPECT_EQ(api_->Post("pm:remove?filterByTk=hello").code(), "PLUGIN_ENABLED");

  // Settings
  ApiResult settings =
      api_->Post("pm:update?filterByTk=hello", J(R"({"options":{"greeting":"hej"}})"));
  ASSERT_EQ(settings.status, 200) << settings.body;
  EXPECT_EQ(settings.data().at("settings").at("greeting").as_string(), "hej");
  EXPECT_EQ(api_->Post("pm:update?filterByTk=hello", J(R"({"options":{"nope":1}})")).status, 400);

  // Disable: its actions and collections go away at once; its data stays.
  ASSERT_EQ(api_->Post("pm:disable?filterByTk=hello").status, 200);
  EXPECT_EQ(api_->Get("hello:ping").status, 404);
  EXPECT_EQ(api_->Get("hello_notes:list").status, 404);
  ASSERT_EQ(api_->Post("pm:enable?filterByTk=hello").status, 200);
  EXPECT_EQ(api_->Get("hello_notes:list").json.at("meta").at("count").as_int64(), 1);

  // Remove without --purge keeps the table; with it, the table and its migrations go.
  ASSERT_EQ(api_->Post("pm:disable?filterByTk=hello").status, 200);
  ASSERT_EQ(api_->Post("pm:remove?filterByTk=hello&purge=true").status, 200);
  EXPECT_EQ(api_->Get("pm:get?filterByTk=hello").status, 404);
  EXPECT_FALSE(fs::exists(storage() / "plugins" / "hello"));
  ASSERT_EQ(Add("1.0.0").status, 200);
  ASSERT_EQ(api_->Post("pm:enable?filterByTk=hello").status, 200);
  EXPECT_EQ(api_->Get("hello:ping").data().at("notes").as_int64(), 0);  // a fresh table
}

TEST_P(PluginsTest, UpgradeKeepsDataAndSurvivesARestart) {
  ASSERT_EQ(Add("1.0.0").status, 200);
  ASSERT_EQ(api_->Post("pm:enable?filterByTk=hello").status, 200);
  for (const char* text : {"one", "two"}) {
    ASSERT_EQ(api_->Post("hello_notes:create", json::object{{"text", text}}).status, 200);
  }
  ApiResult v2 = Add("2.0.0");
  ASSERT_EQ(v2.status, 200) << v2.body;
  EXPECT_EQ(v2.data().at("version").as_string(), "1.0.0");  // still running 1.0.0
  EXPECT_EQ(v2.data().at("packageVersion").as_string(), "2.0.0");
  EXPECT_EQ(api_->Post("hello_notes:create", J(R"({"text":"x","priority":1})")).status, 400);

  ApiResult up = api_->Post("pm:upgrade?filterByTk=hello");
  ASSERT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(up.data().at("version").as_string(), "2.0.0");
  EXPECT_EQ(api_->Get("hello:ping").data().at("version").as_string(), "2.0.0");
  ApiResult with_priority = api_->Post("hello_notes:create", J(R"({"text":"three","priority":5})"));
  ASSERT_EQ(with_priority.status, 200) << with_priority.body;
  ApiResult notes = api_->Get("hello_notes:list?sort=id");
  ASSERT_EQ(notes.json.at("meta").at("count").as_int64(), 3);  // the data survived the upgrade
  EXPECT_EQ(notes.data().at(0).at("text").as_string(), "one");
  EXPECT_EQ(notes.data().at(0).at("priority").as_int64(), 0);  // v2's migration ran on old notes
  EXPECT_EQ(notes.data().at(2).at("priority").as_int64(), 5);
  EXPECT_EQ(api_->Post("pm:upgrade?filterByTk=hello").code(), "PLUGIN_UP_TO_DATE");

  // A restart loads the enabled package from storage at its upgraded version.
  ASSERT_EQ(node_->Stop(), 0);
  Start();
  EXPECT_EQ(api_->Get("hello:ping").data().at("version").as_string(), "2.0.0");
  EXPECT_EQ(api_->Get("hello_notes:list").json.at("meta").at("count").as_int64(), 3);
}

TEST_P(PluginsTest, AMissingPackageTakesTheNodeOutOfServiceUntilAnAdminActs) {
  ASSERT_EQ(Add("1.0.0").status, 200);
  ASSERT_EQ(api_->Post("pm:enable?filterByTk=hello").status, 200);
  ASSERT_EQ(node_->Stop(), 0);
  fs::remove_all(storage() / "plugins" / "hello");  // e.g. a node whose disk lacks the package
  Start("could not apply");
  // The node does not serve a schema that differs from the cluster's: out of rotation, saying why.
  HttpResult health = HttpGet(node_->port(), "/api/__health_check");
  EXPECT_EQ(health.status, 503);
  EXPECT_NE(health.body.find("hello"), std::string::npos) << health.body;
  EXPECT_EQ(api_->Get("collections:list").status, 503);
  // An admin can still see what is wrong and act on it.
  json::object p = Plugin("hello");
  EXPECT_TRUE(p.at("enabled").as_bool());
  ASSERT_TRUE(p.at("error").is_string()) << json::serialize(p);
  EXPECT_NE(std::string(p.at("error").as_string()).find("missing"), std::string::npos)
      << json::serialize(p);
  ApiResult disable = api_->Post("pm:disable?filterByTk=hello");
  ASSERT_EQ(disable.status, 200) << disable.body;
  EXPECT_EQ(HttpGet(node_->port(), "/api/__health_check").status, 200);
  EXPECT_EQ(api_->Get("collections:list").status, 200);
  EXPECT_EQ(api_->Get("hello:ping").status, 404);
  EXPECT_TRUE(Plugin("audit-log").at("enabled").as_bool());  // what it pulled in still works
}

TEST_P(PluginsTest, FailingPluginMigrationRollsBackAndTheAppKeepsServing) {
  ASSERT_EQ(Add("2.0.0").status, 200);
  ASSERT_EQ(api_->Post("pm:enable?filterByTk=hello").status, 200);
  ASSERT_EQ(api_->Post("hello_notes:create", J(R"({"text":"kept"})")).status, 200);
  ASSERT_EQ(Add("3.0.0").status, 200);  // its 0003 migration fails halfway
  ApiResult up = api_->Post("pm:upgrade?filterByTk=hello");
  EXPECT_EQ(up.status, 409) << up.body;
  EXPECT_EQ(up.code(), "PLUGIN_ERROR");
  EXPECT_NE(up.message().find("0003-broken"), std::string::npos) << up.message();
  EXPECT_NE(up.message().find("rolled back"), std::string::npos);
  json::object p = Plugin("hello");
  EXPECT_EQ(p.at("version").as_string(), "2.0.0");
  EXPECT_TRUE(p.at("enabled").as_bool());
  EXPECT_NE(std::string(p.at("error").as_string()).find("0003-broken"), std::string::npos);
  // The half of the migration that ran was rolled back with it; v2 still serves, data intact.
  ApiResult tmp = api_->Post("collections:create", J(R"({"name":"hello_tmp"})"));
  EXPECT_EQ(tmp.status, 200) << "hello_tmp should not exist: " << tmp.body;
  EXPECT_EQ(api_->Get("hello:ping").data().at("version").as_string(), "2.0.0");
  EXPECT_EQ(api_->Get("hello_notes:list").json.at("meta").at("count").as_int64(), 1);
  EXPECT_EQ(HttpGet(node_->port(), "/api/__health_check").status, 200);
}

TEST_P(PluginsTest, BadPackagesAreRefusedAndWriteNothing) {
  std::string library = ReadFile(SLIPWAY_HELLO_1_LIBRARY);
  std::string no_entry = ReadFile(SLIPWAY_BAD_PLUGIN_NO_ENTRY);
  auto package = [&](const std::string& manifest, const std::string& lib = "") {
    return BuildPackage(
        {{"manifest.json", manifest}, {"lib/libslipway_hello.so", lib.empty() ? library : lib}});
  };
  struct Case {
    std::string what;
    std::string bytes;
    std::string mentions;
  } cases[] = {
      {"not an archive", "this is not a tgz", ""},
      {"malformed manifest", package("{\"name\": "), "manifest.json"},
      {"manifest without a version",
       package(R"({"name":"hello","api_version":1,"main":"lib/libslipway_hello.so"})"), "version"},
      {"wrong api version", package(ManifestJson("hello", "1.0.0", 2)), "plugin API 2"},
      {"missing library", BuildPackage({{"manifest.json", ManifestJson()}}),
       "lib/libslipway_hello.so"},
      {"missing entry symbol", package(ManifestJson(), no_entry), "missing entry symbol"},
      {"unmet dependency",
       package(ManifestJson("hello", "1.0.0", 1, "lib/libslipway_hello.so",
                            R"("dependencies": {"nope": ">=1.0.0"},)")),
       "'nope'"},
      {"app version out of range",
       package(ManifestJson("hello", "1.0.0", 1, "lib/libslipway_hello.so",
                            R"("app_versions": ">=9.0.0",)")),
       ">=9.0.0"},
      {"name differs from the library", package(ManifestJson("other", "1.0.0")),
       "says it is 'hello'"},
      {"path traversal",
       BuildPackage({{"manifest.json", ManifestJson()},
                     {"lib/libslipway_hello.so", library},
                     {"../evil.sh", "#!/bin/sh"}}),
       ".."},
      {"absolute path", BuildPackage({{"manifest.json", ManifestJson()}, {"/etc/evil", "x"}}),
       "/etc/evil"},
      {"symlink",
       BuildPackage({{"manifest.json", ManifestJson()},
                     {"lib/libslipway_hello.so", "/etc/passwd", EntryType::kSymlink}}),
       "link"},
  };
  std::string before = State();
  int i = 0;
  for (const Case& c : cases) {
    // Upload as curl -F file=@x.tgz does: multipart/form-data.
    std::string boundary = "----slipway-test-" + std::to_string(++i);
    std::string body = "--" + boundary +
                       "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.tgz\"\r\n"
                       "Content-Type: application/gzip\r\n\r\n" +
                       c.bytes + "\r\n--" + boundary + "--\r\n";
    ApiResult r = api_->Call("POST", "pm:add", body,
                             {"Content-Type: multipart/form-data; boundary=" + boundary});
    EXPECT_EQ(r.status, 400) << c.what << ": " << r.body;
    EXPECT_NE(r.message().find(c.mentions), std::string::npos) << c.what << ": " << r.message();
  }
  // Nothing was written: no row, no files left behind (staging is cleaned up).
  std::string after = State();
  EXPECT_EQ(after, before);
  // A good package still goes in afterwards, by upload.
  std::string good = ReadFile(Package("1.0.0"));
  std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"hello.tgz\"\r\n\r\n" +
      good + "\r\n--b--\r\n";
  ApiResult ok =
      api_->Call("POST", "pm:add", body, {"Content-Type: multipart/form-data; boundary=b"});
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST_P(PluginsTest, AuditLogRecordsWhoChangedWhat) {
  ASSERT_EQ(api_->Post("pm:enable?filterByTk=audit-log").status, 200);
  ASSERT_EQ(
      api_->Post(
              "collections:create",
              J(R"({"name":"things","fields":[{"name":"title","type":"string"},{"name":"n","type":"integer"}]})"))
          .status,
      200);
  ASSERT_EQ(api_->Post("things:create", J(R"({"title":"a","n":1})")).status, 200);
  ASSERT_EQ(api_->Post("things:update?filterByTk=1", J(R"({"n":2})")).status, 200);
  ASSERT_EQ(api_->Post("things:update?filterByTk=1", J(R"({"n":2})")).status,
            200);  // no change: no entry
  ASSERT_EQ(api_->Post("things:destroy?filterByTk=1").status, 200);
  ApiResult logs =
      api_->Get("auditLogs:list?sort=id&filter=" + Encode(R"({"collectionName":"things"})"));
  ASSERT_EQ(logs.status, 200) << logs.body;
  const auto& rows = logs.data().as_array();
  ASSERT_EQ(rows.size(), 3u) << logs.body;
  EXPECT_EQ(rows[0].at("type").as_string(), "create");
  EXPECT_EQ(rows[1].at("type").as_string(), "update");
  EXPECT_EQ(rows[2].at("type").as_string(), "destroy");
  for (const auto& r : rows) {
    EXPECT_EQ(r.at("recordId").as_string(), "1");
    EXPECT_EQ(r.at("userId").as_int64(), 1);
    EXPECT_EQ(r.at("role").as_string(), "root");
  }
  const auto& changed = rows[1].at("changes").as_array();
  ASSERT_EQ(changed.size(), 1u) << json::serialize(changed);  // only n, not updatedAt
  EXPECT_EQ(changed[0].at("field").as_string(), "n");
  EXPECT_EQ(changed[0].at("before").as_int64(), 1);
  EXPECT_EQ(changed[0].at("after").as_int64(), 2);
  // Disabled: writes are no longer logged.
  ASSERT_EQ(api_->Post("pm:disable?filterByTk=audit-log").status, 200);
  ASSERT_EQ(api_->Post("things:create", J(R"({"title":"b"})")).status, 200);
  ASSERT_EQ(api_->Post("pm:enable?filterByTk=audit-log").status, 200);
  EXPECT_EQ(api_->Get("auditLogs:list?filter=" + Encode(R"({"collectionName":"things"})"))
                .json.at("meta")
                .at("count")
                .as_int64(),
            3);
}

TEST_P(PluginsTest, EnableAndDisableCauseNoOutage) {
  ASSERT_EQ(api_->Post("collections:create",
                       J(R"({"name":"orders","fields":[{"name":"total","type":"integer"}]})"))
                .status,
            200);
  ASSERT_EQ(api_->Post("orders:create", J(R"({"total":5})")).status, 200);
  ASSERT_EQ(Add("1.0.0").status, 200);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::string> failures;
  std::mutex mu;
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      Api reader(node_->port());
      reader.set_token(api_->token());
      while (!stop) {
        ApiResult r = reader.Get("orders:list");
        if (r.status == 200) {
          ok++;
        } else {
          failed++;
          std::lock_guard lock(mu);
          if (failures.size() < 5) failures.push_back(std::to_string(r.status) + " " + r.body);
        }
      }
    });
  }
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(api_->Post("pm:enable?filterByTk=hello").status, 200);
    ASSERT_EQ(api_->Get("hello:ping").status, 200);
    ASSERT_EQ(api_->Post("pm:disable?filterByTk=hello").status, 200);
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failed.load(), 0) << (failures.empty() ? "" : failures[0]);
  EXPECT_GT(ok.load(), 50);
  RecordProperty("requests_during_toggles", ok.load());
}

TEST_P(PluginsTest, CommandLineManagesPluginsOfARunningNode) {
  std::vector<std::string> base = {SLIPWAY_BIN, "pm"};
  auto pm = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = base;
    for (auto& a : args) argv.push_back(a);
    argv.push_back("--storage");
    argv.push_back(storage().string());
    return RunCommand(argv, env_, dir_.path());
  };
  auto list = pm({"list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("users 0.1.0  enabled  built-in  required"), std::string::npos)
      << list.out;
  auto added = pm({"add", Package("1.0.0")});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_NE(added.out.find("hello 1.0.0  disabled"), std::string::npos) << added.out;
  auto enabled = pm({"enable", "hello"});
  ASSERT_EQ(enabled.exit_code, 0) << enabled.err;
  // The running node applies the change within its poll interval.
  ApiResult ping;
  for (int i = 0; i < 100 && ping.status != 200; ++i) {
    std::this_thread::sleep_for(50ms);
    ping = api_->Get("hello:ping");
  }
  EXPECT_EQ(ping.status, 200) << ping.body;
  auto required = pm({"disable", "users"});
  EXPECT_EQ(required.exit_code, 3);
  EXPECT_NE(required.err.find("required"), std::string::npos) << required.err;
  auto bad = pm({"add", "/nonexistent.tgz"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  ASSERT_EQ(pm({"disable", "hello"}).exit_code, 0);
  auto removed = pm({"remove", "hello", "--purge"});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_NE(removed.out.find("removed hello (tables dropped)"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Dialects, PluginsTest, ::testing::ValuesIn(kAllDialects), DialectTestName);

}  // namespace
}  // namespace slipway::testing
