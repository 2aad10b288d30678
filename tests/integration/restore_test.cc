// Restores (issue 13) against real nodes, on SQLite and PostgreSQL: every field type round-trips
// row by row and file by file through backups:create and backups:restore; a SQLite backup
// restores into PostgreSQL and back; bad archives are refused with the data unchanged; a restore
// that fails midway, or whose node is killed midway, leaves the previous data serving.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <thread>

#include "api_client.h"
#include "archive_edit.h"
#include "db/postgres/postgres_connection.h"
#include "db/sqlite/sqlite_connection.h"
#include "one_node.h"
#include "ops/archive.h"
#include "test_database.h"

namespace slipway::testing {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

RunResult Cli(const std::map<std::string, std::string>& env, const fs::path& storage,
              const fs::path& dir, std::vector<std::string> args) {
  std::vector<std::string> argv = {SLIPWAY_BIN};
  for (auto& a : args) argv.push_back(std::move(a));
  argv.push_back("--storage");
  argv.push_back(storage.string());
  return RunCommand(argv, env, dir, 180s);
}

// Polls `path` until its data (or data[key]) says inProgress is false; returns that status.
json::object WaitDone(const Api& api, const std::string& path, const std::string& key = "") {
  for (int i = 0; i < 1200; ++i) {
    ApiResult r = api.Get(path);
    if (r.status == 200) {
      const json::value& d = key.empty() ? r.data() : r.data().at(key);
      if (d.is_object() && !d.at("inProgress").as_bool()) return d.as_object();
    }
    std::this_thread::sleep_for(50ms);
  }
  ADD_FAILURE() << "still in progress: " << path;
  return {};
}

// Creates a backup through the API and waits for it; returns its name.
std::string BackupNow(const Api& api) {
  ApiResult made = api.Post("backups:create", json::object{});
  EXPECT_EQ(made.status, 202) << made.body;
  std::string name(made.data().at("name").as_string());
  json::object done = WaitDone(api, "backups:taskStatus?names=" + name, name);
  EXPECT_FALSE(done.contains("message")) << json::serialize(done);
  return name;
}

// Restores `name` through the API and waits for it; returns the final status.
json::object RestoreNow(const Api& api, const std::string& name) {
  ApiResult asked = api.Post("backups:restore", json::object{{"name", name}});
  EXPECT_EQ(asked.status, 202) << asked.body;
  if (asked.status != 202) return {};
  return WaitDone(api,
                  "backups:restoreStatus?task=" + std::string(asked.data().at("task").as_string()));
}

constexpr const char* kCollections[] = {"kinds", "measures",  "profiles",
                                        "tags",  "kindsTags", "attachmentsKinds",
                                        "users", "roles",     "attachments"};

// Every row of the collections above, as the API lists them, in key order.
std::map<std::string, json::value> Everything(const Api& api) {
  std::map<std::string, json::value> out;
  for (const char* c : kCollections) {
    std::string sort = std::string(c) == "kindsTags"          ? "kindId,tagId"
                       : std::string(c) == "attachmentsKinds" ? "attachmentId,kindId"
                       : std::string(c) == "roles"            ? "name"
                                                              : "id";
    ApiResult r = api.Get(std::string(c) + ":list?pageSize=500&sort=" + sort);
    EXPECT_EQ(r.status, 200) << c << " " << r.body;
    out[c] = r.status == 200 ? r.data() : json::value();
  }
  return out;
}

class RestoreTest : public OneNodeTest {
 protected:
  RunResult Cli(std::vector<std::string> args) {
    return slipway::testing::Cli(env_, storage(), dir_.path(), std::move(args));
  }

  // Collections with every field type, relations of every kind, an attachment, and rows with
  // unicode, NULLs, large text and JSON, decimals and time zones. Returns the stored file name.
  std::string MakeData() {
    auto post = [&](const std::string& path, const std::string& body) {
      ApiResult r = api_->Post(path, json::parse(body));
      EXPECT_EQ(r.status, 200) << path << ": " << r.body;
      return r;
    };
    post("collections:create", R"({"name":"tags","fields":[{"name":"name","type":"string"}]})");
    post("collections:create", R"({"name":"kinds","fields":[
        {"name":"s","type":"string"},{"name":"t","type":"text"},{"name":"i","type":"integer"},
        {"name":"b","type":"bigInt"},{"name":"f","type":"float"},{"name":"d","type":"double"},
        {"name":"dec","type":"decimal","precision":20,"scale":6},{"name":"bo","type":"boolean"},
        {"name":"dt","type":"date"},{"name":"dnt","type":"datetimeNoTz"},
        {"name":"d0","type":"dateOnly"},{"name":"tm","type":"time"},{"name":"j","type":"json"},
        {"name":"u","type":"uuid"},{"name":"sf","type":"snowflakeId"},
        {"name":"pw","type":"password"},
        {"name":"parent","type":"belongsTo","target":"kinds","foreignKey":"parentId",
         "reverseField":{"name":"children"}},
        {"name":"tags","type":"belongsToMany","target":"tags"},
        {"name":"files","type":"attachment"}]})");
    // Only types whose columns PostgreSQL's restore loads in COPY's binary format, with values
    // at their edges.
    post("collections:create", R"({"name":"measures","fields":[
        {"name":"s","type":"string"},{"name":"t","type":"text"},{"name":"i","type":"integer"},
        {"name":"b","type":"bigInt"},{"name":"d","type":"double"},
        {"name":"dec","type":"decimal","precision":20,"scale":6},{"name":"bo","type":"boolean"},
        {"name":"dt","type":"date"},{"name":"j","type":"json"}]})");
    post("measures:create",
         json::serialize(json::object{{"s", "ünï \"q\" \\ \t ✓"},
                                      {"t", "a\nb\r\x01 "},
                                      {"i", -2147483648LL},
                                      {"b", "-9007199254740993"},
                                      {"d", -1e-300},
                                      {"dec", "-0.000001"},
                                      {"bo", false},
                                      {"dt", "1969-12-31T23:59:59.999Z"},
                                      {"j", json::parse(R"([1, "x\\y", {"k": null}, -0.5])")}}));
    post("measures:create", R"({"s":null})");
    post("measures:create",
         json::serialize(
             json::object{{"i", 2147483647},
                          {"b", "9223372036854775807"},
                          {"d", 1.7976931348623157e308},
                          {"dec", "-99999999999999.99"},
                          {"bo", true},
                          {"dt", "2026-11-25T10:49:19.5+02:00"},
                          {"j", json::parse(R"({"é": "\u00e9", "n": 12345678901234567890})")}}));
    post("collections:create", R"({"name":"profiles","fields":[{"name":"bio","type":"text"}]})");
    post("collections/kinds/fields:create",
         R"({"name":"profile","type":"hasOne","target":"profiles","foreignKey":"kindId"})");
    post("tags:create", R"([{"name":"ünïcødé ✓ 日本"},{"name":"b"}])");
    ApiResult up = api_->Upload("attachments:create", std::string("bin\0ary\n", 8), "a.bin");
    EXPECT_EQ(up.status, 200) << up.body;
    std::string big_text(1 << 20, 'x');
    for (size_t i = 0; i < big_text.size(); i += 97) big_text[i] = 'y';
    json::array big_json;
    for (int i = 0; i < 5000; ++i)
      big_json.push_back(json::object{{"k", i}, {"v", "é" + std::to_string(i)}});
    // Row 1 points at row 3 (a parent with a higher key), row 2 is all NULLs.
    json::object first{{"s", "ünïcødé ✓"},
                       {"t", "line1\nline2\t\"quoted\" back\\slash \x01\r/"},
                       {"i", -2147483647},
                       {"b", "9007199254740993"},
                       {"f", 1.5},
                       {"d", 3.141592653589793},
                       {"dec", "12345678901234.123456"},
                       {"bo", true},
                       {"dt", "2026-01-02T03:04:05.678+05:30"},
                       {"dnt", "2026-01-02 03:04:05"},
                       {"d0", "2026-02-28"},
                       {"tm", "23:59:58"},
                       {"j", json::parse(R"({"a":[1,null,"x",{"b":false}],"é":1.25})")},
                       {"u", "123e4567-e89b-12d3-a456-426614174000"},
                       {"pw", "secret pw"},
                       {"tags", json::array{1, 2}},
                       {"files", json::array{up.data().at("id")}}};
    post("kinds:create", json::serialize(first));
    post("kinds:create", R"({"s":null})");
    post("kinds:create",
         json::serialize(json::object{{"s", "big"}, {"t", big_text}, {"j", big_json}}));
    post("kinds:update?filterByTk=1", R"({"parentId":3})");
    post("profiles:create", R"({"bio":"mine","kindId":1})");
    post("users:create", R"({"nickname":"Zoë","email":"zoe@example.com","password":"pw123456"})");
    return std::string(up.data().at("filename").as_string());
  }
};

// PostgreSQL: every key, unique constraint, index and foreign key of the schema, with its
// definition (a restore sets them aside while it loads and builds them again); SQLite: none.
std::vector<std::string> Keys(const std::optional<TestDatabase>& pg) {
  std::vector<std::string> out;
  if (!pg) return out;
  auto conn = db::OpenPostgres(pg->options());
  EXPECT_TRUE(conn.ok()) << conn.status().message();
  if (!conn.ok()) return out;
  auto rs = (*conn)->Query(
      "SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) "
      "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace UNION ALL "
      "SELECT pg_get_indexdef(indexrelid) FROM pg_index JOIN pg_class c ON c.oid = indexrelid "
      "WHERE c.relnamespace = current_schema()::regnamespace ORDER BY 1");
  EXPECT_TRUE(rs.ok()) << rs.status().message();
  if (!rs.ok()) return out;
  for (int r = 0; r < (*rs)->row_count(); ++r) out.emplace_back((*rs)->Text(r, 0));
  return out;
}

// PostgreSQL: the schemas a restore staged its rows in that are still there (none once it
// ended, whether it succeeded or failed); SQLite: none.
int StagingSchemas(const std::optional<TestDatabase>& pg) {
  if (!pg) return 0;
  auto conn = db::OpenPostgres(pg->options());
  EXPECT_TRUE(conn.ok()) << conn.status().message();
  if (!conn.ok()) return -1;
  auto rs = (*conn)->Query(
      "SELECT count(*) FROM pg_namespace WHERE starts_with(nspname, 'slipway_restore_')");
  EXPECT_TRUE(rs.ok()) << rs.status().message();
  return rs.ok() ? static_cast<int>((*rs)->Int(0, 0)) : -1;
}

TEST_P(RestoreTest, EveryFieldTypeRoundTripsRowByRowAndFileByFile) {
  std::string stored = MakeData();
  auto before = Everything(*api_);
  std::string name = BackupNow(*api_);
  const std::vector<std::string> keys = Keys(pg_);

  // Change everything the backup holds: rows, schema, files.
  ASSERT_EQ(api_->Post("kinds:destroy?filterByTk=2").status, 200);
  ASSERT_EQ(api_->Post("kinds:update?filterByTk=1", json::parse(R"({"s":"changed"})")).status, 200);
  ASSERT_EQ(api_->Post("measures:destroy?filterByTk=3").status, 200);
  ASSERT_EQ(api_->Post("collections:create", json::parse(R"({"name":"extra"})")).status, 200);
  ASSERT_EQ(api_->Post("collections:destroy?filterByTk=profiles").status, 200);
  ApiResult later = api_->Upload("attachments:create", "later", "later.txt");
  ASSERT_EQ(later.status, 200);
  std::string later_file(later.data().at("filename").as_string());
  ASSERT_EQ(api_->Post("users:destroy?filterByTk=2").status, 200);

  json::object done = RestoreNow(*api_, name);
  ASSERT_EQ(done.at("state"), "succeeded") << json::serialize(done);
  const json::object& result = done.at("result").as_object();
  EXPECT_TRUE(result.at("safetyBackup").is_string());
  EXPECT_TRUE(
      fs::exists(storage() / "backups" / std::string(result.at("safetyBackup").as_string())));

  auto after = Everything(*api_);
  for (const auto& [c, rows] : before) EXPECT_EQ(rows, after[c]) << c;
  EXPECT_EQ(api_->Get("extra:list").status, 404);
  std::vector<std::string> restored_keys = Keys(pg_), lost, gained;
  std::set_difference(keys.begin(), keys.end(), restored_keys.begin(), restored_keys.end(),
                      std::back_inserter(lost));
  std::set_difference(restored_keys.begin(), restored_keys.end(), keys.begin(), keys.end(),
                      std::back_inserter(gained));
  EXPECT_EQ(lost, std::vector<std::string>{}) << "keys, indexes or references lost";
  EXPECT_EQ(gained, std::vector<std::string>{}) << "keys, indexes or references gained";
  EXPECT_EQ(StagingSchemas(pg_), 0);
  // Files: the backup's are back byte for byte, the later one is gone.
  HttpResult file = node_->Get("/storage/uploads/" + stored);
  EXPECT_EQ(file.status, 200);
  EXPECT_EQ(file.body, std::string("bin\0ary\n", 8));
  EXPECT_EQ(node_->Get("/storage/uploads/" + later_file).status, 404);
  // Passwords are the restored hashes (the user signs in), keys go on after the restored ones,
  // and relations resolve.
  Api zoe(node_->port());
  EXPECT_EQ(zoe.SignIn("zoe@example.com", "pw123456").status, 200);
  ApiResult next = api_->Post("kinds:create", json::parse(R"({"s":"next"})"));
  ASSERT_EQ(next.status, 200) << next.body;
  EXPECT_EQ(next.data().at("id").as_int64(), 4);
  ApiResult one = api_->Get("kinds:get?filterByTk=1&appends=parent,tags,profile,files,children");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.data().at("parent").at("id"), 3);
  EXPECT_EQ(one.data().at("tags").as_array().size(), 2u);
  EXPECT_EQ(one.data().at("profile").at("bio"), "mine");
  // The restore is listed; the node serves writes through a restart too.
  ApiResult listed = api_->Get("backups:list");
  ASSERT_EQ(listed.status, 200);
  EXPECT_GE(listed.data().as_array().size(), 2u);
  StartNode();
  auto again = Everything(*api_);
  EXPECT_EQ(before.at("tags"), again.at("tags"));
}

TEST_P(RestoreTest, DownloadedUploadedAndDestroyedThroughTheApi) {
  ASSERT_EQ(api_->Post("collections:create", json::parse(R"({"name":"notes","fields":[
      {"name":"body","type":"text"}]})"))
                .status,
            200);
  ASSERT_EQ(api_->Post("notes:create", json::parse(R"({"body":"kept"})")).status, 200);
  std::string name = BackupNow(*api_);
  ApiResult download = api_->Get("backups:download?filterByTk=" + name);
  ASSERT_EQ(download.status, 200);
  std::string on_disk;
  {
    std::ifstream in(storage() / "backups" / name, std::ios::binary);
    on_disk.assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_EQ(download.body, on_disk);
  ASSERT_EQ(api_->Post("notes:create", json::parse(R"({"body":"later"})")).status, 200);

  // The downloaded archive uploaded back: kept in the folder, and restored.
  ApiResult up = api_->Upload("backups:upload", download.body, "mine.slwbak");
  ASSERT_EQ(up.status, 202) << up.body;
  json::object done = WaitDone(
      *api_, "backups:restoreStatus?task=" + std::string(up.data().at("task").as_string()));
  EXPECT_EQ(done.at("state"), "succeeded") << json::serialize(done);
  EXPECT_EQ(api_->Get("notes:list").data().as_array().size(), 1u);
  std::string uploaded(up.data().at("name").as_string());
  EXPECT_TRUE(fs::exists(storage() / "backups" / uploaded));
  EXPECT_EQ(api_->Post("backups:upload", json::parse(R"({"file":"x"})")).status, 400);

  ASSERT_EQ(api_->Post("backups:destroy?filterByTk=" + name).status, 200);
  EXPECT_FALSE(fs::exists(storage() / "backups" / name));
  EXPECT_EQ(api_->Post("backups:destroy?filterByTk=" + name).status, 404);
  ApiResult listed = api_->Get("backups:list");
  ASSERT_EQ(listed.status, 200);
  for (const json::value& b : listed.data().as_array()) EXPECT_NE(b.at("name"), json::value(name));
}

TEST_P(RestoreTest, BadArchivesAreRefusedAndChangeNothing) {
  MakeData();
  auto before = Everything(*api_);
  fs::path good = dir_.path() / "good.slwbak";
  ASSERT_EQ(Cli({"backup", "create", "--output", good.string()}).exit_code, 0);
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& file, const std::string& content) {
    fs::path p = dir_.path() / file;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  };
  std::string flipped = bytes;
  flipped[flipped.size() / 3] = static_cast<char>(flipped[flipped.size() / 3] ^ 0x01);
  // A newer app's backup: written with the archive writer as that version would.
  fs::path newer = dir_.path() / "newer.slwbak";
  {
    auto w = ops::ArchiveWriter::Create(newer, {});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->AddBytes("dump/schema.json", R"({"collections":[],"plugins":[]})").ok());
    ASSERT_TRUE((*w)->Finish(json::object{{"kind", "backup"}, {"appVersion", "99.0.0"}}).ok());
  }
  fs::path pw = dir_.path() / "pw";
  std::ofstream(pw) << "right password\n";
  fs::path encrypted = dir_.path() / "encrypted.slwbak";
  ASSERT_EQ(
      Cli({"backup", "create", "--output", encrypted.string(), "--password-file", pw.string()})
          .exit_code,
      0);
  std::ofstream(pw) << "wrong password\n";
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  std::vector<Case> cases = {
      {{write("truncated.slwbak", bytes.substr(0, bytes.size() / 2))}, "truncated"},
      {{write("flipped.slwbak", flipped)}, "damaged"},
      {{write("empty.slwbak", "")}, "empty"},
      {{write("foreign.slwbak", "PK\x03\x04 not a backup at all")}, "not a Slipway backup"},
      {{newer.string()}, "newer than this"},
      {{encrypted.string(), "--password-file", pw.string()}, "password is wrong"},
      {{encrypted.string()}, "encrypted"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"backup", "restore"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    RunResult r = Cli(args);
    EXPECT_NE(r.exit_code, 0) << c.args[0];
    EXPECT_NE((r.out + r.err).find(c.says), std::string::npos) << c.args[0] << ": " << r.err;
  }
  // Through the API: a name outside the folder, for download, restore and destroy.
  for (const char* path : {"backups:download?filterByTk=../db/slipway.sqlite",
                           "backups:download?filterByTk=%2Fetc%2Fpasswd"}) {
    ApiResult r = api_->Get(path);
    EXPECT_EQ(r.status, 400) << path << " " << r.body;
  }
  EXPECT_EQ(api_->Post("backups:restore", json::parse(R"({"name":"../x.slwbak"})")).status, 400);
  EXPECT_EQ(api_->Post("backups:restore", json::parse(R"({"name":"missing.slwbak"})")).status, 404);
  EXPECT_EQ(api_->Post("backups:destroy?filterByTk=..%2Fgood.slwbak").status, 400);
  EXPECT_EQ(before, Everything(*api_));
  EXPECT_EQ(api_->Get("maintenance:status").data().at("state"), "running");
}

TEST_P(RestoreTest, AFailureMidwayLeavesThePreviousDataServing) {
  MakeData();
  fs::path good = dir_.path() / "good.slwbak";
  ASSERT_EQ(Cli({"backup", "create", "--output", good.string()}).exit_code, 0);
  // The same archive with one bad value in the last collection's rows: it passes every
  // checksum (it is a well-made archive) and fails when that row is inserted, after the schema
  // was replaced and other rows went in (on PostgreSQL, while the collections' rows load into
  // the staging schema).
  fs::path bad = dir_.path() / "bad.slwbak";
  Rewrite(good, bad, [](std::map<std::string, std::string>& entries, json::object&) {
    std::string& data = entries["dump/rows/kinds/000001.ndjson"];
    size_t at = data.find("\"i\":-2147483647");
    ASSERT_NE(at, std::string::npos);
    data.replace(at, 15, "\"i\":\"not a number\"");
  });
  // And one whose bad value is in a plugin's own table, which the change loads (on PostgreSQL
  // after the staged tables were moved in).
  fs::path late = dir_.path() / "late.slwbak";
  Rewrite(good, late, [](std::map<std::string, std::string>& entries, json::object&) {
    std::string& data = entries["dump/tables/rolesUsers/000001.ndjson"];
    size_t at = data.find("\"userId\":");
    ASSERT_NE(at, std::string::npos);
    size_t end = data.find_first_of(",}", at);
    data.replace(at + 9, end - at - 9, "\"not a number\"");
  });
  ASSERT_EQ(api_->Post("kinds:create", json::parse(R"({"s":"after the backup"})")).status, 200);
  auto before = Everything(*api_);
  const std::vector<std::string> keys = Keys(pg_);
  for (const auto& [archive, names] : {std::pair{bad, "kinds.i"}, std::pair{late, "rolesUsers"}}) {
    RunResult r = Cli({"backup", "restore", archive.string()});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(names), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("previous data is serving"), std::string::npos) << r.err;
    EXPECT_EQ(before, Everything(*api_));
    EXPECT_EQ(keys, Keys(pg_));
    EXPECT_EQ(StagingSchemas(pg_), 0);
    EXPECT_EQ(api_->Get("maintenance:status").data().at("state"), "running");
  }
  // And the good one restores after it, under an operator's maintenance, which stays on.
  ASSERT_EQ(api_->Post("maintenance:on", json::parse(R"({"message":"planned"})")).status, 200);
  RunResult ok = Cli({"backup", "restore", good.string()});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(api_->Get("maintenance:status").data().at("state"), "maintenance");
  EXPECT_EQ(api_->Get("maintenance:status").data().at("message"), "planned");
  ASSERT_EQ(api_->Post("maintenance:off").status, 200);
  EXPECT_EQ(api_->Get("kinds:list").data().as_array().size(), 3u);
}

TEST_P(RestoreTest, PluginsThisNodeCannotLoadAreNamedAndOlderVersionsRestore) {
  MakeData();
  fs::path good = dir_.path() / "good.slwbak";
  ASSERT_EQ(Cli({"backup", "create", "--output", good.string()}).exit_code, 0);
  // Made by an older Slipway, with two plugins enabled that this node has not got.
  fs::path foreign = dir_.path() / "foreign.slwbak";
  Rewrite(good, foreign, [](std::map<std::string, std::string>& entries, json::object& manifest) {
    json::object schema = json::parse(entries["dump/schema.json"]).as_object();
    for (const char* name : {"ghost", "phantom"}) {
      schema["plugins"].as_array().push_back(json::object{{"name", name},
                                                          {"version", "1.2.0"},
                                                          {"enabled", true},
                                                          {"installed", true},
                                                          {"builtIn", false},
                                                          {"options", nullptr},
                                                          {"packageVersion", "1.2.0"}});
    }
    entries["dump/schema.json"] = json::serialize(schema);
    manifest["appVersion"] = "0.0.1";
  });
  ASSERT_EQ(api_->Post("kinds:destroy?filterByTk=1").status, 200);
  auto before = Everything(*api_);
  RunResult refused = Cli({"backup", "restore", foreign.string()});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("ghost@1.2.0 (not added here), phantom@1.2.0"), std::string::npos)
      << refused.err;
  EXPECT_EQ(before, Everything(*api_));
  // Restored with them disabled: everything else comes back.
  RunResult restored = Cli({"backup", "restore", foreign.string(), "--disable-missing-plugins"});
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(api_->Get("kinds:list").data().as_array().size(), 3u);
  ApiResult tasks = api_->Get("asyncTasks:list?kind=backups.restore");
  ASSERT_EQ(tasks.status, 200);
  const json::value& last = tasks.data().at(0);
  EXPECT_EQ(last.at("result").at("disabledPlugins"), json::parse(R"(["ghost","phantom"])"));
  EXPECT_EQ(last.at("result").at("appVersion"), "0.0.1");
}

TEST_P(RestoreTest, ANodeKilledMidwayLeavesThePreviousDataServing) {
  // A stable node id, so that the node started again knows the task it held.
  env_["NODE_ID"] = "solo";
  StartNode();
  MakeBulkCollection("bulk", 300000);
  if (HasFatalFailure()) return;
  std::string name = BackupNow(*api_);
  ASSERT_EQ(api_->Post("bulk:create", json::parse(R"({"v":"after"})")).status, 200);
  ApiResult asked = api_->Post("backups:restore", json::object{{"name", name}});
  ASSERT_EQ(asked.status, 202);
  // Killed midway: on PostgreSQL once rows of `bulk` are going into the staging schema (the
  // server's own progress of the COPY: the task's progress is written every second or so, and
  // the rows may all be in by then). On SQLite the
  // restore cannot write its task row while it holds the write lock, and a request may wait
  // for it: the database itself is watched, until its write lock stays taken for 30 ms and
  // more (the restore's one transaction, not the short writes before it).
  // (The gate is not watched: a request already past it waits on the restore's locks and
  // answers late.)
  const std::string task(asked.data().at("task").as_string());
  bool midway = false;
  if (GetParam()) {
    auto watch = db::OpenPostgres(pg_->options());
    ASSERT_TRUE(watch.ok()) << watch.status().message();
    for (int i = 0; i < 20000 && !midway; ++i) {
      auto rs = (*watch)->Query(
          "SELECT count(*) FROM pg_stat_progress_copy p JOIN pg_class c ON c.oid = p.relid "
          "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'bulk' AND "
          "starts_with(n.nspname, 'slipway_restore_') AND p.tuples_processed > 0");
      ASSERT_TRUE(rs.ok()) << rs.status().message();
      midway = (*rs)->Int(0, 0) > 0;
      if (!midway) std::this_thread::sleep_for(1ms);
    }
  } else {
    auto probe = db::OpenSqlite({storage() / "db" / "slipway.sqlite"});
    ASSERT_TRUE(probe.ok());
    ASSERT_TRUE((*probe)->ExecScript("PRAGMA busy_timeout = 0").ok());
    const auto until = std::chrono::steady_clock::now() + 60s;
    std::optional<std::chrono::steady_clock::time_point> locked_since;
    while (!midway && std::chrono::steady_clock::now() < until) {
      if ((*probe)->ExecScript("BEGIN IMMEDIATE").ok()) {
        (*probe)->ExecScript("ROLLBACK").IgnoreError();
        locked_since.reset();
      } else if (!locked_since) {
        locked_since = std::chrono::steady_clock::now();
      } else {
        midway = std::chrono::steady_clock::now() - *locked_since >= 30ms;
      }
      std::this_thread::sleep_for(1ms);
    }
  }
  ASSERT_TRUE(midway);
  ASSERT_TRUE(node_->process().Signal(SIGKILL));
  node_->process().Wait(10s);
  StartNode();
  // The restart fails the task it held, and the gate opens on the data as it was.
  json::object done = WaitDone(*api_, "backups:restoreStatus?task=" + task);
  EXPECT_EQ(done.at("state"), "failed") << json::serialize(done);
  ApiResult list;
  for (int i = 0; i < 200; ++i) {
    list = api_->Get("bulk:list?pageSize=1&sort=-id&count=exact");
    if (list.status == 200) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.data().at(0).at("v"), "after");
  EXPECT_EQ(list.json.at("meta").at("count"), 300001);
  // On PostgreSQL the node was killed while the rows loaded into a staging schema, which stays
  // until the next restore drops it first.
  EXPECT_EQ(StagingSchemas(pg_), GetParam() ? 1 : 0);
  json::object again = RestoreNow(*api_, name);
  ASSERT_EQ(again.at("state"), "succeeded") << json::serialize(again);
  EXPECT_EQ(StagingSchemas(pg_), 0);
  list = api_->Get("bulk:list?pageSize=1&sort=-id&count=exact");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.json.at("meta").at("count"), 300000);
}

INSTANTIATE_TEST_SUITE_P(Dialects, RestoreTest, ::testing::Values(false, true), DialectParamName);

// A SQLite backup restores into PostgreSQL, and that one's backup into SQLite, every value
// intact.
TEST(RestoreAcrossDialects, SqliteToPostgresAndBack) {
  TempDir dir;
  std::map<std::string, std::string> base = {{"APP_KEY", "integration-test-key-0123456789abcdef"}};
  auto start = [&](const fs::path& storage, const std::map<std::string, std::string>& env) {
    auto node = std::make_unique<Node>(NodeOptions{.storage = storage, .env = env});
    EXPECT_TRUE(node->WaitHealthy(30s)) << node->process().Stderr();
    auto api = std::make_unique<Api>(node->port());
    EXPECT_EQ(api->SignIn("admin@nocobase.com", "admin123").status, 200);
    return std::make_pair(std::move(node), std::move(api));
  };
  // The source: SQLite, with data of every kind.
  fs::path sqlite_storage = dir.path() / "sqlite";
  auto [source, source_api] = start(sqlite_storage, base);
  ASSERT_EQ(source_api
                ->Post("collections:create", json::parse(R"({"name":"things","fields":[
      {"name":"s","type":"string"},{"name":"dec","type":"decimal","precision":12,"scale":3},
      {"name":"bo","type":"boolean"},{"name":"dt","type":"date"},{"name":"j","type":"json"},
      {"name":"u","type":"uuid"},{"name":"d0","type":"dateOnly"},{"name":"tm","type":"time"},
      {"name":"owner","type":"belongsTo","target":"users"}]})"))
                .status,
            200);
  ASSERT_EQ(source_api
                ->Post("things:create", json::parse(R"([
      {"s":"ünïcødé ✓","dec":"-123.456","bo":true,"dt":"2026-06-30T23:59:59.999-07:00",
       "j":{"k":[1,2,{"x":null}]},"u":"00000000-0000-4000-8000-000000000001","d0":"2024-02-29",
       "tm":"00:00:01","ownerId":1},
      {"s":null,"bo":false}])"))
                .status,
            200);
  auto rows = [](const Api& api) {
    std::map<std::string, json::value> out;
    for (const char* c : {"things", "users", "roles"}) {
      ApiResult r = api.Get(std::string(c) + ":list?pageSize=100&sort=" +
                            (std::string(c) == "roles" ? "name" : "id"));
      EXPECT_EQ(r.status, 200) << r.body;
      out[c] = r.data();
    }
    return out;
  };
  auto original = rows(*source_api);
  fs::path from_sqlite = dir.path() / "from-sqlite.slwbak";
  ASSERT_EQ(
      Cli(base, sqlite_storage, dir.path(), {"backup", "create", "--output", from_sqlite.string()})
          .exit_code,
      0);
  EXPECT_EQ(source->Stop(), 0);

  // Into PostgreSQL (a running node: the CLI gates it, restores, and it reloads).
  TestDatabase pg;
  ASSERT_TRUE(pg.Create());
  auto pg_env = base;
  pg_env.merge(PostgresEnv(pg.options()));
  fs::path pg_storage = dir.path() / "pg";
  auto [target, target_api] = start(pg_storage, pg_env);
  RunResult restored =
      Cli(pg_env, pg_storage, dir.path(), {"backup", "restore", from_sqlite.string()});
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  ASSERT_EQ(target_api->SignIn("admin@nocobase.com", "admin123").status, 200);
  EXPECT_EQ(original, rows(*target_api));
  ApiResult made = target_api->Post("things:create", json::parse(R"({"s":"pg"})"));
  ASSERT_EQ(made.status, 200) << made.body;
  EXPECT_EQ(made.data().at("id"), 3);
  ASSERT_EQ(target_api->Post("things:destroy?filterByTk=3").status, 200);

  // And back into a fresh SQLite, from the PostgreSQL node's backup.
  fs::path from_pg = dir.path() / "from-pg.slwbak";
  ASSERT_EQ(Cli(pg_env, pg_storage, dir.path(), {"backup", "create", "--output", from_pg.string()})
                .exit_code,
            0);
  EXPECT_EQ(target->Stop(), 0);
  fs::path back_storage = dir.path() / "back";
  auto [back, back_api] = start(back_storage, base);
  EXPECT_EQ(back->Stop(), 0);  // restored offline this time, as the upgrade procedure does
  RunResult back_restored =
      Cli(base, back_storage, dir.path(), {"backup", "restore", from_pg.string()});
  ASSERT_EQ(back_restored.exit_code, 0) << back_restored.out << back_restored.err;
  auto [again, again_api] = start(back_storage, base);
  EXPECT_EQ(original, rows(*again_api));
  EXPECT_EQ(again->Stop(), 0);
}

}  // namespace
}  // namespace slipway::testing
