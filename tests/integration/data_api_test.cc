// The data API end to end against the real binary, the same requests on SQLite and on
// PostgreSQL: sign-in, collections and fields with relations, records with filters, sorting,
// pagination and appends, bad input that changes nothing, and roles.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <thread>

#include "api_client.h"
#include "db/catalog.h"
#include "db/postgres/postgres_connection.h"
#include "db/sqlite/sqlite_connection.h"
#include "dialect_setups.h"
#include "node.h"
#include "schema_churn.h"
#include "test_database.h"

namespace slipway::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

json::value J(std::string_view text) { return json::parse(text); }

// The same requests on each Setup (dialect_setups.h).

class DataApiTest : public ::testing::TestWithParam<Setup> {
 protected:
  void SetUp() override {
    std::map<std::string, std::string> env = {{"APP_KEY", "integration-test-key-0123456789abcdef"}};
    if (!GetParam().fibers) env["DB_FIBER_POOL"] = "0";
    if (GetParam().dialect == db::Dialect::kPostgres) {
      pg_.emplace();
      ASSERT_TRUE(pg_->Create());
      env.merge(PostgresEnv(pg_->options()));
    }
    env_ = env;
    StartNode(env);
  }
  void StartNode(const std::map<std::string, std::string>& env) {
    node_ = std::make_unique<Node>(NodeOptions{.storage = dir_.path() / "storage", .env = env});
    ASSERT_TRUE(node_->WaitHealthy(30s)) << node_->process().Stdout() << node_->process().Stderr();
    api_ = std::make_unique<Api>(node_->port());
    ASSERT_EQ(api_->SignIn("admin@nocobase.com", "admin123").status, 200);
  }
  std::map<std::string, std::string> env_;
  // A connection of the test's own to the node's database.
  Result<std::unique_ptr<db::Connection>> OpenDatabase() {
    if (GetParam().dialect == db::Dialect::kPostgres) return db::OpenPostgres(pg_->options());
    return db::OpenSqlite({dir_.path() / "storage" / "db" / "slipway.sqlite"});
  }
  void TearDown() override {
    if (node_) {
      EXPECT_EQ(node_->Stop(), 0);
    }
  }

  // Creates authors and posts (posts belongsTo author, authors hasMany posts) with data.
  void CreateBlog() {
    ApiResult a =
        api_->Post("collections:create", J(R"({"name":"authors","title":"Authors","fields":[
        {"name":"name","type":"string","unique":true,"interface":"input"},
        {"name":"age","type":"integer"}]})"));
    ASSERT_EQ(a.status, 200) << a.body;
    ApiResult p = api_->Post("collections:create", J(R"({"name":"posts","fields":[
        {"name":"title","type":"string","allowNull":false},
        {"name":"body","type":"text"},
        {"name":"score","type":"integer"},
        {"name":"views","type":"bigInt"},
        {"name":"published","type":"boolean","defaultValue":false},
        {"name":"rating","type":"double"},
        {"name":"ratio","type":"float"},
        {"name":"price","type":"decimal","precision":10,"scale":2},
        {"name":"meta","type":"json"},
        {"name":"publishedAt","type":"date"},
        {"name":"localAt","type":"datetimeNoTz"},
        {"name":"day","type":"dateOnly"},
        {"name":"at","type":"time"},
        {"name":"uid","type":"uuid"},
        {"name":"secret","type":"password"},
        {"name":"author","type":"belongsTo","target":"authors"}]})"));
    ASSERT_EQ(p.status, 200) << p.body;
    ApiResult hm = api_->Post(
        "collections/authors/fields:create",
        J(R"({"name":"posts","type":"hasMany","target":"posts","foreignKey":"authorId"})"));
    ASSERT_EQ(hm.status, 200) << hm.body;
    for (const char* name : {"Ann", "Bob", "Cy"}) {
      ApiResult r = api_->Post("authors:create", json::object{{"name", name}, {"age", 30}});
      ASSERT_EQ(r.status, 200) << r.body;
    }
    const char* posts[] = {
        R"({"title":"Alpha","score":9,"author":1,"published":true,"price":"12.50","meta":{"tags":["a"]},"publishedAt":"2026-01-02T03:04:05.678+01:00","day":"2026-01-02","at":"10:11:12","secret":"s3cret","rating":4.5,"views":9007199254740993})",
        R"({"title":"Beta 100%","score":5,"author":{"id":1},"body":"has_underscore"})",
        R"({"title":"Gamma","score":7,"author":2,"body":""})",
        R"({"title":"Delta","author":null})",
        R"({"title":"Epsilon","score":1,"author":3})",
    };
    for (const char* p : posts) {
      ApiResult r = api_->Post("posts:create", J(p));
      ASSERT_EQ(r.status, 200) << p << " -> " << r.body;
    }
  }

  int64_t CountPosts() {
    ApiResult r = api_->Get("posts:list?pageSize=1");
    return r.status == 200 ? r.json.at("meta").at("count").as_int64() : -1;
  }

  std::vector<std::string> Titles(const std::string& query) {
    ApiResult r = api_->Get("posts:list?" + query);
    EXPECT_EQ(r.status, 200) << query << " -> " << r.body;
    std::vector<std::string> out;
    if (r.status != 200) return out;
    for (const auto& row : r.data().as_array()) out.emplace_back(row.at("title").as_string());
    return out;
  }

  std::vector<std::string> Filtered(const std::string& filter,
                                    const std::string& extra = "sort=title") {
    return Titles("filter=" + Encode(filter) + "&" + extra);
  }

  TempDir dir_;
  std::optional<TestDatabase> pg_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<Api> api_;
};

using V = std::vector<std::string>;

TEST_P(DataApiTest, AuthIsRequiredAndChecked) {
  Api anonymous(node_->port());
  ApiResult none = anonymous.Get("collections:list");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.code(), "EMPTY_TOKEN");
  anonymous.set_token("not.a.token");
  EXPECT_EQ(anonymous.Get("collections:list").code(), "INVALID_TOKEN");
  EXPECT_EQ(anonymous.Get("app:getInfo").status, 200);  // open
  Api wrong(node_->port());
  ApiResult bad = wrong.SignIn("admin@nocobase.com", "nope");
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.code(), "INVALID_CREDENTIALS");
  EXPECT_EQ(wrong.SignIn("nobody@example.com", "admin123").status, 401);
  EXPECT_EQ(wrong.SignIn("nocobase", "admin123").status, 200);  // username works too

  ApiResult check = api_->Get("auth:check");
  ASSERT_EQ(check.status, 200) << check.body;
  EXPECT_EQ(check.data().at("email").as_string(), "admin@nocobase.com");
  EXPECT_FALSE(check.data().as_object().contains("password"));
  EXPECT_EQ(check.data().at("role").as_string(), "root");

  ASSERT_EQ(api_->Post("auth:signOut").status, 200);
  ApiResult after = api_->Get("auth:check");
  EXPECT_EQ(after.status, 401);
  EXPECT_EQ(after.code(), "BLOCKED_TOKEN");
}

TEST_P(DataApiTest, CollectionsBecomeTablesAndRecordsRoundTrip) {
  CreateBlog();
  ApiResult list = api_->Get("collections:list?paginate=false");
  ASSERT_EQ(list.status, 200);
  std::set<std::string> names;
  for (const auto& c : list.data().as_array()) names.insert(std::string(c.at("name").as_string()));
  EXPECT_TRUE(names.count("posts") && names.count("authors") && names.count("users") &&
              names.count("roles"));

  ApiResult fields = api_->Get("collections/posts/fields:list?paginate=false");
  ASSERT_EQ(fields.status, 200);
  std::set<std::string> field_names;
  for (const auto& f : fields.data().as_array())
    field_names.insert(std::string(f.at("name").as_string()));
  for (const char* expected :
       {"id", "createdAt", "updatedAt", "createdById", "updatedById", "authorId", "author"}) {
    EXPECT_TRUE(field_names.count(expected)) << expected;
  }

  ApiResult got = api_->Get("posts:get?filterByTk=1");
  ASSERT_EQ(got.status, 200) << got.body;
  const json::object& p = got.data().as_object();
  EXPECT_EQ(p.at("title").as_string(), "Alpha");
  EXPECT_EQ(p.at("score").as_int64(), 9);
  EXPECT_EQ(p.at("views").as_int64(), 9007199254740993);
  EXPECT_EQ(p.at("published").as_bool(), true);
  EXPECT_DOUBLE_EQ(p.at("rating").as_double(), 4.5);
  EXPECT_EQ(p.at("price").as_string(), "12.50");
  EXPECT_EQ(p.at("meta").at("tags").at(0).as_string(), "a");
  EXPECT_EQ(p.at("publishedAt").as_string(), "2026-01-02T02:04:05.678Z");
  EXPECT_EQ(p.at("day").as_string(), "2026-01-02");
  EXPECT_EQ(p.at("at").as_string(), "10:11:12");
  EXPECT_EQ(p.at("uid").as_string().size(), 36u);
  EXPECT_EQ(p.at("authorId").as_int64(), 1);
  EXPECT_EQ(p.at("createdById").as_int64(), 1);
  EXPECT_FALSE(p.contains("secret"));  // passwords are never returned
  EXPECT_TRUE(p.at("createdAt").as_string().ends_with("Z"));
  EXPECT_EQ(api_->Get("posts/1").data().at("title").as_string(), "Alpha");  // REST form
  EXPECT_TRUE(api_->Get("posts:get?filterByTk=999").data().is_null());      // as NocoBase
  EXPECT_EQ(api_->Get("posts:get?filterByTk=2").data().at("published").as_bool(),
            false);  // default
}

TEST_P(DataApiTest, FiltersFollowNocoBaseSemantics) {
  CreateBlog();
  EXPECT_EQ(Filtered(R"({"score":{"$gt":5}})"), (V{"Alpha", "Gamma"}));
  EXPECT_EQ(Filtered(R"({"score":{"$gte":5,"$lt":9}})"), (V{"Beta 100%", "Gamma"}));
  EXPECT_EQ(Filtered(R"({"score":{"$ne":9}})"),
            (V{"Beta 100%", "Delta", "Epsilon", "Gamma"}));  // NULL kept
  EXPECT_EQ(Filtered(R"({"score":{"$in":[1,7]}})"), (V{"Epsilon", "Gamma"}));
  EXPECT_EQ(Filtered(R"({"score":{"$notIn":[1,7,9]}})"), (V{"Beta 100%", "Delta"}));
  EXPECT_EQ(Filtered(R"({"score":{"$between":[5,7]}})"), (V{"Beta 100%", "Gamma"}));
  EXPECT_EQ(Filtered(R"({"title":{"$includes":"ET"}})"), (V{"Beta 100%"}));  // case-insensitive
  EXPECT_EQ(Filtered(R"({"title":{"$includes":"%"}})"), (V{"Beta 100%"}));   // % is literal
  EXPECT_EQ(Filtered(R"({"body":{"$includes":"_u"}})"), (V{"Beta 100%"}));   // _ is literal
  EXPECT_EQ(Filtered(R"({"title":{"$startsWith":"ga"}})"), (V{"Gamma"}));
  EXPECT_EQ(Filtered(R"({"title":{"$endsWith":"lta"}})"), (V{"Delta"}));
  EXPECT_EQ(Filtered(R"({"title":{"$notIncludes":"a"}})"), (V{"Epsilon"}));
  EXPECT_EQ(Filtered(R"({"body":{"$empty":true}})"), (V{"Alpha", "Delta", "Epsilon", "Gamma"}));
  EXPECT_EQ(Filtered(R"({"body":{"$notEmpty":true}})"), (V{"Beta 100%"}));
  EXPECT_EQ(Filtered(R"({"title":{"$like":"%mm%"}})"), (V{"Gamma"}));
  EXPECT_EQ(Filtered(R"({"$or":[{"score":9},{"title":"Delta"}]})"), (V{"Alpha", "Delta"}));
  EXPECT_EQ(Filtered(R"({"$and":[{"score":{"$gt":1}},{"published":false}]})"),
            (V{"Beta 100%", "Gamma"}));
  EXPECT_EQ(Filtered(R"({"author.name":{"$eq":"Ann"}})"), (V{"Alpha", "Beta 100%"}));
  EXPECT_EQ(Filtered(R"({"author":{"name":{"$in":["Bob","Cy"]}}})"), (V{"Epsilon", "Gamma"}));
  EXPECT_EQ(Filtered(R"({"publishedAt":{"$gt":"2026-01-01"}})"), (V{"Alpha"}));
  // qs bracket notation, as NocoBase's client sends it
  EXPECT_EQ(Titles("filter[score][$gt]=5&sort=title"), (V{"Alpha", "Gamma"}));
  // a filter through the hasMany side
  ApiResult a = api_->Get("authors:list?filter=" + Encode(R"({"posts.title":{"$eq":"Gamma"}})"));
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(a.data().as_array().size(), 1u);
  EXPECT_EQ(a.data().at(0).at("name").as_string(), "Bob");
}

TEST_P(DataApiTest, SortPaginationFieldsAndAppends) {
  CreateBlog();
  // NULLs sort as on PostgreSQL (and so in NocoBase): first when descending.
  EXPECT_EQ(Titles("sort=-score"), (V{"Delta", "Alpha", "Gamma", "Beta 100%", "Epsilon"}));
  EXPECT_EQ(Titles("sort=score,title"), (V{"Epsilon", "Beta 100%", "Gamma", "Alpha", "Delta"}));
  ApiResult page = api_->Get("posts:list?sort=score&page=2&pageSize=2");
  ASSERT_EQ(page.status, 200);
  const auto& meta = page.json.at("meta");
  EXPECT_EQ(meta.at("count").as_int64(), 5);
  EXPECT_EQ(meta.at("page").as_int64(), 2);
  EXPECT_EQ(meta.at("pageSize").as_int64(), 2);
  EXPECT_EQ(meta.at("totalPage").as_int64(), 3);
  ASSERT_EQ(page.data().as_array().size(), 2u);
  EXPECT_EQ(page.data().at(0).at("title").as_string(), "Gamma");
  EXPECT_EQ(page.data().at(1).at("title").as_string(), "Alpha");

  ApiResult all = api_->Get("posts:list?paginate=false&fields=id,title");
  ASSERT_EQ(all.status, 200);
  EXPECT_FALSE(all.json.as_object().contains("meta"));
  EXPECT_EQ(all.data().as_array().size(), 5u);
  EXPECT_EQ(all.data().at(0).as_object().size(), 2u);
  ApiResult except = api_->Get("posts:get?filterByTk=1&except=body,meta");
  EXPECT_FALSE(except.data().as_object().contains("meta"));
  EXPECT_TRUE(except.data().as_object().contains("title"));

  ApiResult appended = api_->Get("posts:get?filterByTk=1&appends=author");
  ASSERT_EQ(appended.status, 200) << appended.body;
  EXPECT_EQ(appended.data().at("author").at("name").as_string(), "Ann");
  ApiResult nested = api_->Get("authors:list?sort=id&appends[]=posts&appends[]=posts.author");
  ASSERT_EQ(nested.status, 200) << nested.body;
  const auto& ann_posts = nested.data().at(0).at("posts").as_array();
  ASSERT_EQ(ann_posts.size(), 2u);
  EXPECT_EQ(ann_posts[0].at("author").at("name").as_string(), "Ann");
  EXPECT_TRUE(nested.data().at(2).at("posts").at(0).at("author").is_object());
  ApiResult delta = api_->Get("posts:get?filterByTk=4&appends=author");
  EXPECT_TRUE(delta.data().at("author").is_null());

  // association routes
  EXPECT_EQ(api_->Get("authors/1/posts:list").json.at("meta").at("count").as_int64(), 2);
  EXPECT_EQ(api_->Get("posts/3/author:get").data().at("name").as_string(), "Bob");
  ApiResult created = api_->Post("authors/2/posts:create", J(R"({"title":"Zeta"})"));
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(created.data().at("authorId").as_int64(), 2);
}

TEST_P(DataApiTest, UpdateDestroyAndUpserts) {
  CreateBlog();
  ApiResult up = api_->Post("posts:update?filterByTk=2", J(R"({"score":6,"published":true})"));
  ASSERT_EQ(up.status, 200) << up.body;
  ASSERT_TRUE(up.data().is_array());
  EXPECT_EQ(up.data().at(0).at("score").as_int64(), 6);
  EXPECT_EQ(api_->Get("posts:get?filterByTk=2").data().at("published").as_bool(), true);
  ApiResult many =
      api_->Post("posts:update?filter=" + Encode(R"({"score":{"$lt":7}})"), J(R"({"body":"low"})"));
  EXPECT_EQ(many.data().as_array().size(), 2u);
  ApiResult no_filter = api_->Post("posts:update", J(R"({"body":"x"})"));
  EXPECT_EQ(no_filter.status, 400);

  ApiResult first =
      api_->Post("posts:firstOrCreate?filterKeys[]=title", J(R"({"title":"Gamma","score":100})"));
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.data().at("score").as_int64(), 7);  // found, not changed
  ApiResult made =
      api_->Post("posts:firstOrCreate?filterKeys[]=title", J(R"({"title":"Eta","score":2})"));
  EXPECT_EQ(made.data().at("score").as_int64(), 2);
  ApiResult upd =
      api_->Post("posts:updateOrCreate?filterKeys[]=title", J(R"({"title":"Eta","score":3})"));
  EXPECT_EQ(upd.data().at("score").as_int64(), 3);
  EXPECT_EQ(CountPosts(), 6);

  ApiResult d = api_->Post("posts:destroy?filterByTk=6");
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(d.data().as_int64(), 1);
  EXPECT_EQ(
      api_->Post("posts:destroy?filter=" + Encode(R"({"score":{"$in":[1,5]}})")).data().as_int64(),
      1);
  EXPECT_EQ(api_->Post("posts:destroy").status, 400);  // refuses to destroy everything
  EXPECT_EQ(CountPosts(), 4);
  // Deleting an author detaches its posts (ON DELETE SET NULL).
  EXPECT_EQ(api_->Post("authors:destroy?filterByTk=2").data().as_int64(), 1);
  EXPECT_TRUE(api_->Get("posts:get?filterByTk=3").data().at("authorId").is_null());
}

TEST_P(DataApiTest, BadInputIsRefusedClearlyAndChangesNothing) {
  CreateBlog();
  int64_t before = CountPosts();
  struct Case {
    std::string method, path, body;
    int status;
    std::string mentions;
  } cases[] = {
      {"GET", "nosuch:list", "", 404, "'nosuch'"},
      {"POST", "nosuch:create", "{}", 404, "'nosuch'"},
      {"GET", "posts:list?filter=" + Encode(R"({"nope":1})"), "", 400, "posts.nope"},
      {"GET", "posts:list?filter=" + Encode(R"({"score":{"$gt":)"), "", 400, "position"},
      {"GET", "posts:list?filter=" + Encode(R"({"score":{"$bogus":1}})"), "", 400, "$bogus"},
      {"GET", "posts:list?sort=nope", "", 400, "posts.nope"},
      {"GET", "posts:list?pageSize=5000", "", 400, "pageSize"},
      {"GET", "posts:list?appends=nope", "", 400, "posts.nope"},
      {"POST", "posts:create", R"({"title":"x","score":"abc"})", 400, "posts.score"},
      {"POST", "posts:create", R"({"title":"x","nope":1})", 400, "posts.nope"},
      {"POST", "posts:create", R"({"score":1})", 400, "posts.title"},
      {"POST", "posts:create", R"({"title":"x","day":"2026-02-30"})", 400, "posts.day"},
      {"POST", "posts:create", R"({"title":"x","author":999})", 409, ""},
      {"POST", "posts:create", R"({"title":"x",)", 400, "position"},
      {"POST", "posts:create", R"([{"title":"ok"},{"title":"x","score":"bad"}])", 400,
       "posts.score"},
      {"POST", "posts:update?filterByTk=abc", R"({"score":1})", 400, "filterByTk"},
      {"POST", "authors:create", R"({"name":"Ann"})", 409, ""},
  };
  for (const Case& c : cases) {
    ApiResult r = api_->Call(c.method, c.path, c.body);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.path << " " << c.body << " -> " << r.body;
    EXPECT_NE(r.message().find(c.mentions), std::string::npos) << c.path << " -> " << r.body;
    EXPECT_FALSE(r.code().empty()) << r.body;
  }
  EXPECT_EQ(CountPosts(), before);  // not one of them wrote anything
  EXPECT_EQ(api_->Get("authors:list").json.at("meta").at("count").as_int64(), 3);
  ApiResult big = api_->Post("posts:create", std::string(9 << 20, ' '));
  EXPECT_EQ(big.status, 413);
}

TEST_P(DataApiTest, SchemaChangesAreCheckedAgainstRelations) {
  CreateBlog();
  ApiResult drop_fk = api_->Post("collections/posts/fields:destroy?filterByTk=authorId");
  EXPECT_EQ(drop_fk.status, 409) << drop_fk.body;
  EXPECT_EQ(drop_fk.code(), "FIELD_IN_USE");
  EXPECT_NE(drop_fk.message().find("posts.author"), std::string::npos);
  ApiResult rename_fk = api_->Post("collections/posts/fields:update?filterByTk=authorId",
                                   J(R"({"name":"writerId"})"));
  EXPECT_EQ(rename_fk.status, 409) << rename_fk.body;
  ApiResult type_change =
      api_->Post("collections/posts/fields:update?filterByTk=score", J(R"({"type":"string"})"));
  EXPECT_EQ(type_change.status, 400);
  ApiResult dup = api_->Post("collections:create", J(R"({"name":"posts"})"));
  EXPECT_EQ(dup.status, 409);
  ApiResult reserved = api_->Post("collections:create", J(R"({"name":"auth"})"));
  EXPECT_EQ(reserved.status, 400);
  ApiResult bad_type =
      api_->Post("collections/posts/fields:create", J(R"({"name":"x","type":"blob"})"));
  EXPECT_EQ(bad_type.status, 400);
  EXPECT_NE(bad_type.message().find("'blob'"), std::string::npos);

  // Allowed changes: rename a plain field, make it unique, drop it; drop the relation, then
  // its foreign key went with it, and then the target can go.
  ASSERT_EQ(
      api_->Post("collections/posts/fields:update?filterByTk=body", J(R"({"name":"content"})"))
          .status,
      200);
  EXPECT_EQ(Titles("filter=" + Encode(R"({"content":{"$eq":"has_underscore"}})")),
            (V{"Beta 100%"}));
  ASSERT_EQ(api_->Post("collections/posts/fields:update?filterByTk=title", J(R"({"unique":true})"))
                .status,
            200);
  EXPECT_EQ(api_->Post("posts:create", J(R"({"title":"Alpha"})")).status, 409);
  ASSERT_EQ(api_->Post("collections/posts/fields:destroy?filterByTk=content").status, 200);
  EXPECT_EQ(api_->Get("posts:get?filterByTk=2&fields=content").status, 400);
  // authorId carries both relations: it stays until the second one goes.
  ASSERT_EQ(api_->Post("collections/authors/fields:destroy?filterByTk=posts").status, 200);
  EXPECT_EQ(api_->Get("collections/posts/fields:get?filterByTk=authorId").status, 200);
  ApiResult drop_rel = api_->Post("collections/posts/fields:destroy?filterByTk=author");
  ASSERT_EQ(drop_rel.status, 200) << drop_rel.body;
  EXPECT_EQ(api_->Get("collections/posts/fields:get?filterByTk=authorId").status, 404);
  ApiResult drop = api_->Post("collections:destroy?filterByTk=authors");
  EXPECT_EQ(drop.status, 200) << drop.body;
  EXPECT_EQ(api_->Get("authors:list").status, 404);
  EXPECT_EQ(CountPosts(), 5);  // the posts kept their data through every change
}

TEST_P(DataApiTest, RolesLimitWhatUsersMayDo) {
  CreateBlog();
  ApiResult user =
      api_->Post("users:create",
                 J(R"({"nickname":"Rita","email":"rita@example.com","password":"pw-rita-1"})"));
  ASSERT_EQ(user.status, 200) << user.body;
  EXPECT_FALSE(user.data().as_object().contains("password"));
  int64_t rita = user.data().at("id").as_int64();
  ApiResult users = api_->Get("users:list");
  for (const auto& u : users.data().as_array()) EXPECT_FALSE(u.as_object().contains("password"));

  // A new user gets the default role, member: may read and create, and change only its own.
  Api member(node_->port());
  ASSERT_EQ(member.SignIn("rita@example.com", "pw-rita-1").status, 200);
  EXPECT_EQ(member.Get("posts:list").status, 200);
  ApiResult mine = member.Post("posts:create", J(R"({"title":"Rita's"})"));
  ASSERT_EQ(mine.status, 200) << mine.body;
  int64_t my_post = mine.data().at("id").as_int64();
  EXPECT_EQ(member.Post("posts:update?filterByTk=" + std::to_string(my_post), J(R"({"score":1})"))
                .data()
                .as_array()
                .size(),
            1u);
  EXPECT_EQ(member.Post("posts:update?filterByTk=1", J(R"({"score":0})")).data().as_array().size(),
            0u);  // not own
  EXPECT_EQ(api_->Get("posts:get?filterByTk=1").data().at("score").as_int64(), 9);
  ApiResult configure = member.Post("collections:create", J(R"({"name":"mine"})"));
  EXPECT_EQ(configure.status, 403);
  EXPECT_NE(configure.message().find("No permissions"), std::string::npos);

  // A custom role: read-only on posts, nothing elsewhere.
  ASSERT_EQ(api_->Post("roles:create",
                       J(R"({"name":"reader","title":"Reader","strategy":{"actions":[]}})"))
                .status,
            200);
  ApiResult res =
      api_->Post("roles/reader/resources:create",
                 J(R"({"name":"posts","usingActionsConfig":true,"actions":[{"name":"view"}]})"));
  ASSERT_EQ(res.status, 200) << res.body;
  ASSERT_EQ(api_->Post("roles/reader/users:add", json::array{rita}).status, 200);
  member.set_role("reader");
  EXPECT_EQ(member.Get("posts:list").status, 200);
  ApiResult denied = member.Post("posts:create", J(R"({"title":"no"})"));
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(member.Get("authors:list").status, 403);
  member.set_role("admin");
  ApiResult not_mine = member.Get("posts:list");
  EXPECT_EQ(not_mine.status, 401);
  EXPECT_EQ(not_mine.code(), "ROLE_NOT_FOUND_FOR_USER");
  member.set_role("");
  ApiResult roles = member.Get("users/" + std::to_string(rita) + "/roles:list");
  ASSERT_EQ(roles.status, 200) << roles.body;
  EXPECT_EQ(roles.data().as_array().size(), 2u);
  EXPECT_EQ(api_->Get("roles/reader/users:list").json.at("meta").at("count").as_int64(), 1);
}

// NocoBase removes the relation fields that point at a collection together with it; its clients
// create related collections and destroy them in creation order.
TEST_P(DataApiTest, DestroyingACollectionRemovesTheRelationsThatPointAtIt) {
  ASSERT_EQ(api_->Post("collections:create", J(R"({"name":"authors","fields":[
                          {"name":"name","type":"string"}]})"))
                .status,
            200);
  ASSERT_EQ(api_->Post("collections:create", J(R"({"name":"posts","fields":[
                          {"name":"title","type":"string"},
                          {"name":"author","type":"belongsTo","target":"authors"}]})"))
                .status,
            200);
  ASSERT_EQ(api_->Post("collections:create", J(R"({"name":"notes","fields":[
                          {"name":"text","type":"string"}]})"))
                .status,
            200);
  ASSERT_EQ(api_->Post("collections/authors/fields:create",
                       J(R"({"name":"notes","type":"hasMany","target":"notes"})"))
                .status,
            200);
  ASSERT_EQ(api_->Post("authors:create", J(R"({"name":"Ann"})")).status, 200);
  ASSERT_EQ(api_->Post("posts:create", J(R"({"title":"Hi","author":1})")).status, 200);
  ASSERT_EQ(api_->Post("notes:create", J(R"({"text":"n","authorId":1})")).status, 200);

  // The target of posts.author goes, and with it the relation and the key column it made.
  ApiResult drop_authors = api_->Post("collections:destroy?filterByTk=authors");
  ASSERT_EQ(drop_authors.status, 200) << drop_authors.body;
  EXPECT_EQ(api_->Get("collections/posts/fields:get?filterByTk=author").status, 404);
  EXPECT_EQ(api_->Get("collections/posts/fields:get?filterByTk=authorId").status, 404);
  ApiResult posts = api_->Get("posts:list");
  ASSERT_EQ(posts.status, 200) << posts.body;
  EXPECT_EQ(posts.data().as_array().size(), 1u);
  EXPECT_EQ(posts.data().at(0).at("title"), "Hi");
  // authors.notes went with authors, and the key column it had placed on notes with it; the
  // notes themselves stay.
  EXPECT_EQ(api_->Get("collections/notes/fields:get?filterByTk=authorId").status, 404);
  ApiResult notes = api_->Get("notes:list");
  ASSERT_EQ(notes.status, 200) << notes.body;
  EXPECT_EQ(notes.data().at(0).at("text"), "n");
  // The others go in creation order too.
  EXPECT_EQ(api_->Post("collections:destroy?filterByTk=posts").status, 200);
  EXPECT_EQ(api_->Post("collections:destroy?filterByTk=notes").status, 200);
  ApiResult left = api_->Get("collections:list?paginate=false");
  ASSERT_EQ(left.status, 200) << left.body;
  const boost::json::value listed = left.data();
  for (const auto& c : listed.as_array()) {
    std::string name(c.at("name").as_string());
    EXPECT_TRUE(name != "authors" && name != "posts" && name != "notes") << name;
  }
}

// Issue 11: a field created and destroyed over and over while eight clients write and read the
// same collection never costs one of them an error or a wrong value.
TEST_P(DataApiTest, SchemaChurnNeverBreaksRequestsInFlight) {
  ApiResult made = api_->Post("collections:create", J(R"({"name":"churned","fields":[
      {"name":"title","type":"string"}]})"));
  ASSERT_EQ(made.status, 200) << made.body;
  ChurnResult r = RunSchemaChurn({node_->port()}, api_->token(), "churned", 3s);
  EXPECT_EQ(r.failed, 0) << Describe(r);
  EXPECT_EQ(r.changes_failed, 0) << Describe(r);
  EXPECT_GT(r.changes, 4) << Describe(r);
  RecordProperty("churn", Describe(r));
  // Nothing is left to drop once the churn stopped.
  ApiResult fields = api_->Get("collections/churned/fields:list?paginate=false");
  ASSERT_EQ(fields.status, 200);
  for (const auto& f : fields.data().as_array()) EXPECT_NE(f.at("name").as_string(), "churn");
}

// A field renamed over and over keeps its column, so requests still holding the previous name's
// schema go on working; a new field named like the old name gets a column of its own.
TEST_P(DataApiTest, RenamingAFieldUnderLoadBreaksNoRequest) {
  ApiResult made = api_->Post("collections:create", J(R"({"name":"renamed","fields":[
      {"name":"title","type":"string"},{"name":"note","type":"string"}]})"));
  ASSERT_EQ(made.status, 200) << made.body;
  ChurnResult r = RunSchemaChurn({node_->port()}, api_->token(), "renamed", 2s, Churn::kRename);
  EXPECT_EQ(r.failed, 0) << Describe(r);
  EXPECT_EQ(r.changes_failed, 0) << Describe(r);
  EXPECT_GT(r.changes, 4) << Describe(r);

  ASSERT_EQ(api_->Post("collections/renamed/fields:update?filterByTk=note", J(R"({"name":"memo"})"))
                .status,
            200);
  ApiResult again =
      api_->Post("collections/renamed/fields:create", J(R"({"name":"note","type":"integer"})"));
  ASSERT_EQ(again.status, 200) << again.body;
  ApiResult rec = api_->Post("renamed:create", J(R"({"title":"t","memo":"kept","note":7})"));
  ASSERT_EQ(rec.status, 200) << rec.body;
  EXPECT_EQ(rec.data().at("memo").as_string(), "kept");
  EXPECT_EQ(rec.data().at("note").as_int64(), 7);
  ApiResult got = api_->Get("renamed:list?filter=" + Encode(R"({"memo":"kept","note":7})"));
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.data().as_array().size(), 1u);
}

// A removal whose second phase never ran (the node crashed between the phases) is finished by a
// node's heartbeat once no node uses an older schema.
TEST_P(DataApiTest, ARemovalLeftHalfDoneIsFinishedByAHeartbeat) {
  ASSERT_EQ(api_->Post("collections:create", J(R"({"name":"halfway","fields":[
      {"name":"title","type":"string"}]})"))
                .status,
            200);
  auto conn = OpenDatabase();
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  db::Connection& c = **conn;
  ASSERT_TRUE(c.ExecScript("ALTER TABLE \"halfway\" ADD COLUMN \"orphan\" TEXT").ok());
  ASSERT_TRUE(c.Exec("INSERT INTO slipway_pending_drops (table_name, column_name, epoch, "
                     "statements, rebuild) VALUES ($1, $2, 0, $3, $4)",
                     {std::string("halfway"), std::string("orphan"),
                      std::string(R"(["ALTER TABLE \"halfway\" DROP COLUMN \"orphan\""])"), false})
                  .ok());
  auto deadline = std::chrono::steady_clock::now() + 10s;
  bool dropped = false;
  while (!dropped && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    auto columns = db::ListColumns(c, "halfway");
    ASSERT_TRUE(columns.ok());
    dropped = std::find(columns->begin(), columns->end(), "orphan") == columns->end();
  }
  EXPECT_TRUE(dropped);
  auto left = c.Query("SELECT count(*) FROM slipway_pending_drops");
  ASSERT_TRUE(left.ok());
  EXPECT_EQ((*left)->Int(0, 0), 0);
  EXPECT_EQ(api_->Post("halfway:create", J(R"({"title":"still fine"})")).status, 200);
}

// Lists count only where it is cheap (issue 16): NocoBase's simplePaginate, a table the database
// estimates past LIST_EXACT_COUNT_LIMIT (then `hasNext` instead of a count), and count=exact or
// count=none on request.
TEST_P(DataApiTest, ListsCountOnlyWhereItIsCheap) {
  for (const char* def :
       {R"({"name":"events","fields":[{"name":"title","type":"string"}]})",
        R"({"name":"tiny","simplePaginate":true,"fields":[{"name":"title","type":"string"}]})",
        R"({"name":"small","fields":[{"name":"title","type":"string"}]})"}) {
    ASSERT_EQ(api_->Post("collections:create", J(def)).status, 200) << def;
  }
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(api_->Post("events:create", json::object{{"title", "e" + std::to_string(i)}}).status,
              200);
  }
  for (const char* t : {"tiny:create", "tiny:create", "tiny:create", "small:create"}) {
    ASSERT_EQ(api_->Post(t, J(R"({"title":"x"})")).status, 200);
  }
  // A node whose limit the events table passes once the database estimates it.
  ASSERT_EQ(node_->Stop(), 0);
  auto env = env_;
  env["LIST_EXACT_COUNT_LIMIT"] = "5";
  ASSERT_NO_FATAL_FAILURE(StartNode(env));
  if (GetParam().dialect == db::Dialect::kPostgres) {
    auto conn = db::OpenPostgres(pg_->options());
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE((*conn)->ExecScript("ANALYZE events; ANALYZE small;").ok());
  }
  auto meta = [&](const std::string& target) {
    ApiResult r = api_->Get(target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    return r.status == 200 ? r.json : json::value();
  };
  json::value first = meta("events:list?pageSize=5");
  EXPECT_EQ(first.at("data").as_array().size(), 5u);
  EXPECT_FALSE(first.at("meta").as_object().contains("count")) << first.at("meta");
  EXPECT_EQ(first.at("meta").at("hasNext"), true);
  json::value last = meta("events:list?pageSize=5&page=3");
  EXPECT_EQ(last.at("data").as_array().size(), 2u);
  EXPECT_EQ(last.at("meta").at("hasNext"), false);
  json::value exact = meta("events:list?pageSize=5&count=exact");
  EXPECT_EQ(exact.at("meta").at("count"), 12);
  EXPECT_EQ(exact.at("meta").at("totalPage"), 3);
  // simplePaginate: no count whatever the size, unless asked.
  json::value tiny = meta("tiny:list");
  EXPECT_FALSE(tiny.at("meta").as_object().contains("count")) << tiny;
  EXPECT_EQ(tiny.at("meta").at("hasNext"), false);
  EXPECT_EQ(tiny.at("data").as_array().size(), 3u);
  EXPECT_EQ(meta("tiny:list?count=exact").at("meta").at("count"), 3);
  // Under the limit: counted, as always; count=none drops it.
  EXPECT_EQ(meta("small:list").at("meta").at("count"), 1);
  json::value none = meta("small:list?count=none");
  EXPECT_FALSE(none.at("meta").as_object().contains("count")) << none;
  ApiResult bad = api_->Get("small:list?count=maybe");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("count"), std::string::npos) << bad.body;
}

// Keyset pages (issue 16): following meta.nextCursor visits every record once, in the order of
// the sort, whatever the sort (NULLs and ties included), and a bad cursor is refused.
TEST_P(DataApiTest, CursorPagesVisitEveryRecordOnceInOrder) {
  ASSERT_EQ(api_->Post("collections:create", J(R"({"name":"items","fields":[
      {"name":"rank","type":"integer"},{"name":"label","type":"string"},
      {"name":"at","type":"date"}]})"))
                .status,
            200);
  for (int i = 0; i < 23; ++i) {
    json::object v{{"label", "l" + std::to_string(i % 7)},
                   {"at", "2026-12-0" + std::to_string(1 + i % 3) + "T10:00:00.123Z"}};
    if (i % 4 != 0) v["rank"] = i % 5;
    ASSERT_EQ(api_->Post("items:create", v).status, 200);
  }
  auto ids = [](const json::value& data) {
    std::vector<int64_t> out;
    for (const auto& r : data.as_array()) out.push_back(r.at("id").as_int64());
    return out;
  };
  for (std::string sort : {"", "rank", "-rank", "-rank,label", "label,-id", "at,-rank", "at"}) {
    std::string by = sort.empty() ? "" : "&sort=" + sort;
    ApiResult all = api_->Get("items:list?paginate=false" + by);
    ASSERT_EQ(all.status, 200) << all.body;
    std::vector<int64_t> expected = ids(all.data());
    ASSERT_EQ(expected.size(), 23u);
    std::vector<int64_t> walked;
    std::string cursor;
    for (int page = 0; page < 10; ++page) {
      ApiResult r = api_->Get("items:list?pageSize=4&cursor=" + cursor + by);
      ASSERT_EQ(r.status, 200) << sort << ": " << r.body;
      const json::object& meta = r.json.at("meta").as_object();
      EXPECT_FALSE(meta.contains("page")) << meta;
      EXPECT_FALSE(meta.contains("count")) << meta;
      for (int64_t id : ids(r.data())) walked.push_back(id);
      if (!meta.at("hasNext").as_bool()) {
        EXPECT_FALSE(meta.contains("nextCursor")) << meta;
        break;
      }
      cursor = std::string(meta.at("nextCursor").as_string());
    }
    EXPECT_EQ(walked, expected) << "sort '" << sort << "'";
  }
  // An offset page gives the cursor of the page after it.
  ApiResult first = api_->Get("items:list?pageSize=5&sort=-rank&count=exact");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.json.at("meta").at("count"), 23);
  std::string next(first.json.at("meta").at("nextCursor").as_string());
  ApiResult by_cursor = api_->Get("items:list?pageSize=5&sort=-rank&cursor=" + next);
  ApiResult by_page = api_->Get("items:list?pageSize=5&sort=-rank&page=2");
  ASSERT_EQ(by_cursor.status, 200) << by_cursor.body;
  EXPECT_EQ(ids(by_cursor.data()), ids(by_page.data()));
  // With a filter, and counted on request: the count is the filter's, wherever the cursor is.
  ApiResult filtered = api_->Get("items:list?pageSize=3&count=exact&cursor=" + next +
                                 "&sort=-rank&filter=" + Encode(R"({"rank":{"$gte":2}})"));
  ASSERT_EQ(filtered.status, 200) << filtered.body;
  ApiResult matching =
      api_->Get("items:list?paginate=false&filter=" + Encode(R"({"rank":{"$gte":2}})"));
  EXPECT_EQ(filtered.json.at("meta").at("count").as_int64(),
            static_cast<int64_t>(matching.data().as_array().size()));
  // Refused, naming the cursor: not one, made for another sort, beside a page number.
  for (std::string bad :
       {std::string("items:list?cursor=bm90LWEtY3Vyc29y"), std::string("items:list?cursor=%25%25"),
        "items:list?sort=label&cursor=" + next, "items:list?sort=-rank&page=2&cursor=" + next}) {
    ApiResult r = api_->Get(bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_NE(r.message().find("cursor"), std::string::npos) << r.body;
  }
}

// Indexes users ask for (issue 16): a field's `index` and `unique`, a collection's composite
// `indexes`, each made and dropped with the definition; one the data does not allow is refused
// and leaves the definition as it was.
TEST_P(DataApiTest, IndexesFollowTheDefinitions) {
  ASSERT_EQ(api_->Post("collections:create", J(R"({"name":"orders","fields":[
      {"name":"status","type":"string"},{"name":"total","type":"integer"},
      {"name":"code","type":"string"},{"name":"sku","type":"string","index":true}]})"))
                .status,
            200);
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(api_->Post("orders:create",
                         json::object{{"status", i % 2 ? "open" : "paid"},
                                      {"total", i},
                                      {"code", i < 2 ? "same" : "c" + std::to_string(i)}})
                  .status,
              200);
  }
  auto conn = OpenDatabase();
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  auto indexes = [&] {
    auto list = db::ListIndexes(**conn, "orders");
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    return list.ok() ? *list : std::vector<std::string>();
  };
  auto has = [&](const std::string& name) {
    auto list = indexes();
    return std::find(list.begin(), list.end(), name) != list.end();
  };
  EXPECT_TRUE(has("orders_sku_idx"));
  ApiResult on =
      api_->Post("collections/orders/fields:update?filterByTk=status", J(R"({"index":true})"));
  ASSERT_EQ(on.status, 200) << on.body;
  EXPECT_TRUE(has("orders_status_idx"));
  ApiResult got = api_->Get("collections/orders/fields:get?filterByTk=status");
  EXPECT_EQ(got.data().at("index"), true) << got.body;
  ASSERT_EQ(
      api_->Post("collections/orders/fields:update?filterByTk=status", J(R"({"index":false})"))
          .status,
      200);
  EXPECT_FALSE(has("orders_status_idx"));
  // Unique over duplicates: refused with the duplicated value, and nothing of it stays.
  ApiResult dup =
      api_->Post("collections/orders/fields:update?filterByTk=code", J(R"({"unique":true})"));
  EXPECT_EQ(dup.status, 409) << dup.body;
  EXPECT_NE(dup.message().find("orders.code"), std::string::npos) << dup.body;
  EXPECT_FALSE(has("orders_code_uniq"));
  got = api_->Get("collections/orders/fields:get?filterByTk=code");
  EXPECT_FALSE(got.data().as_object().contains("unique")) << got.body;
  EXPECT_EQ(api_->Post("orders:create", J(R"({"code":"same"})")).status, 200);
  // Composite indexes, by the collection's `indexes` option.
  ApiResult composite = api_->Post("collections:update?filterByTk=orders",
                                   J(R"({"indexes":[{"fields":["status","total"]},
                                        {"fields":["total"],"unique":true,"name":"by_total"}]})"));
  ASSERT_EQ(composite.status, 200) << composite.body;
  EXPECT_TRUE(has("orders_status_total_idx"));
  EXPECT_TRUE(has("by_total"));
  for (const char* bad : {R"({"indexes":[{"fields":["nope"]}]})", R"({"indexes":{"a":1}})",
                          R"({"indexes":[{"fields":[]}]})",
                          R"({"indexes":[{"fields":["status"],"name":"bad name"}]})"}) {
    ApiResult r = api_->Post("collections:update?filterByTk=orders", J(bad));
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_NE(r.message().find("indexes"), std::string::npos) << r.body;
  }
  EXPECT_TRUE(has("orders_status_total_idx"));
  // A field an index names cannot go while the index does.
  ApiResult in_use = api_->Post("collections/orders/fields:destroy?filterByTk=status");
  EXPECT_EQ(in_use.status, 400) << in_use.body;
  ASSERT_EQ(api_->Post("collections:update?filterByTk=orders", J(R"({"indexes":[]})")).status, 200);
  EXPECT_FALSE(has("orders_status_total_idx"));
  EXPECT_FALSE(has("by_total"));
  // A new field with an index on a table that holds rows.
  ASSERT_EQ(api_->Post("collections/orders/fields:create",
                       J(R"({"name":"ref","type":"string","unique":true})"))
                .status,
            200);
  EXPECT_TRUE(has("orders_ref_uniq"));
  EXPECT_TRUE(has("orders_sku_idx"));
}

// On PostgreSQL an index on a table that holds rows is built concurrently: writes go on while
// it waits for a transaction that began before it, and the change answers once it is valid. A
// node that stopped before building one builds it when it starts.
TEST_P(DataApiTest, IndexBuildsDoNotBlockWrites) {
  if (GetParam().dialect != db::Dialect::kPostgres) GTEST_SKIP() << "PostgreSQL only";
  ASSERT_EQ(api_->Post("collections:create", J(R"({"name":"busy","fields":[
      {"name":"title","type":"string"}]})"))
                .status,
            200);
  ASSERT_EQ(api_->Post("busy:create", J(R"({"title":"first"})")).status, 200);
  auto held = db::OpenPostgres(pg_->options());
  auto watch = db::OpenPostgres(pg_->options());
  ASSERT_TRUE(held.ok() && watch.ok());
  ASSERT_TRUE((*held)->ExecScript("BEGIN; INSERT INTO busy (title) VALUES ('held')").ok());
  std::atomic<int> indexed{0};
  std::thread change([&] {
    Api other(node_->port());
    other.SignIn("admin@nocobase.com", "admin123");
    indexed = other.Post("collections/busy/fields:update?filterByTk=title", J(R"({"index":true})"))
                  .status;
  });
  // The build waits for the open transaction...
  bool waiting = false;
  for (int i = 0; i < 100 && !waiting; ++i) {
    std::this_thread::sleep_for(100ms);
    auto rs = (*watch)->Query(
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%' "
        "AND wait_event_type = 'Lock'");
    waiting = rs.ok() && (*rs)->Int(0, 0) == 1;
  }
  EXPECT_TRUE(waiting);
  // ...and meanwhile writes and reads of the table are served.
  std::atomic<int> written{0};
  std::thread write([&] {
    Api writer(node_->port());
    writer.SignIn("admin@nocobase.com", "admin123");
    written = writer.Post("busy:create", J(R"({"title":"during the build"})")).status;
  });
  for (int i = 0; i < 100 && written == 0; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(written, 200) << "a write waited for the index build";
  EXPECT_EQ(indexed, 0) << "the change answered before its index was valid";
  ASSERT_TRUE((*held)->ExecScript("COMMIT").ok());
  change.join();
  write.join();
  EXPECT_EQ(indexed, 200);
  auto list = db::ListIndexes(**watch, "busy");
  ASSERT_TRUE(list.ok());
  EXPECT_NE(std::find(list->begin(), list->end(), "busy_title_idx"), list->end());
  // A change whose node stopped before the build: the next start builds it.
  ASSERT_TRUE((*watch)->ExecScript("DROP INDEX busy_title_idx").ok());
  ASSERT_EQ(node_->Stop(), 0);
  ASSERT_NO_FATAL_FAILURE(StartNode(env_));
  bool rebuilt = false;
  for (int i = 0; i < 100 && !rebuilt; ++i) {
    list = db::ListIndexes(**watch, "busy");
    rebuilt = list.ok() && std::find(list->begin(), list->end(), "busy_title_idx") != list->end();
    if (!rebuilt) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(rebuilt);
}

// createdBy and updatedBy are not database constraints (data::Field::enforced): destroying a
// user clears them in its transaction, as ON DELETE SET NULL did, and a table made before with
// the constraint loses it at the next start (core migration 0010 on PostgreSQL).
TEST_P(DataApiTest, DestroyingAUserClearsTheRecordsItsAuditKeysPointAt) {
  CreateBlog();
  ApiResult user = api_->Post(
      "users:create", J(R"({"nickname":"Gone","email":"gone@example.com","password":"pw123456"})"));
  ASSERT_EQ(user.status, 200) << user.body;
  const int64_t gone = user.data().at("id").as_int64();
  const std::string id = std::to_string(gone);
  auto conn = OpenDatabase();
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  ASSERT_TRUE((*conn)
                  ->ExecScript("UPDATE posts SET \"createdById\" = " + id +
                               " WHERE title = 'Alpha'; UPDATE posts SET \"updatedById\" = " + id +
                               " WHERE title = 'Gamma'; UPDATE authors SET \"createdById\" = " +
                               id + ", \"updatedById\" = " + id + " WHERE name = 'Bob'")
                  .ok());
  // No constraint: a key to no user is stored as given (the API never writes one).
  EXPECT_TRUE((*conn)
                  ->ExecScript("INSERT INTO authors (name, \"createdById\") VALUES ('Orphan', 999)")
                  .ok());

  ApiResult destroyed = api_->Post("users:destroy?filterByTk=" + id);
  ASSERT_EQ(destroyed.status, 200) << destroyed.body;
  ApiResult alpha = api_->Get("posts:get?filter=" + Encode(R"({"title":"Alpha"})"));
  EXPECT_TRUE(alpha.data().at("createdById").is_null()) << alpha.body;
  EXPECT_EQ(alpha.data().at("updatedById"), 1) << alpha.body;
  ApiResult gamma = api_->Get("posts:get?filter=" + Encode(R"({"title":"Gamma"})"));
  EXPECT_EQ(gamma.data().at("createdById"), 1) << gamma.body;
  EXPECT_TRUE(gamma.data().at("updatedById").is_null()) << gamma.body;
  ApiResult bob =
      api_->Get("authors:get?filter=" + Encode(R"({"name":"Bob"})") + "&appends=createdBy");
  EXPECT_TRUE(bob.data().at("createdById").is_null()) << bob.body;
  EXPECT_TRUE(bob.data().at("updatedById").is_null()) << bob.body;
  EXPECT_TRUE(bob.data().at("createdBy").is_null()) << bob.body;
  EXPECT_EQ(
      api_->Get("posts:get?filter=" + Encode(R"({"title":"Beta 100%"})")).data().at("createdById"),
      1);

  if (GetParam().dialect != db::Dialect::kPostgres) return;
  auto pg = db::OpenPostgres(pg_->options());
  ASSERT_TRUE(pg.ok());
  auto audit_constraints = [&] {
    auto rs = (*pg)->Query(
        "SELECT count(*) FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid "
        "AND a.attnum = c.conkey[1] WHERE c.contype = 'f' AND c.confrelid = 'users'::regclass "
        "AND a.attname IN ('createdById', 'updatedById')");
    EXPECT_TRUE(rs.ok()) << rs.status().ToString();
    return rs.ok() ? (*rs)->Int(0, 0) : -1;
  };
  EXPECT_EQ(audit_constraints(), 0);
  ASSERT_TRUE((*pg)
                  ->ExecScript("DELETE FROM authors WHERE name = 'Orphan'; "
                               "ALTER TABLE posts ADD CONSTRAINT made_before FOREIGN KEY "
                               "(\"createdById\") REFERENCES users (id) ON DELETE SET NULL; "
                               "DELETE FROM slipway_migrations WHERE name = "
                               "'0010-audit-references-unenforced'")
                  .ok());
  EXPECT_EQ(audit_constraints(), 1);
  ASSERT_EQ(node_->Stop(), 0);
  ASSERT_NO_FATAL_FAILURE(StartNode(env_));
  EXPECT_EQ(audit_constraints(), 0);
}

INSTANTIATE_TEST_SUITE_P(Dialects, DataApiTest, ::testing::ValuesIn(kSetups), SetupName);

}  // namespace
}  // namespace slipway::testing
