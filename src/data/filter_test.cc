#include "data/filter.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "data/ddl.h"
#include "db/sqlite/sqlite_connection.h"
#include "filter_fixture.h"
#include "http/query_string.h"

namespace slipway::data {
namespace {
namespace json = boost::json;

Schema FixtureSchema() {
  auto schema = testing::FilterFixtureSchema();
  EXPECT_TRUE(schema.ok()) << schema.status().ToString();
  return schema.ok() ? std::move(schema).value() : Schema();
}

const Schema& Fixture() {
  static const Schema schema = FixtureSchema();
  return schema;
}

json::array ParamsJson(const std::vector<db::Value>& values) {
  json::array out;
  for (const db::Value& v : values) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::monostate>) {
            out.emplace_back(nullptr);
          } else {
            out.emplace_back(x);
          }
        },
        v);
  }
  return out;
}

std::string JoinsText(const CompiledFilter& f) {
  std::string out;
  for (const Join& j : f.joins) out += (out.empty() ? "" : " ") + j.sql;
  return out;
}

// ---------------------------------------------------------------------------------------------
// The SQL each operator compiles to, on both dialects.

struct SqlCase {
  const char* filter;
  const char* where;     // SQLite
  const char* params;    // JSON array, SQLite
  const char* pg_where;  // nullptr: as on SQLite
  const char* pg_params = nullptr;
  const char* joins = "";
  const char* root = "posts";
};

const SqlCase kSqlCases[] = {
    {"{}", "", "[]", nullptr},
    {"null", "", "[]", nullptr},
    // Equality.
    {R"({"title": "x"})", R"("t"."title" = $1)", R"(["x"])", nullptr},
    {R"({"title": {"$eq": 5}})", R"("t"."title" = $1)", R"(["5"])", nullptr},
    {R"({"title": null})", R"("t"."title" IS NULL)", "[]", nullptr},
    {R"({"id": [1, "2"]})", R"("t"."id" IN ($1, $2))", "[1, 2]", nullptr},
    {R"({"id": {"$eq": []}})", "1 = 0", "[]", nullptr},
    {R"({"title": {"$ne": "x"}})", R"(("t"."title" <> $1 OR "t"."title" IS NULL))", R"(["x"])",
     nullptr},
    {R"({"title": {"$ne": null}})", R"("t"."title" IS NOT NULL)", "[]", nullptr},
    {R"({"id": {"$ne": [1, 2]}})", R"("t"."id" NOT IN ($1, $2))", "[1, 2]", nullptr},
    {R"({"title.$ne": "x"})", R"(("t"."title" <> $1 OR "t"."title" IS NULL))", R"(["x"])", nullptr},
    {R"({"published": "true"})", R"("t"."published" = $1)", "[true]", nullptr},
    {R"({"publishedAt": "2024-01-01"})", R"("t"."publishedAt" = $1)",
     R"(["2024-01-01T00:00:00.000Z"])", nullptr},
    // $is / $not.
    {R"({"title": {"$is": null}})", R"("t"."title" IS NULL)", "[]", nullptr},
    {R"({"title": {"$not": null}})", R"("t"."title" IS NOT NULL)", "[]", nullptr},
    {R"({"published": {"$is": true}})", R"("t"."published" IS TRUE)", "[]", nullptr},
    {R"({"published": {"$not": "false"}})", R"("t"."published" IS NOT FALSE)", "[]", nullptr},
    // Lists.
    {R"({"views": {"$in": [1, "2"]}})", R"("t"."views" IN ($1, $2))", "[1, 2]", nullptr},
    {R"({"views": {"$in": []}})", "1 = 0", "[]", nullptr},
    {R"({"views": {"$notIn": [3]}})", R"(("t"."views" NOT IN ($1) OR "t"."views" IS NULL))", "[3]",
     nullptr},
    {R"({"views": {"$notIn": []}})", "1 = 1", "[]", nullptr},
    // Order.
    {R"({"views": {"$gt": 1, "$lte": "9"}})", R"("t"."views" > $1 AND "t"."views" <= $2)", "[1, 9]",
     nullptr},
    {R"({"views": {"$gte": 1, "$lt": 9}})", R"("t"."views" >= $1 AND "t"."views" < $2)", "[1, 9]",
     nullptr},
    {R"({"views": {"$between": [1, 9]}})", R"("t"."views" BETWEEN $1 AND $2)", "[1, 9]", nullptr},
    {R"({"views": {"$notBetween": ["1", "9"]}})", R"("t"."views" NOT BETWEEN $1 AND $2)", "[1, 9]",
     nullptr},
    {R"({"rating": {"$gt": "1.5"}})", R"("t"."rating" > $1)", "[1.5]", nullptr, R"(["1.5"])"},
    {R"({"title": {"$gt": "m"}})", R"("t"."title" > $1)", R"(["m"])", nullptr},
    // Raw LIKE patterns.
    {R"({"title": {"$like": "a%"}})", R"("t"."title" LIKE $1 ESCAPE '\')", R"(["a%"])", nullptr},
    {R"({"title": {"$notLike": "a_"}})", R"("t"."title" NOT LIKE $1 ESCAPE '\')", R"(["a_"])",
     nullptr},
    {R"({"title": {"$iLike": "A%"}})", R"("t"."title" LIKE $1 ESCAPE '\')", R"(["A%"])",
     R"("t"."title" ILIKE $1 ESCAPE '\')"},
    {R"({"title": {"$notILike": "A%"}})", R"("t"."title" NOT LIKE $1 ESCAPE '\')", R"(["A%"])",
     R"("t"."title" NOT ILIKE $1 ESCAPE '\')"},
    {R"({"uid": {"$like": "ab%"}})", R"("t"."uid" LIKE $1 ESCAPE '\')", R"(["ab%"])",
     R"(CAST("t"."uid" AS TEXT) LIKE $1 ESCAPE '\')", nullptr, "", "users"},
    // Searching: the value is escaped.
    {R"({"title": {"$includes": "50%_off\\"}})", R"("t"."title" LIKE $1 ESCAPE '\')",
     R"(["%50\\%\\_off\\\\%"])", R"(CAST("t"."title" AS TEXT) ILIKE $1 ESCAPE '\')"},
    {R"({"title": {"$includes": ["a", "b"]}})",
     R"(("t"."title" LIKE $1 ESCAPE '\' OR "t"."title" LIKE $2 ESCAPE '\'))", R"(["%a%", "%b%"])",
     R"((CAST("t"."title" AS TEXT) ILIKE $1 ESCAPE '\' OR CAST("t"."title" AS TEXT) ILIKE $2 ESCAPE '\'))"},
    {R"({"title": {"$includes": []}})", "", "[]", nullptr},
    {R"({"title": {"$includes": null}})", R"("t"."title" IS NULL)", "[]", nullptr},
    {R"({"title": {"$notIncludes": 7}})", R"("t"."title" NOT LIKE $1 ESCAPE '\')", R"(["%7%"])",
     R"(CAST("t"."title" AS TEXT) NOT ILIKE $1 ESCAPE '\')"},
    {R"({"title": {"$notIncludes": ["a", "b"]}})",
     R"(("t"."title" NOT LIKE $1 ESCAPE '\' AND "t"."title" NOT LIKE $2 ESCAPE '\'))",
     R"(["%a%", "%b%"])",
     R"((CAST("t"."title" AS TEXT) NOT ILIKE $1 ESCAPE '\' AND CAST("t"."title" AS TEXT) NOT ILIKE $2 ESCAPE '\'))"},
    {R"({"title": {"$notIncludes": null}})", R"("t"."title" IS NOT NULL)", "[]", nullptr},
    {R"({"title": {"$startsWith": "a_"}})", R"("t"."title" LIKE $1 ESCAPE '\')", R"(["a\\_%"])",
     R"(CAST("t"."title" AS TEXT) ILIKE $1 ESCAPE '\')"},
    {R"({"title": {"$notStartsWith": "a"}})", R"("t"."title" NOT LIKE $1 ESCAPE '\')", R"(["a%"])",
     R"(CAST("t"."title" AS TEXT) NOT ILIKE $1 ESCAPE '\')"},
    {R"({"title": {"$endsWith": "a"}})", R"("t"."title" LIKE $1 ESCAPE '\')", R"(["%a"])",
     R"(CAST("t"."title" AS TEXT) ILIKE $1 ESCAPE '\')"},
    {R"({"title": {"$endWith": "a"}})", R"("t"."title" LIKE $1 ESCAPE '\')", R"(["%a"])",
     R"(CAST("t"."title" AS TEXT) ILIKE $1 ESCAPE '\')"},
    {R"({"title": {"$notEndsWith": "a"}})", R"("t"."title" NOT LIKE $1 ESCAPE '\')", R"(["%a"])",
     R"(CAST("t"."title" AS TEXT) NOT ILIKE $1 ESCAPE '\')"},
    {R"({"title": {"$notEndWith": "a"}})", R"("t"."title" NOT LIKE $1 ESCAPE '\')", R"(["%a"])",
     R"(CAST("t"."title" AS TEXT) NOT ILIKE $1 ESCAPE '\')"},
    // Empty and booleans.
    {R"({"title": {"$empty": true}})", R"(("t"."title" IS NULL OR "t"."title" = $1))", R"([""])",
     nullptr},
    {R"({"body": {"$notEmpty": "true"}})", R"(("t"."body" IS NOT NULL AND "t"."body" <> $1))",
     R"([""])", nullptr},
    {R"({"views": {"$empty": true}})", R"("t"."views" IS NULL)", "[]", nullptr},
    {R"({"views": {"$notEmpty": true}})", R"("t"."views" IS NOT NULL)", "[]", nullptr},
    {R"({"published": {"$isTruly": true}})", R"("t"."published" = $1)", "[true]", nullptr},
    {R"({"published": {"$isFalsy": true}})", R"(("t"."published" = $1 OR "t"."published" IS NULL))",
     "[false]", nullptr},
    // Groups.
    {R"({"$or": [{"title": "a"}, {"views": {"$gt": 1}, "published": true}]})",
     R"(("t"."title" = $1 OR ("t"."views" > $2 AND "t"."published" = $3)))", R"(["a", 1, true])",
     nullptr},
    {R"({"$and": [{"title": "a"}, {"$or": [{"views": 1}, {"views": 2}]}]})",
     R"("t"."title" = $1 AND ("t"."views" = $2 OR "t"."views" = $3))", R"(["a", 1, 2])", nullptr},
    {R"({"$and": {"title": "a"}})", R"("t"."title" = $1)", R"(["a"])", nullptr},
    {R"({"$or": []})", "1 = 0", "[]", nullptr},
    {R"({"$or": [{}, null]})", "1 = 0", "[]", nullptr},
    {R"({"$and": []})", "", "[]", nullptr},
    {R"({"$and": [{"$or": []}, {"title": "a"}]})", R"(1 = 0 AND "t"."title" = $1)", R"(["a"])",
     nullptr},
    {R"({"$or": [{}, {"title": "a"}, null]})", R"("t"."title" = $1)", R"(["a"])", nullptr},
    {R"({"title": {}})", "", "[]", nullptr},
    // belongsTo: joined once per path, LEFT JOIN.
    {R"({"author": {"name": {"$eq": "x"}}})", R"("t_author"."name" = $1)", R"(["x"])", nullptr,
     nullptr, R"(LEFT JOIN "users" AS "t_author" ON "t_author"."id" = "t"."authorId")"},
    {R"({"author.company.name": "x", "author": {"name": "y"}})",
     R"("t_author_company"."name" = $1 AND "t_author"."name" = $2)", R"(["x", "y"])", nullptr,
     nullptr,
     R"(LEFT JOIN "users" AS "t_author" ON "t_author"."id" = "t"."authorId" LEFT JOIN "companies" AS "t_author_company" ON "t_author_company"."id" = "t_author"."companyId")"},
    {R"({"author.name.$ne": "x"})", R"(("t_author"."name" <> $1 OR "t_author"."name" IS NULL))",
     R"(["x"])", nullptr, nullptr,
     R"(LEFT JOIN "users" AS "t_author" ON "t_author"."id" = "t"."authorId")"},
    {R"({"author": {"name": {}}})", "", "[]", nullptr},
    {R"({"author": {"$exists": true}})", R"("t"."authorId" IS NOT NULL)", "[]", nullptr},
    {R"({"author.$notExists": true})", R"("t"."authorId" IS NULL)", "[]", nullptr},
    {R"({"author.company": {"$exists": true}})", R"("t_author"."companyId" IS NOT NULL)", "[]",
     nullptr, nullptr, R"(LEFT JOIN "users" AS "t_author" ON "t_author"."id" = "t"."authorId")"},
    {R"({"manager.manager.name": "x"})", R"("t_manager_manager"."name" = $1)", R"(["x"])", nullptr,
     nullptr,
     R"(LEFT JOIN "users" AS "t_manager" ON "t_manager"."id" = "t"."managerId" LEFT JOIN "users" AS "t_manager_manager" ON "t_manager_manager"."id" = "t_manager"."managerId")",
     "users"},
    // hasMany: EXISTS; conditions on one relation in one object share it.
    {R"({"comments": {"$exists": true}})",
     R"(EXISTS (SELECT 1 FROM "comments" AS "t_comments" WHERE "t_comments"."postId" = "t"."id"))",
     "[]", nullptr},
    {R"({"comments": {"$notExists": "true"}})",
     R"(NOT EXISTS (SELECT 1 FROM "comments" AS "t_comments" WHERE "t_comments"."postId" = "t"."id"))",
     "[]", nullptr},
    {R"({"comments.body": {"$includes": "x"}})",
     R"(EXISTS (SELECT 1 FROM "comments" AS "t_comments" WHERE "t_comments"."postId" = "t"."id" AND "t_comments"."body" LIKE $1 ESCAPE '\'))",
     R"(["%x%"])",
     R"(EXISTS (SELECT 1 FROM "comments" AS "t_comments" WHERE "t_comments"."postId" = "t"."id" AND CAST("t_comments"."body" AS TEXT) ILIKE $1 ESCAPE '\'))"},
    {R"({"comments": {"body": "a"}, "title": "t", "comments.authorId": 2})",
     R"(EXISTS (SELECT 1 FROM "comments" AS "t_comments" WHERE "t_comments"."postId" = "t"."id" AND "t_comments"."body" = $2 AND "t_comments"."authorId" = $3) AND "t"."title" = $1)",
     R"(["t", "a", 2])", nullptr},
    {R"({"comments.author.name": "x"})",
     R"(EXISTS (SELECT 1 FROM "comments" AS "t_comments" LEFT JOIN "users" AS "t_comments_author" ON "t_comments_author"."id" = "t_comments"."authorId" WHERE "t_comments"."postId" = "t"."id" AND "t_comments_author"."name" = $1))",
     R"(["x"])", nullptr},
    {R"({"comments": {"body": {}}})", "", "[]", nullptr},
    {R"({"posts": {"title": "x"}})",
     R"(EXISTS (SELECT 1 FROM "posts" AS "t_posts" WHERE "t_posts"."authorId" = "t"."id" AND "t_posts"."title" = $1))",
     R"(["x"])", nullptr, nullptr, "", "users"},
    {R"({"author.posts.title": "x"})",
     R"(EXISTS (SELECT 1 FROM "posts" AS "t_author_posts" WHERE "t_author_posts"."authorId" = "t_author"."id" AND "t_author_posts"."title" = $1))",
     R"(["x"])", nullptr, nullptr,
     R"(LEFT JOIN "users" AS "t_author" ON "t_author"."id" = "t"."authorId")"},
};

TEST(FilterSqlTest, EachOperatorOnBothDialects) {
  for (const SqlCase& c : kSqlCases) {
    for (db::Dialect dialect : {db::Dialect::kSqlite, db::Dialect::kPostgres}) {
      const bool pg = dialect == db::Dialect::kPostgres;
      SCOPED_TRACE(std::string(c.filter) + " on " + std::string(db::DialectName(dialect)));
      const Collection* root = Fixture().Find(c.root);
      ASSERT_NE(root, nullptr);
      SqlParams params;
      auto compiled = CompileFilter(json::parse(c.filter), Fixture(), *root, dialect, &params);
      ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
      EXPECT_EQ(compiled->where, pg && c.pg_where ? c.pg_where : c.where);
      EXPECT_EQ(ParamsJson(params.values()),
                json::parse(pg && c.pg_params ? c.pg_params : c.params));
      EXPECT_EQ(JoinsText(*compiled), c.joins);
    }
  }
}

TEST(FilterSqlTest, PlaceholdersContinueAfterTheCallersValues) {
  SqlParams params;
  EXPECT_EQ(params.Add(int64_t{7}), "$1");
  auto compiled = CompileFilter(json::parse(R"({"title": "x"})"), Fixture(),
                                *Fixture().Find("posts"), db::Dialect::kSqlite, &params);
  ASSERT_TRUE(compiled.ok());
  EXPECT_EQ(compiled->where, R"("t"."title" = $2)");
  EXPECT_EQ(params.values().size(), 2u);
}

TEST(FilterSqlTest, AliasesStayUniqueWhenRelationNamesCollide) {
  // "a_b" on users and "a" then "b" would both want "t_a_b".
  auto parse = [](const char* def) {
    json::object d = json::parse(def).as_object();
    d["timestamps"] = false;
    d["createdBy"] = false;
    d["updatedBy"] = false;
    return std::make_shared<const Collection>(ParseCollectionDefinition(d, false).value());
  };
  std::map<std::string, std::shared_ptr<const Collection>> m;
  m["x"] = parse(R"({"name": "x", "fields": [{"name": "n", "type": "string"},
      {"name": "a", "type": "belongsTo", "target": "x"},
      {"name": "b", "type": "belongsTo", "target": "x"},
      {"name": "a_b", "type": "belongsTo", "target": "x"}]})");
  Schema schema(std::move(m));
  SqlParams params;
  auto compiled = CompileFilter(json::parse(R"({"a_b.n": "1", "a.b.n": "2"})"), schema,
                                *schema.Find("x"), db::Dialect::kSqlite, &params);
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  ASSERT_EQ(compiled->joins.size(), 3u);
  EXPECT_EQ(compiled->joins[0].alias, "t_a_b");
  EXPECT_EQ(compiled->joins[1].alias, "t_a");
  EXPECT_EQ(compiled->joins[2].alias, "t_a_b_2");
  EXPECT_EQ(compiled->where, R"("t_a_b"."n" = $1 AND "t_a_b_2"."n" = $2)");
}

// ---------------------------------------------------------------------------------------------
// What is refused, and how the message says so.

struct ErrorCase {
  const char* filter;
  const char* message;  // a fragment of the message
  const char* root = "posts";
};

const ErrorCase kErrorCases[] = {
    {R"([1])", "a filter must be a JSON object"},
    {R"("x")", "a filter must be a JSON object"},
    {R"({"nope": 1})", "unknown field 'posts.nope'"},
    {R"({"author.nope": 1})", "unknown field 'users.nope'"},
    {R"({"comments.nope": 1})", "unknown field 'comments.nope'"},
    {R"({"": 1})", "unknown field 'posts.'"},
    {R"({"title.": 1})", "unknown field 'posts.title.'"},
    {R"({"author.": {"name": "x"}})", "unknown field 'posts.author.'"},
    {R"({"title": {"$foo": 1}})", "unknown operator '$foo' on 'posts.title'"},
    {R"({"$foo": 1})", "unknown operator '$foo'"},
    {R"({"$eq": 1})", "operator '$eq' needs a field of 'posts'"},
    {R"({"published": {"$gt": true}})", "'$gt' does not apply to boolean field 'posts.published'"},
    {R"({"views": {"$includes": "1"}})",
     "'$includes' does not apply to integer field 'posts.views'"},
    {R"({"views": {"$like": "1%"}})", "'$like' does not apply to integer field 'posts.views'"},
    {R"({"title": {"$isTruly": true}})", "'$isTruly' does not apply to string field 'posts.title'"},
    {R"({"title": {"$exists": true}})", "'$exists' does not apply to string field 'posts.title'"},
    {R"({"meta": {"$eq": 1}})", "'$eq' does not apply to json field 'users.meta'", "users"},
    {R"({"author": {"$eq": 1}})", "'$eq' does not apply to relation 'posts.author'"},
    {R"({"comments": {"$in": [1]}})", "'$in' does not apply to relation 'posts.comments'"},
    {R"({"author": {"$bogus": 1}})", "unknown operator '$bogus' on 'posts.author'"},
    {R"({"author": 1})", "'posts.author' is a relation"},
    {R"({"comments": null})", "'posts.comments' is a relation"},
    {R"({"password": {"$empty": true}})", "'users.password' cannot be filtered", "users"},
    {R"({"author.password": "x"})", "'users.password' cannot be filtered"},
    {R"({"title.foo": 1})", "'posts.title' is not a relation"},
    {R"({"title": {"foo": 1}})", "'foo' is not an operator"},
    {R"({"views": {"$in": 1}})", "'$in' on 'posts.views' needs an array"},
    {R"({"views": {"$notIn": "1,2"}})", "'$notIn' on 'posts.views' needs an array"},
    {R"({"views": {"$between": [1]}})", "'$between' on 'posts.views' needs two values"},
    {R"({"views": {"$notBetween": [1, null]}})", "needs two values"},
    {R"({"views": {"$between": 1}})", "needs two values"},
    {R"({"views": {"$gt": null}})", "'$gt' on 'posts.views' needs a value"},
    {R"({"views": "abc"})", "field 'posts.views' expects"},
    {R"({"views": {"$in": [1, "x"]}})", "field 'posts.views' expects"},
    {R"({"publishedAt": {"$gt": "yesterday"}})", "field 'posts.publishedAt'"},
    {R"({"title": {"$eq": {"a": 1}}})", "field 'posts.title' expects a string"},
    {R"({"title": {"$like": ["a"]}})", "'$like' on 'posts.title' needs a string"},
    {R"({"title": {"$like": "abc\\"}})", "ends with the escape character"},
    {R"({"title": {"$includes": [{"a": 1}]}})", "'$includes' on 'posts.title' needs a string"},
    {R"({"title": {"$empty": false}})", "'$empty' on 'posts.title' needs the value true"},
    {R"({"published": {"$isFalsy": 1}})", "needs the value true"},
    {R"({"comments": {"$exists": false}})", "'$exists' on 'posts.comments' needs the value true"},
    {R"({"published": {"$is": "x"}})", "needs null, true or false"},
    {R"({"title": {"$is": true}})", "'$is' on 'posts.title' needs null"},
    {R"({"$or": {"title": "a"}})", "'$or' needs an array of filters"},
    {R"({"$and": "x"})", "'$and' needs an array of filters"},
    {R"({"$or": [1]})", "'$or' needs an array of filter objects"},
};

TEST(FilterErrorTest, LongNamesAndValuesAreCutAtACharacterBoundary) {
  // "é" is two bytes; the cuts (at 100 bytes of a name, 40 of a value) fall inside one, which
  // would leave invalid UTF-8 in the response.
  std::string e_acute = "\xc3\xa9";
  std::string name = std::string(93, 'a');  // "posts." + 93 = 99 bytes, then "é"
  for (int i = 0; i < 20; ++i) name += e_acute;
  SqlParams params;
  auto compiled = CompileFilter(json::object{{name, 1}}, Fixture(), *Fixture().Find("posts"),
                                db::Dialect::kSqlite, &params);
  ASSERT_FALSE(compiled.ok());
  EXPECT_NE(
      compiled.status().message().find("unknown field 'posts." + std::string(93, 'a') + "...'"),
      std::string::npos)
      << compiled.status().message();
  std::string text = "a";  // serialized: ["a then "é" from byte 3 on
  for (int i = 0; i < 30; ++i) text += e_acute;
  auto value = CompileFilter(json::object{{"title", json::object{{"$like", json::array{text}}}}},
                             Fixture(), *Fixture().Find("posts"), db::Dialect::kSqlite, &params);
  ASSERT_FALSE(value.ok());
  std::string shown = "got [\"a";
  for (int i = 0; i < 18; ++i) shown += e_acute;
  EXPECT_NE(value.status().message().find(shown + "..."), std::string::npos)
      << value.status().message();
}

TEST(FilterErrorTest, NamesWhatWasWrong) {
  for (const ErrorCase& c : kErrorCases) {
    SCOPED_TRACE(c.filter);
    SqlParams params;
    params.Add(int64_t{1});  // the caller's, which a failed compilation must leave alone
    auto compiled = CompileFilter(json::parse(c.filter), Fixture(), *Fixture().Find(c.root),
                                  db::Dialect::kSqlite, &params);
    ASSERT_FALSE(compiled.ok());
    EXPECT_EQ(compiled.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(compiled.status().message().rfind("filter: ", 0), 0u) << compiled.status().message();
    EXPECT_NE(compiled.status().message().find(c.message), std::string::npos)
        << compiled.status().message();
    EXPECT_EQ(params.size(), 1u);
  }
}

Status CompileWith(const json::value& filter, const FilterLimits& limits) {
  SqlParams params;
  return CompileFilter(filter, Fixture(), *Fixture().Find("posts"), db::Dialect::kSqlite, &params,
                       limits)
      .status();
}

TEST(FilterErrorTest, LimitsAreNamed) {
  FilterLimits limits;
  // Depth: $and inside $and ...
  json::value nested = json::parse(R"({"title": "x"})");
  for (int i = 0; i < 16; ++i) nested = json::object{{"$and", json::array{nested}}};
  EXPECT_NE(CompileWith(nested, limits).message().find("max_depth"), std::string::npos);
  json::value shallow = json::parse(R"({"title": "x"})");
  for (int i = 0; i < 14; ++i) shallow = json::object{{"$and", json::array{shallow}}};
  EXPECT_TRUE(CompileWith(shallow, limits).ok()) << CompileWith(shallow, limits).ToString();

  json::array many;
  for (int i = 0; i < 501; ++i) many.push_back(json::object{{"views", i}});
  EXPECT_NE(CompileWith(json::object{{"$or", many}}, limits).message().find("max_conditions"),
            std::string::npos);
  many.pop_back();
  EXPECT_TRUE(CompileWith(json::object{{"$or", many}}, limits).ok());

  json::array list;
  for (int i = 0; i < 1001; ++i) list.push_back(i);
  EXPECT_NE(CompileWith(json::object{{"views", json::object{{"$in", list}}}}, limits)
                .message()
                .find("max_list"),
            std::string::npos);
  EXPECT_NE(CompileWith(json::object{{"title", json::object{{"$includes", list}}}}, limits)
                .message()
                .find("max_list"),
            std::string::npos);

  FilterLimits small;
  small.max_values = 3;
  EXPECT_NE(CompileWith(json::parse(R"({"views": {"$in": [1, 2, 3, 4]}})"), small)
                .message()
                .find("max_values"),
            std::string::npos);
  EXPECT_TRUE(CompileWith(json::parse(R"({"views": {"$in": [1, 2, 3]}})"), small).ok());
  small.max_joins = 1;
  EXPECT_NE(CompileWith(json::parse(R"({"author.company.name": "x"})"), small)
                .message()
                .find("max_joins"),
            std::string::npos);
  EXPECT_TRUE(CompileWith(json::parse(R"({"author.name": "x"})"), small).ok());
}

TEST(ParseFilterJsonTest, ParsesAndNamesThePositionOfAnError) {
  auto ok = ParseFilterJson(R"( {"title": {"$eq": "x"}} )");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, json::parse(R"({"title": {"$eq": "x"}})"));
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {R"({"a":)", "filter: malformed JSON at position 5: "},
      {R"({"a" 1})", "filter: malformed JSON at position 5: "},
      {R"({"a":1} x)", "filter: malformed JSON at position 8: "},
      {"", "filter: malformed JSON at position 0: "},
  };
  for (const Case& c : cases) {
    auto r = ParseFilterJson(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind(c.message, 0), 0u) << r.status().message();
  }
  std::string deep(33, '[');
  deep += std::string(33, ']');
  EXPECT_NE(ParseFilterJson(deep).status().message().find("position 32"), std::string::npos)
      << ParseFilterJson(deep).status().message();
  std::string fine(32, '[');
  fine += std::string(32, ']');
  EXPECT_TRUE(ParseFilterJson(fine).ok());
  std::string big = R"({"title": ")" + std::string(70000, 'a') + R"("})";
  EXPECT_NE(ParseFilterJson(big).status().message().find("longer than 65536 bytes"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The semantics: compiled filters run against SQLite holding known rows.

class FilterSqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto conn = db::OpenSqlite({":memory:"});
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    conn_ = std::move(conn).value();
    for (const char* name : {"companies", "users", "posts", "comments"}) {
      auto statements = CreateTableSql(*Fixture().Find(name), Fixture(), db::Dialect::kSqlite);
      ASSERT_TRUE(statements.ok()) << statements.status().ToString();
      for (const std::string& s : *statements) ASSERT_TRUE(conn_->ExecScript(s).ok()) << s;
    }
    Status rows = conn_->ExecScript(R"SQL(
      INSERT INTO companies (id, name) VALUES (1, 'Acme'), (2, 'Globex');
      INSERT INTO users (id, name, age, active, companyId, managerId) VALUES
        (1, 'alice', 30, 1, 1, NULL),
        (2, 'bob', 25, 0, 2, 1),
        (3, 'carol', NULL, NULL, NULL, 2),
        (4, 'dave', 40, 1, NULL, 1),
        (5, 'erin', 22, 0, 1, 4);
      INSERT INTO posts (id, title, body, views, published, publishedAt, authorId) VALUES
        (1, 'Hello world', 'first', 10, 1, '2024-01-01T00:00:00.000Z', 1),
        (2, '50% off_sale', '', 5, 0, '2024-02-01T00:00:00.000Z', 2),
        (3, '', NULL, NULL, NULL, NULL, NULL),
        (4, NULL, 'x', 20, 1, '2023-12-31T23:59:59.999Z', 3),
        (5, 'hello again', 'second', 15, 0, NULL, 1),
        (6, 'c:\path', 'y', 0, 0, NULL, 4);
      INSERT INTO comments (id, body, postId, authorId) VALUES
        (1, 'nice', 1, 2),
        (2, 'meh', 1, 3),
        (3, '50% off? great', 2, 1),
        (4, 'nice too', 5, 2);
    )SQL");
    ASSERT_TRUE(rows.ok()) << rows.ToString();
  }

  // The ids of `root` rows the filter matches, ascending.
  std::vector<int64_t> Ids(const json::value& filter, const char* root = "posts") {
    const Collection* c = Fixture().Find(root);
    SqlParams params;
    auto compiled = CompileFilter(filter, Fixture(), *c, db::Dialect::kSqlite, &params);
    EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
    if (!compiled.ok()) return {-1};
    std::string sql = "SELECT \"t\".\"id\" FROM " + db::QuoteIdent(c->table) + " AS \"t\"";
    for (const Join& j : compiled->joins) sql += " " + j.sql;
    if (!compiled->where.empty()) sql += " WHERE " + compiled->where;
    sql += " ORDER BY \"t\".\"id\"";
    auto rs = conn_->Query(sql, params.values());
    EXPECT_TRUE(rs.ok()) << sql << ": " << rs.status().ToString();
    if (!rs.ok()) return {-2};
    std::vector<int64_t> ids;
    for (int r = 0; r < (*rs)->row_count(); ++r) ids.push_back((*rs)->Int(r, 0));
    return ids;
  }
  std::vector<int64_t> Ids(const char* filter, const char* root = "posts") {
    return Ids(json::parse(filter), root);
  }

  std::unique_ptr<db::Connection> conn_;
};

using IdList = std::vector<int64_t>;

struct RunCase {
  const char* filter;
  IdList expected;
  const char* root = "posts";
};

const RunCase kRunCases[] = {
    {"{}", {1, 2, 3, 4, 5, 6}},
    {R"({"title": "Hello world"})", {1}},
    {R"({"title": null})", {4}},
    {R"({"views": "10"})", {1}},
    // $ne and $notIn also match NULL; $ne [..] and $notBetween do not.
    {R"({"title": {"$ne": "Hello world"}})", {2, 3, 4, 5, 6}},
    {R"({"views": {"$ne": 10}})", {2, 3, 4, 5, 6}},
    {R"({"views": {"$ne": [10, 5]}})", {4, 5, 6}},
    {R"({"views": {"$notIn": [10, 5]}})", {3, 4, 5, 6}},
    {R"({"views": {"$in": [10, 5]}})", {1, 2}},
    {R"({"views": {"$in": []}})", {}},
    {R"({"views": {"$notIn": []}})", {1, 2, 3, 4, 5, 6}},
    {R"({"views": {"$between": [5, 10]}})", {1, 2}},
    {R"({"views": {"$notBetween": [5, 10]}})", {4, 5, 6}},
    {R"({"views": {"$gt": 5, "$lte": 15}})", {1, 5}},
    {R"({"publishedAt": {"$gte": "2024-01-01"}})", {1, 2}},
    {R"({"publishedAt": {"$lt": "2024-01-01T02:00:00+02:00"}})", {4}},
    // LIKE escaping: % _ and \ in the value are literal.
    {R"({"title": {"$includes": "%"}})", {2}},
    {R"({"title": {"$includes": "_"}})", {2}},
    {R"({"title": {"$includes": "\\"}})", {6}},
    {R"({"title": {"$includes": "hello"}})", {1, 5}},
    {R"({"title": {"$includes": ["world", "again"]}})", {1, 5}},
    {R"({"title": {"$notIncludes": "hello"}})", {2, 3, 6}},
    {R"({"title": {"$notIncludes": ["hello", "%"]}})", {3, 6}},
    {R"({"title": {"$startsWith": "50%"}})", {2}},
    {R"({"title": {"$startsWith": "5_"}})", {}},
    {R"({"title": {"$notStartsWith": "hello"}})", {2, 3, 6}},
    {R"({"title": {"$endsWith": "again"}})", {5}},
    {R"({"title": {"$endWith": "_sale"}})", {2}},
    {R"({"title": {"$notEndWith": "d"}})", {2, 3, 5, 6}},
    {R"({"title": {"$like": "5_%"}})", {2}},
    {R"({"title": {"$like": "%\\_%"}})", {2}},
    {R"({"title": {"$notLike": "h%"}})", {2, 3, 6}},
    {R"({"title": {"$iLike": "HELLO%"}})", {1, 5}},
    // $empty on strings means NULL or ''; on other types NULL.
    {R"({"title": {"$empty": true}})", {3, 4}},
    {R"({"title": {"$notEmpty": true}})", {1, 2, 5, 6}},
    {R"({"body": {"$empty": true}})", {2, 3}},
    {R"({"views": {"$empty": true}})", {3}},
    {R"({"views": {"$notEmpty": true}})", {1, 2, 4, 5, 6}},
    // Booleans.
    {R"({"published": true})", {1, 4}},
    {R"({"published": {"$isTruly": true}})", {1, 4}},
    {R"({"published": {"$isFalsy": true}})", {2, 3, 5, 6}},
    {R"({"published": {"$is": false}})", {2, 5, 6}},
    {R"({"published": {"$not": true}})", {2, 3, 5, 6}},
    {R"({"published": {"$is": null}})", {3}},
    // Groups.
    {R"({"$or": [{"views": {"$gt": 12}}, {"title": {"$like": "Hello%"}}]})", {1, 4, 5}},
    {R"({"$and": [{"published": false}, {"$or": [{"views": 0}, {"views": 5}]}]})", {2, 6}},
    // An $or with nothing in it matches nothing (Sequelize); an empty $and, everything.
    {R"({"$or": []})", {}},
    {R"({"$or": [{}]})", {}},
    {R"({"$and": []})", {1, 2, 3, 4, 5, 6}},
    // belongsTo paths, LEFT JOINed: rows without the relation still match $empty.
    {R"({"author.name": "alice"})", {1, 5}},
    {R"({"author": {"name": {"$in": ["bob", "carol"]}}})", {2, 4}},
    {R"({"author.company.name": "Acme"})", {1, 5}},
    {R"({"author.company.name": {"$empty": true}})", {3, 4, 6}},
    {R"({"author.company.name": {"$ne": "Acme"}})", {2, 3, 4, 6}},
    {R"({"author": {"$exists": true}})", {1, 2, 4, 5, 6}},
    {R"({"author": {"$notExists": true}})", {3}},
    {R"({"author.company": {"$exists": true}})", {1, 2, 5}},
    {R"({"manager.manager.name": "alice"})", {3, 5}, "users"},
    {R"({"manager.name": {"$ne": "alice"}})", {1, 3, 5}, "users"},
    // hasMany: EXISTS; conditions in one object are about the same comment.
    {R"({"comments": {"$exists": true}})", {1, 2, 5}},
    {R"({"comments": {"$notExists": true}})", {3, 4, 6}},
    {R"({"comments.body": {"$includes": "nice"}})", {1, 5}},
    {R"({"comments": {"body": "nice", "authorId": 3}})", {}},
    {R"({"comments.body": "nice", "comments.authorId": 3})", {}},
    {R"({"$and": [{"comments.body": "nice"}, {"comments.authorId": 3}]})", {1}},
    {R"({"comments.author.name": "carol"})", {1}},
    {R"({"comments.author.company.name": "Globex"})", {1, 5}},
    {R"({"comments.body": {"$ne": "nice"}})", {1, 2, 5}},
    {R"({"posts.title": {"$includes": "hello"}})", {1}, "users"},
    {R"({"posts": {"$notExists": true}})", {5}, "users"},
    {R"({"posts.comments.author.name": "alice"})", {2}, "users"},
    {R"({"$or": [{"posts.views": 20}, {"company.name": "Globex"}]})", {2, 3}, "users"},
};

TEST_F(FilterSqliteTest, MatchesTheExpectedRows) {
  for (const RunCase& c : kRunCases) {
    EXPECT_EQ(Ids(c.filter, c.root), c.expected) << c.filter << " on " << c.root;
  }
}

// A role for the permission tests: sees posts (only some fields when `post_fields` is set), its
// own comments (authorId 2), and no users or companies.
class TestAccess final : public RecordAccess {
 public:
  std::optional<std::set<std::string>> post_fields;
  Permission Check(const Collection& c, std::string_view action) const override {
    if (c.name == "posts") return Permission{true, nullptr, post_fields};
    if (c.name == "comments") {
      return Permission{true, json::object{{"authorId", json::object{{"$eq", 2}}}}, std::nullopt};
    }
    return Permission{};
  }
  std::string Who() const override { return "role 'tester'"; }
};

TEST_F(FilterSqliteTest, EveryPathIntoACollectionPassesItsPermission) {
  TestAccess access;
  auto run = [&](const char* filter, const char* root = "posts") -> Result<IdList> {
    const Collection* c = Fixture().Find(root);
    SqlParams params;
    json::value f = json::parse(filter);
    ASSIGN_OR_RETURN(CompiledFilters compiled,
                     CompileFilters({&f}, Fixture(), *c, db::Dialect::kSqlite, &params, &access));
    std::string sql = "SELECT \"t\".\"id\" FROM " + db::QuoteIdent(c->table) + " AS \"t\"";
    for (const Join& j : compiled.joins) sql += " " + j.sql;
    if (!compiled.wheres[0].empty()) sql += " WHERE " + compiled.wheres[0];
    sql += " ORDER BY \"t\".\"id\"";
    ASSIGN_OR_RETURN(auto rs, conn_->Query(sql, params.values()));
    IdList ids;
    for (int r = 0; r < rs->row_count(); ++r) ids.push_back(rs->Int(r, 0));
    return ids;
  };
  // A relation to a collection the role may not view is neither a filter nor an oracle.
  for (const char* forbidden :
       {R"({"author.name": "alice"})", R"({"author": {"company.name": "Acme"}})",
        R"({"comments.author.name": "bob"})", R"({"$or": [{"title": "x"}, {"author.age": 30}]})"}) {
    auto r = run(forbidden);
    ASSERT_FALSE(r.ok()) << forbidden;
    EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << forbidden;
    EXPECT_EQ(r.status().tag(), "NO_PERMISSION");
    EXPECT_NE(r.status().message().find("role 'tester'"), std::string::npos);
  }
  // A relation whose target the role sees only in part matches only through that part: comment 2
  // ("meh") is carol's, comment 1 ("nice") is bob's (authorId 2).
  EXPECT_EQ(*run(R"({"comments.body": {"$includes": "nice"}})"), IdList({1, 5}));
  EXPECT_EQ(*run(R"({"comments.body": "meh"})"), IdList({}));
  EXPECT_EQ(*run(R"({"comments": {"$exists": true}})"), IdList({1, 5}));
  // The root's field list applies to its own fields too.
  access.post_fields = std::set<std::string>{"title"};
  EXPECT_EQ(run(R"({"views": 10})").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(*run(R"({"title": "Hello world"})"), IdList({1}));
}

TEST_F(FilterSqliteTest, BracketNotationFromTheQueryStringWorks) {
  // What axios + qs send for filter={views: {$gt: 12}, title: {$includes: "o"}}.
  auto q = http::ParseQueryString(
      "filter%5Bviews%5D%5B%24gt%5D=12&filter[title][$includes]=o&filter[$or][0][published]=false"
      "&filter[$or][1][author.name]=dave");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(Ids(q->at("filter")), IdList({5}));
  auto in = http::ParseQueryString("filter[id][$in][]=2&filter[id][$in][]=6");
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(Ids(in->at("filter")), IdList({2, 6}));
}

}  // namespace
}  // namespace slipway::data
