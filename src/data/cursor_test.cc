// Keyset cursors and the indexes a definition asks for, against SQLite in memory: every page
// that a cursor gives is the next slice of the full order, NULLs and ties included.
#include "data/cursor.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "data/ddl.h"
#include "db/sqlite/sqlite_connection.h"

namespace slipway::data {
namespace {
namespace json = boost::json;

Collection Parse(const char* def) {
  json::object d = json::parse(def).as_object();
  d["createdBy"] = false;
  d["updatedBy"] = false;
  return ParseCollectionDefinition(d, false).value();
}

TEST(CursorTest, PagesFollowTheSortThroughNullsAndTies) {
  Collection c = Parse(R"({"name":"t","timestamps":false,"fields":[
      {"name":"a","type":"integer"},{"name":"b","type":"string","allowNull":false}]})");
  auto conn = db::OpenSqlite({":memory:"});
  ASSERT_TRUE(conn.ok());
  ASSERT_TRUE(
      (*conn)->ExecScript("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT)").ok());
  for (int i = 1; i <= 40; ++i) {
    db::Value a = i % 5 == 0 ? db::Null() : db::Value(int64_t{i % 4});
    ASSERT_TRUE((*conn)
                    ->Exec("INSERT INTO t (id, a, b) VALUES ($1, $2, $3)",
                           {int64_t{i}, a, "b" + std::to_string(i % 3)})
                    .ok());
  }
  const Field* id = c.FindField("id");
  const Field* a = c.FindField("a");
  const Field* b = c.FindField("b");
  for (std::vector<SortKey> sort : {std::vector<SortKey>{{id, false}},
                                    {{a, false}, {id, false}},
                                    {{a, true}, {id, false}},
                                    {{b, true}, {a, false}, {id, true}},
                                    {{a, true}, {b, false}, {id, false}}}) {
    std::string order;
    for (const SortKey& k : sort) {
      order += std::string(order.empty() ? "" : ", ") + "\"t\".\"" + k.field->column + "\"" +
               (k.descending ? " DESC NULLS FIRST" : " ASC NULLS LAST");
    }
    std::string columns = "\"t\".\"id\"";
    for (const SortKey& k : sort) columns += ", \"t\".\"" + k.field->column + "\"";
    auto all = (*conn)->Query("SELECT \"t\".\"id\" FROM t AS \"t\" ORDER BY " + order);
    ASSERT_TRUE(all.ok());
    std::vector<int64_t> expected, walked;
    for (int r = 0; r < (*all)->row_count(); ++r) expected.push_back((*all)->Int(r, 0));
    std::string cursor;
    for (int page = 0; page < 20; ++page) {
      SqlParams params;
      std::string where;
      if (!cursor.empty()) {
        auto values = DecodeCursor(cursor, sort);
        ASSERT_TRUE(values.ok()) << values.status().ToString();
        where = " WHERE " + AfterCursorSql(sort, *values, &params);
      }
      auto rs = (*conn)->Query(
          "SELECT " + columns + " FROM t AS \"t\"" + where + " ORDER BY " + order + " LIMIT 7",
          params.values());
      ASSERT_TRUE(rs.ok()) << rs.status().ToString();
      for (int r = 0; r < (*rs)->row_count(); ++r) walked.push_back((*rs)->Int(r, 0));
      if ((*rs)->row_count() < 7) break;
      cursor = EncodeCursor(sort, **rs, (*rs)->row_count() - 1, 1);
    }
    EXPECT_EQ(walked, expected) << SortSignature(sort);
  }
}

TEST(CursorTest, RefusesWhatIsNotACursorOfThisSort) {
  Collection c = Parse(R"({"name":"t","fields":[{"name":"a","type":"integer"}]})");
  std::vector<SortKey> by_id = {{c.FindField("id"), false}};
  std::vector<SortKey> by_a = {{c.FindField("a"), false}, {c.FindField("id"), false}};
  for (std::string bad : {"", "!!!", "e30", "WyJpZCJd" /* ["id"]: no value */}) {
    auto r = DecodeCursor(bad, by_id);
    EXPECT_FALSE(r.ok()) << bad;
  }
  auto rs_sql = db::OpenSqlite({":memory:"});
  ASSERT_TRUE(rs_sql.ok());
  auto rs = (*rs_sql)->Query("SELECT 5, NULL, 7");
  ASSERT_TRUE(rs.ok());
  std::string made = EncodeCursor(by_a, **rs, 0, 1);
  auto back = DecodeCursor(made, by_a);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(std::holds_alternative<std::monostate>((*back)[0]));
  EXPECT_EQ(std::get<int64_t>((*back)[1]), 7);
  auto other = DecodeCursor(made, by_id);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("'a,id'"), std::string::npos) << other.status().message();
}

TEST(IndexesTest, ADefinitionsIndexesAndWhatAChangeDoesToThem) {
  Collection before = Parse(R"({"name":"orders","fields":[
      {"name":"status","type":"string","index":true},{"name":"code","type":"string","unique":true},
      {"name":"total","type":"integer"}]})");
  auto had = IndexesOf(before);
  ASSERT_TRUE(had.ok()) << had.status().ToString();
  std::vector<std::string> names;
  for (const IndexSpec& i : *had) names.push_back(i.name);
  EXPECT_NE(std::find(names.begin(), names.end(), "orders_status_idx"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "orders_code_uniq"), names.end());

  Collection after = before;
  after.options["indexes"] = json::parse(R"([{"fields":["status","total"],"unique":true}])");
  for (Field& f : after.fields) {
    if (f.name == "status") f.index = false;
  }
  auto deferred = IndexChangesSql(before, after, /*defer_creates=*/true);
  ASSERT_TRUE(deferred.ok());
  ASSERT_EQ(deferred->size(), 1u);
  EXPECT_EQ((*deferred)[0], R"(DROP INDEX IF EXISTS "orders_status_idx")");
  auto now = IndexChangesSql(before, after, /*defer_creates=*/false);
  ASSERT_TRUE(now.ok());
  ASSERT_EQ(now->size(), 2u);
  EXPECT_EQ(
      (*now)[1],
      R"(CREATE UNIQUE INDEX IF NOT EXISTS "orders_status_total_uniq" ON "orders" ("status", "total"))");

  for (const char* bad : {R"([{"fields":["nope"]}])", R"([{"fields":"status"}])",
                          R"([{"fields":["status","status"]}])", R"([{"fields":["status"],"x":1}])",
                          R"([{"fields":["status"],"name":"orders_code_uniq"}])"}) {
    Collection c = before;
    c.options["indexes"] = json::parse(bad);
    auto r = IndexesOf(c);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) EXPECT_NE(r.status().message().find("orders"), std::string::npos);
  }
}

}  // namespace
}  // namespace slipway::data
