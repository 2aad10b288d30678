// libFuzzer target for the filter compiler, end to end: the input bytes are the `filter` query
// parameter's JSON text -> ParseFilterJson -> CompileFilter against every collection of a fixed
// schema, for SQLite and PostgreSQL -> the compiled SELECT prepared and run on an in-memory SQLite
// database holding that schema and a few rows.
//
// A bug (abort) is: any failure other than InvalidArgument; a failed compilation that leaves
// values behind; the dialects disagreeing on whether a filter is valid; placeholders that do not
// number exactly the bound values; SQLite refusing or failing a compiled statement.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "data/ddl.h"
#include "data/filter.h"
#include "data/schema.h"
#include "db/sqlite/sqlite_connection.h"
#include "filter_fixture.h"

namespace {
namespace json = boost::json;
using namespace slipway;

// The schema is the unit test's (tests/support/filter_fixture.h); the rows are edge values.
constexpr const char* kRows = R"SQL(
  INSERT INTO companies (id, name, founded) VALUES (1, 'Acme', '2001-02-03'), (2, '', NULL);
  INSERT INTO users (id, name, email, age, active, score, bio, meta, uid, companyId, managerId)
    VALUES (1, 'alice', 'a@x', 30, 1, 1.5, 'b%_\', '{"a":1}', '0e4f5c1a-0000-4000-8000-000000000001', 1, NULL),
           (2, 'bob', NULL, NULL, 0, NULL, '', NULL, NULL, 2, 1),
           (3, NULL, 'c@x', 41, NULL, -2, NULL, '[]', NULL, NULL, 2);
  INSERT INTO posts (id, title, body, views, rating, published, publishedAt, authorId, editorId)
    VALUES (1, 'Hello', 'x', 10, 1.25, 1, '2024-01-01T00:00:00.000Z', 1, 2),
           (2, '50% off', '', NULL, NULL, 0, NULL, 2, NULL),
           (3, NULL, NULL, 0, 3, NULL, '2023-05-06T07:08:09.000Z', NULL, 1);
  INSERT INTO comments (id, body, postId, authorId) VALUES (1, 'nice', 1, 2), (2, NULL, 1, NULL),
    (3, 'meh', 2, 3);
)SQL";

struct Env {
  data::Schema schema;
  std::unique_ptr<db::Connection> conn;
};

[[noreturn]] void Fail(const std::string& what, const std::string& detail) {
  std::fprintf(stderr, "filter_fuzzer: %s\n%s\n", what.c_str(), detail.c_str());
  std::abort();
}

Env* MakeEnv() {
  auto env = std::make_unique<Env>();
  auto schema = testing::FilterFixtureSchema();
  if (!schema.ok()) Fail("fixture", schema.status().ToString());
  env->schema = std::move(schema).value();
  auto conn = db::OpenSqlite({":memory:"});
  if (!conn.ok()) Fail("open", conn.status().ToString());
  env->conn = std::move(conn).value();
  for (const char* name : {"companies", "users", "posts", "comments"}) {
    auto statements =
        data::CreateTableSql(*env->schema.Find(name), env->schema, db::Dialect::kSqlite);
    if (!statements.ok()) Fail("ddl", statements.status().ToString());
    for (const std::string& sql : *statements) {
      if (Status s = env->conn->ExecScript(sql); !s.ok()) Fail("ddl", sql + ": " + s.ToString());
    }
  }
  if (Status s = env->conn->ExecScript(kRows); !s.ok()) Fail("rows", s.ToString());
  return env.release();
}

// The statement as the repository builds it.
std::string SelectSql(const data::Collection& c, const data::CompiledFilter& f) {
  std::string sql = "SELECT \"t\".\"id\" FROM " + db::QuoteIdent(c.table) + " AS \"t\"";
  for (const data::Join& j : f.joins) sql += " " + j.sql;
  if (!f.where.empty()) sql += " WHERE " + f.where;
  return sql;
}

// Every $N in the text is one of 1..count and each of them appears. Identifiers in the fixture
// and the only literal ('\') hold no '$'.
void CheckPlaceholders(const std::string& sql, size_t count) {
  std::set<size_t> seen;
  for (size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] != '$') continue;
    size_t n = 0;
    size_t j = i + 1;
    while (j < sql.size() && sql[j] >= '0' && sql[j] <= '9' && n < 1000000) {
      n = n * 10 + static_cast<size_t>(sql[j] - '0');
      ++j;
    }
    if (j == i + 1 || n == 0 || n > count) Fail("bad placeholder", sql);
    seen.insert(n);
  }
  if (seen.size() != count) Fail("values without a placeholder", sql);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Env* env = MakeEnv();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto filter = data::ParseFilterJson(text);
  if (!filter.ok()) {
    if (filter.status().code() != StatusCode::kInvalidArgument) {
      Fail("ParseFilterJson", filter.status().ToString());
    }
    return 0;
  }
  for (const auto& [name, collection] : env->schema.collections()) {
    data::SqlParams sqlite_params;
    data::SqlParams pg_params;
    auto sqlite = data::CompileFilter(*filter, env->schema, *collection, db::Dialect::kSqlite,
                                      &sqlite_params);
    auto pg =
        data::CompileFilter(*filter, env->schema, *collection, db::Dialect::kPostgres, &pg_params);
    if (sqlite.ok() != pg.ok()) {
      Fail("dialects disagree on " + name,
           sqlite.ok() ? pg.status().ToString() : sqlite.status().ToString());
    }
    if (!sqlite.ok()) {
      if (sqlite.status().code() != StatusCode::kInvalidArgument) {
        Fail("CompileFilter", sqlite.status().ToString());
      }
      if (sqlite_params.size() != 0 || pg_params.size() != 0) Fail("values left behind", name);
      continue;
    }
    std::string sql = SelectSql(*collection, *sqlite);
    CheckPlaceholders(sql, sqlite_params.size());
    CheckPlaceholders(SelectSql(*collection, *pg), pg_params.size());
    auto rs = env->conn->Query(sql, sqlite_params.values());
    if (!rs.ok()) Fail("SQLite refused a compiled filter", sql + "\n" + rs.status().ToString());
  }
  return 0;
}
