// Environment migration (issue 14) between two real environments, on SQLite and PostgreSQL: a
// development environment (collections, relations, a role, a plugin enabled) is exported and
// imported into a production environment that has business data of its own. Each rule does what
// it says, row by row; the dry run's diff is what the import then changes (compared with the
// database before and after); bad packages and an import that fails midway change nothing.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "api_client.h"
#include "archive_edit.h"
#include "db/postgres/postgres_schema_lock.h"
#include "db/schema_lock.h"
#include "one_node.h"
#include "ops/archive.h"

namespace slipway::testing {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Every row of a collection as the API lists it, by key ("id", or the record's pair).
std::map<std::string, json::object> Rows(const Api& api, const std::string& collection,
                                         const std::string& key = "id") {
  std::map<std::string, json::object> out;
  ApiResult r = api.Get(collection + ":list?pageSize=1000&sort=" + key);
  EXPECT_EQ(r.status, 200) << collection << ": " << r.body;
  if (r.status != 200) return out;
  for (const json::value& v : r.data().as_array()) {
    out[json::serialize(v.at(key))] = v.as_object();
  }
  return out;
}

// What changed between two listings of one collection: keys inserted, updated, deleted.
struct Changes {
  int64_t insert = 0, update = 0, remove = 0;
};
Changes Compare(const std::map<std::string, json::object>& before,
                const std::map<std::string, json::object>& after) {
  Changes c;
  for (const auto& [k, row] : after) {
    auto it = before.find(k);
    if (it == before.end()) {
      ++c.insert;
    } else {
      // Fields the import added are null in the rows that were there.
      for (const auto& [field, value] : row) {
        const json::value* was = it->second.if_contains(field);
        if ((was == nullptr && !value.is_null()) || (was != nullptr && *was != value)) {
          ++c.update;
          break;
        }
      }
    }
  }
  for (const auto& [k, row] : before) c.remove += after.count(k) ? 0 : 1;
  return c;
}

// A second environment beside the fixture's: its own storage, database and node.
struct Environment {
  explicit Environment(bool postgres) {
    env = {{"APP_KEY", "development-key-0123456789abcdef012"}};
    if (postgres) {
      pg.emplace();
      EXPECT_TRUE(pg->Create());
      env.merge(PostgresEnv(pg->options()));
    }
    node =
        std::make_unique<Node>(NodeOptions{.storage = dir.path() / "storage", .env = env}, "dev");
    EXPECT_TRUE(node->WaitHealthy(std::chrono::seconds(30))) << node->process().Stderr();
    api = std::make_unique<Api>(node->port());
    EXPECT_EQ(api->SignIn("admin@nocobase.com", "admin123").status, 200);
  }
  ~Environment() {
    if (node) EXPECT_EQ(node->Stop(), 0);
  }
  TempDir dir;
  std::map<std::string, std::string> env;
  std::optional<TestDatabase> pg;
  std::unique_ptr<Node> node;
  std::unique_ptr<Api> api;
};

void Ok(const ApiResult& r, const std::string& what) {
  EXPECT_TRUE(r.status == 200 || r.status == 202) << what << ": " << r.body;
}

class MigrationTest : public OneNodeTest {
 protected:
  // Development: the release being built.
  void MakeDevelopment(const Api& dev) {
    Ok(dev.Post("collections:create", json::parse(R"({"name":"categories","fields":[
         {"name":"title","type":"string"},{"name":"rank","type":"integer"}]})")),
       "categories");
    Ok(dev.Post("collections:create", json::parse(R"({"name":"products","fields":[
         {"name":"name","type":"string"},{"name":"price","type":"decimal","precision":10,"scale":2},
         {"name":"category","type":"belongsTo","target":"categories","foreignKey":"categoryId"}]})")),
       "products");
    Ok(dev.Post("collections:create", json::parse(R"({"name":"tags","fields":[
         {"name":"label","type":"string"}]})")),
       "tags");
    Ok(dev.Post("collections/products/fields:create",
                json::parse(R"({"name":"tags","type":"belongsToMany","target":"tags"})")),
       "products.tags");
    Ok(dev.Post("collections:create", json::parse(R"({"name":"orders","fields":[
         {"name":"total","type":"double"},{"name":"note","type":"text"}]})")),
       "orders");
    Ok(dev.Post("collections:create", json::parse(R"({"name":"notes","fields":[
         {"name":"text","type":"string"}]})")),
       "notes");
    Ok(dev.Post("categories:create",
                json::parse(R"([{"id":1,"title":"Books","rank":1},{"id":2,"title":"Music","rank":2},
                                {"id":3,"title":"Games","rank":3}])")),
       "categories rows");
    Ok(dev.Post("products:create", json::parse(R"([
         {"id":1,"name":"Dune","price":"9.90","categoryId":1},
         {"id":2,"name":"Abbey Road","price":"19.00","categoryId":2},
         {"id":3,"name":"Chess","price":"5.00","categoryId":3}])")),
       "products rows");
    Ok(dev.Post("tags:create",
                json::parse(R"([{"id":1,"label":"dev label"},{"id":2,"label":"new"}])")),
       "tags rows");
    Ok(dev.Post("orders:create", json::parse(R"([{"id":1,"total":1.5,"note":"a test order"}])")),
       "orders rows");
    Ok(dev.Post("notes:create", json::parse(R"([{"id":1,"text":"dev note"}])")), "notes rows");
    Ok(dev.Post("roles:create", json::parse(R"({"name":"editor","title":"Editor"})")), "role");
    Ok(dev.Post("pm:enable?filterByTk=audit-log"), "audit-log");
  }

  // Production: an older structure with business data of its own.
  void MakeProduction() {
    const Api& prod = *api_;
    Ok(prod.Post("collections:create", json::parse(R"({"name":"categories","fields":[
         {"name":"title","type":"string"},{"name":"rank","type":"integer"}]})")),
       "categories");
    Ok(prod.Post("collections:create", json::parse(R"({"name":"products","fields":[
         {"name":"name","type":"string"},{"name":"price","type":"decimal","precision":10,"scale":2},
         {"name":"category","type":"belongsTo","target":"categories","foreignKey":"categoryId"}]})")),
       "products");
    Ok(prod.Post("collections:create", json::parse(R"({"name":"tags","fields":[
         {"name":"label","type":"string"}]})")),
       "tags");
    Ok(prod.Post("collections:create", json::parse(R"({"name":"orders","fields":[
         {"name":"total","type":"double"}]})")),
       "orders");
    Ok(prod.Post("collections:create", json::parse(R"({"name":"notes","fields":[
         {"name":"text","type":"string"},{"name":"pinned","type":"boolean"}]})")),
       "notes");
    Ok(prod.Post(
           "categories:create",
           json::parse(R"([{"id":1,"title":"Old books","rank":1},{"id":2,"title":"Music","rank":2},
                                 {"id":5,"title":"Prod only","rank":5}])")),
       "categories rows");
    Ok(prod.Post("products:create", json::parse(R"([
         {"id":1,"name":"Dune","price":"8.00","categoryId":1},
         {"id":9,"name":"Prod product","price":"1.00","categoryId":2}])")),
       "products rows");
    Ok(prod.Post("tags:create", json::parse(R"([{"id":1,"label":"prod label"}])")), "tags rows");
    Ok(prod.Post("orders:create", json::parse(R"([{"total":100},{"total":200}])")), "orders rows");
    Ok(prod.Post("notes:create", json::parse(R"([{"id":7,"text":"prod note","pinned":true}])")),
       "notes rows");
  }

  // Exports from `dev` with `rules`, downloads the package and uploads it here; returns its name.
  std::string Ship(const Api& dev, const json::object& rules) {
    ApiResult made =
        dev.Post("migrations:create", json::object{{"title", "release 1"}, {"rules", rules}});
    EXPECT_EQ(made.status, 202) << made.body;
    if (made.status != 202) return "";
    json::object task = WaitTask(dev, std::string(made.data().at("taskId").as_string()));
    EXPECT_EQ(task["state"], "succeeded") << json::serialize(task);
    const std::string name(made.data().at("name").as_string());
    ApiResult file = dev.Get("migrations:download?filterByTk=" + name);
    EXPECT_EQ(file.status, 200);
    ApiResult up = api_->Upload("migrations:upload", file.body, name);
    EXPECT_EQ(up.status, 200) << up.body;
    return up.status == 200 ? std::string(up.data().at("name").as_string()) : "";
  }

  // Everything an import may change here, as the API shows it.
  std::map<std::string, std::map<std::string, json::object>> Everything() {
    std::map<std::string, std::map<std::string, json::object>> all;
    for (const char* c : {"categories", "products", "tags", "orders", "notes"}) {
      all[c] = Rows(*api_, c);
    }
    all["roles"] = Rows(*api_, "roles", "name");
    all["schema"] = {};
    ApiResult cs = api_->Get("collections:list?paginate=false&appends=fields");
    EXPECT_EQ(cs.status, 200);
    for (const json::value& c : cs.data().as_array()) {
      all["schema"][std::string(c.at("name").as_string())] = c.as_object();
    }
    return all;
  }

  static json::object Rules() {
    return json::object{{"tables", json::object{{"categories", "overwrite"},
                                                {"products", "upsert"},
                                                {"tags", "insert-ignore"},
                                                {"productsTags", "overwrite"},
                                                {"notes", "skip"}}}};
  }
};

TEST_P(MigrationTest, EachRuleDoesWhatItSaysAndTheDryRunIsWhatTheImportChanges) {
  Environment dev(GetParam());
  MakeDevelopment(*dev.api);
  MakeProduction();
  const std::string name = Ship(*dev.api, Rules());
  ASSERT_FALSE(name.empty());

  // The dry run: production's `orders` has values in a field the package drops... it does not:
  // orders gains `note`. Nothing is refused.
  auto before = Everything();
  ApiResult checked = api_->Post("migrations:check", json::object{{"name", name}});
  ASSERT_EQ(checked.status, 200) << checked.body;
  const json::object diff = checked.data().as_object();
  ASSERT_TRUE(diff.at("ok").as_bool()) << json::serialize(diff);
  EXPECT_EQ(Everything(), before) << "the dry run changed something";

  std::map<std::string, json::object> rows_by_table;
  for (const json::value& r : diff.at("rows").as_array()) {
    rows_by_table[std::string(r.at("table").as_string())] = r.as_object();
  }
  std::set<std::string> changes;
  for (const json::value& c : diff.at("schema").as_array()) {
    std::string s =
        std::string(c.at("change").as_string()) + " " + std::string(c.at("collection").as_string());
    if (c.as_object().contains("field")) s += "." + std::string(c.at("field").as_string());
    changes.insert(s);
  }
  EXPECT_TRUE(changes.count("addField orders.note")) << json::serialize(diff.at("schema"));
  EXPECT_TRUE(changes.count("addField products.tags")) << json::serialize(diff.at("schema"));
  EXPECT_TRUE(changes.count("addCollection productsTags")) << json::serialize(diff.at("schema"));
  EXPECT_FALSE(changes.count("dropField notes.pinned")) << "a skipped collection is left alone";
  bool enables_audit_log = false;
  for (const json::value& p : diff.at("plugins").as_array()) {
    enables_audit_log =
        enables_audit_log || (p.at("name") == "audit-log" && p.at("change") == "enable");
  }
  EXPECT_TRUE(enables_audit_log) << json::serialize(diff.at("plugins"));
  EXPECT_FALSE(rows_by_table.count("orders")) << "business data is schema-only by default";
  EXPECT_FALSE(rows_by_table.count("notes")) << "skip carries no rows";

  // The import.
  ApiResult asked = api_->Post("migrations:execute", json::object{{"name", name}});
  ASSERT_EQ(asked.status, 202) << asked.body;
  json::object task = WaitTask(*api_, std::string(asked.data().at("taskId").as_string()));
  ASSERT_EQ(task["state"], "succeeded") << json::serialize(task);
  const json::object& result = task.at("result").as_object();
  EXPECT_TRUE(result.at("backup").is_string()) << "an automatic backup is taken first";
  auto after = Everything();

  // The diff is what changed, table by table.
  for (const char* c : {"categories", "products", "tags"}) {
    Changes seen = Compare(before[c], after[c]);
    const json::object& said = rows_by_table[c];
    EXPECT_EQ(seen.insert, said.at("insert").as_int64()) << c;
    EXPECT_EQ(seen.update, said.at("update").as_int64()) << c;
    EXPECT_EQ(seen.remove, said.at("delete").as_int64()) << c;
  }
  Changes roles = Compare(before["roles"], after["roles"]);
  EXPECT_EQ(roles.insert, rows_by_table["roles"].at("insert").as_int64());
  EXPECT_EQ(roles.remove, rows_by_table["roles"].at("delete").as_int64());

  // Row by row, each rule.
  auto dev_rows = [&](const char* c) { return Rows(*dev.api, c); };
  // overwrite: exactly development's rows.
  EXPECT_EQ(after["categories"], dev_rows("categories"));
  // upsert: development's rows, and production's others kept.
  auto products = dev_rows("products");
  products[json::serialize(json::value(9))] = before["products"][json::serialize(json::value(9))];
  products[json::serialize(json::value(9))]["tags"] = nullptr;  // list rows have no appends
  for (auto& [k, row] : after["products"]) row.erase("tags");
  for (auto& [k, row] : products) row.erase("tags");
  EXPECT_EQ(after["products"], products);
  // insert-ignore: production's row 1 as it was, development's row 2 added.
  EXPECT_EQ(after["tags"].at("1").at("label"), "prod label");
  EXPECT_EQ(after["tags"].at("2").at("label"), "new");
  // schema-only: production's orders untouched, with the new field.
  ASSERT_EQ(after["orders"].size(), 2u);
  EXPECT_EQ(after["orders"].at("2").at("total").to_number<double>(), 200.0);
  EXPECT_TRUE(after["orders"].at("2").contains("note"));
  // skip: production's notes as they were, structure included.
  EXPECT_EQ(after["notes"], before["notes"]);
  EXPECT_TRUE(after["notes"].at("7").contains("pinned"));
  // Configuration: the role and the plugin.
  EXPECT_TRUE(after["roles"].count("\"editor\""));
  ApiResult plugin = api_->Get("pm:get?filterByTk=audit-log");
  ASSERT_EQ(plugin.status, 200);
  EXPECT_TRUE(plugin.data().at("enabled").as_bool()) << plugin.body;

  // The log.
  ApiResult logs = api_->Get("migrationLogs:list");
  ASSERT_EQ(logs.status, 200);
  ASSERT_EQ(logs.data().as_array().size(), 1u);
  EXPECT_EQ(logs.data().at(0).at("status"), "succeeded");
  EXPECT_EQ(logs.data().at(0).at("package").as_string(), name);
  ApiResult log = api_->Get("migrationLogs:get?filterByTk=" +
                            std::to_string(logs.data().at(0).at("id").as_int64()));
  ASSERT_EQ(log.status, 200);
  EXPECT_EQ(log.data().at("diff").at("rows"), diff.at("rows"));

  // Importing the same package again changes no row.
  ApiResult again = api_->Post("migrations:check", json::object{{"name", name}});
  ASSERT_EQ(again.status, 200);
  for (const json::value& r : again.data().at("rows").as_array()) {
    EXPECT_EQ(r.at("insert").as_int64() + r.at("update").as_int64() + r.at("delete").as_int64(), 0)
        << json::serialize(r);
  }
  EXPECT_TRUE(again.data().at("schema").as_array().empty()) << again.body;
  // The new relation works.
  EXPECT_EQ(api_->Post("products:update?filterByTk=1", json::parse(R"({"tags":[2]})")).status, 200);
}

TEST_P(MigrationTest, BadPackagesAndRefusedImportsChangeNothing) {
  Environment dev(GetParam());
  MakeDevelopment(*dev.api);
  MakeProduction();
  // Production has a field the package lacks, holding values, and one whose type differs.
  Ok(api_->Post("collections/orders/fields:create",
                json::parse(R"({"name":"legacy","type":"string"})")),
     "orders.legacy");
  Ok(api_->Post("orders:update?filterByTk=1", json::parse(R"({"legacy":"keep me"})")), "legacy");

  // Rules naming what does not exist, or a rule a collection does not allow, at export.
  ApiResult unknown = dev.api->Post("migrations:create",
                                    json::parse(R"({"rules":{"tables":{"nosuch":"overwrite"}}})"));
  EXPECT_EQ(unknown.status, 400) << unknown.body;
  EXPECT_EQ(unknown.code(), "UNKNOWN_TABLE");
  ApiResult not_allowed =
      dev.api->Post("migrations:create", json::parse(R"({"rules":{"tables":{"roles":"upsert"}}})"));
  EXPECT_EQ(not_allowed.status, 400) << not_allowed.body;
  EXPECT_EQ(not_allowed.code(), "RULE_NOT_ALLOWED");
  ApiResult bad_rule =
      dev.api->Post("migrations:create", json::parse(R"({"rules":{"userDefined":"merge"}})"));
  EXPECT_EQ(bad_rule.status, 400) << bad_rule.body;

  const std::string name = Ship(*dev.api, Rules());
  ASSERT_FALSE(name.empty());
  auto before = Everything();
  const fs::path dir = storage() / "migrations";

  // The field holding values is a refusal, in the dry run and the import alike.
  ApiResult checked = api_->Post("migrations:check", json::object{{"name", name}});
  ASSERT_EQ(checked.status, 200) << checked.body;
  EXPECT_FALSE(checked.data().at("ok").as_bool());
  EXPECT_NE(checked.body.find("DATA_LOSS"), std::string::npos) << checked.body;
  EXPECT_NE(checked.body.find("orders.legacy"), std::string::npos) << checked.body;
  ApiResult refused = api_->Post("migrations:execute", json::object{{"name", name}});
  ASSERT_EQ(refused.status, 202);
  json::object task = WaitTask(*api_, std::string(refused.data().at("taskId").as_string()));
  EXPECT_EQ(task["state"], "failed");
  EXPECT_NE(json::serialize(task["error"]).find("orders.legacy"), std::string::npos);
  EXPECT_EQ(Everything(), before);

  // A package from a newer Slipway, one whose rules name a table nobody has, a damaged one, a
  // backup, and a name outside the folder.
  auto rewrite = [&](const std::string& to, const std::function<void(json::object&)>& edit) {
    Rewrite(dir / name, dir / to,
            [&](std::map<std::string, std::string>&, json::object& fields) { edit(fields); });
  };
  rewrite("newer.slwmig", [](json::object& m) { m["appVersion"] = "99.0.0"; });
  rewrite("unknown.slwmig",
          [](json::object& m) { m["rules"].as_object()["ghosts"] = "overwrite"; });
  ApiResult newer = api_->Post("migrations:check", json::object{{"name", "newer.slwmig"}});
  ASSERT_EQ(newer.status, 200);
  EXPECT_NE(newer.body.find("APP_VERSION_NEWER"), std::string::npos) << newer.body;
  ApiResult ghosts = api_->Post("migrations:check", json::object{{"name", "unknown.slwmig"}});
  ASSERT_EQ(ghosts.status, 200);
  EXPECT_NE(ghosts.body.find("UNKNOWN_TABLE"), std::string::npos) << ghosts.body;
  {
    std::string bytes = ReadFile(dir / name);
    bytes[bytes.size() / 2] ^= 0x20;
    std::ofstream(dir / "flipped.slwmig", std::ios::binary) << bytes;
  }
  ApiResult flipped = api_->Post("migrations:check", json::object{{"name", "flipped.slwmig"}});
  EXPECT_EQ(flipped.status, 400) << flipped.body;
  ApiResult made = api_->Post("backups:create", json::object{});
  ASSERT_EQ(made.status, 202);
  for (int i = 0; i < 400; ++i) {
    ApiResult st =
        api_->Get("backups:taskStatus?names=" + std::string(made.data().at("name").as_string()));
    if (!st.data().at(std::string(made.data().at("name").as_string())).at("inProgress").as_bool())
      break;
    std::this_thread::sleep_for(50ms);
  }
  fs::copy_file(storage() / "backups" / std::string(made.data().at("name").as_string()),
                dir / "a-backup.slwmig");
  ApiResult backup = api_->Post("migrations:check", json::object{{"name", "a-backup.slwmig"}});
  EXPECT_EQ(backup.status, 400) << backup.body;
  EXPECT_EQ(backup.code(), "NOT_A_MIGRATION");
  ApiResult outside = api_->Post("migrations:check", json::object{{"name", "../db/x.slwmig"}});
  EXPECT_EQ(outside.status, 400) << outside.body;
  ApiResult missing = api_->Post("migrations:check", json::object{{"name", "nope.slwmig"}});
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(Everything(), before);

  // With the loss allowed, behind another procedure holding the schema lock: refused after a
  // short wait, naming the lock, and nothing changed.
  {
    std::unique_ptr<db::SchemaLock> lock =
        GetParam() ? db::MakePostgresSchemaLock(pg_->options(), db::kSchemaLockKey)
                   : db::MakeFileSchemaLock(storage() / "db" / "slipway.sqlite.lock");
    auto taken = lock->TryAcquire();
    ASSERT_TRUE(taken.ok() && *taken);
    ApiResult locked =
        api_->Post("migrations:execute", json::object{{"name", name}, {"allowDataLoss", true}});
    ASSERT_EQ(locked.status, 202);
    json::object t = WaitTask(*api_, std::string(locked.data().at("taskId").as_string()));
    EXPECT_EQ(t["state"], "failed");
    EXPECT_NE(json::serialize(t["error"]).find("schema lock"), std::string::npos)
        << json::serialize(t);
    lock->Release();
  }
  EXPECT_EQ(Everything(), before);
  ApiResult logs = api_->Get("migrationLogs:list");
  ASSERT_EQ(logs.status, 200);
  for (const json::value& l : logs.data().as_array()) EXPECT_EQ(l.at("status"), "failed");

  // Then allowed, free: it applies, and the values are in the automatic backup.
  ApiResult go =
      api_->Post("migrations:execute", json::object{{"name", name}, {"allowDataLoss", true}});
  ASSERT_EQ(go.status, 202);
  json::object done = WaitTask(*api_, std::string(go.data().at("taskId").as_string()));
  ASSERT_EQ(done["state"], "succeeded") << json::serialize(done);
  EXPECT_FALSE(Rows(*api_, "orders").at("1").contains("legacy"));
}

TEST_P(MigrationTest, AnImportFailingMidwayLeavesProductionAsItWas) {
  Environment dev(GetParam());
  MakeDevelopment(*dev.api);
  MakeProduction();
  // Production's products have a unique code that development's rows collide with: the rows are
  // inserted after the schema changed and other rows went in, and then the import fails.
  Ok(api_->Post("collections/products/fields:create",
                json::parse(R"({"name":"code","type":"string","unique":true})")),
     "prod code");
  Ok(dev.api->Post("collections/products/fields:create",
                   json::parse(R"({"name":"code","type":"string","unique":true})")),
     "dev code");
  Ok(api_->Post("products:update?filterByTk=9", json::parse(R"({"code":"X"})")), "prod X");
  Ok(dev.api->Post("products:update?filterByTk=3", json::parse(R"({"code":"X"})")), "dev X");
  const std::string name = Ship(*dev.api, Rules());
  ASSERT_FALSE(name.empty());
  auto before = Everything();
  ApiResult checked = api_->Post("migrations:check", json::object{{"name", name}});
  ASSERT_EQ(checked.status, 200);
  ASSERT_TRUE(checked.data().at("ok").as_bool()) << checked.body;

  ApiResult asked = api_->Post("migrations:execute", json::object{{"name", name}});
  ASSERT_EQ(asked.status, 202);
  json::object task = WaitTask(*api_, std::string(asked.data().at("taskId").as_string()));
  EXPECT_EQ(task["state"], "failed") << json::serialize(task);
  EXPECT_NE(json::serialize(task["error"]).find("changed nothing"), std::string::npos)
      << json::serialize(task);
  EXPECT_EQ(Everything(), before);
  ApiResult plugin = api_->Get("pm:get?filterByTk=audit-log");
  EXPECT_FALSE(plugin.data().at("enabled").as_bool()) << "the plugin's change was rolled back too";
  ApiResult logs = api_->Get("migrationLogs:list");
  ASSERT_EQ(logs.status, 200);
  ASSERT_EQ(logs.data().as_array().size(), 1u);
  EXPECT_EQ(logs.data().at(0).at("status"), "failed");
  EXPECT_NE(logs.data().at(0).at("backup").as_string(), "");
  // Production keeps serving and writing.
  EXPECT_EQ(api_->Post("orders:create", json::parse(R"({"total":3})")).status, 200);
}

INSTANTIATE_TEST_SUITE_P(Dialects, MigrationTest, ::testing::Values(false, true), DialectParamName);

}  // namespace
}  // namespace slipway::testing
