// The `slipway` binary on PostgreSQL (DB_DIALECT=postgres): install, serve, one clear error when
// the server cannot be reached.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <thread>

#include "api_client.h"
#include "db/bulk.h"
#include "db/postgres/postgres_connection.h"
#include "node.h"
#include "test_database.h"
#include "test_postgres.h"

namespace slipway::testing {
namespace {

// COPY's binary format (what a restore loads its collections' rows with) gives the server the
// values COPY's text format gives it: the same rows, read back as text, for every type it is
// written for and values at their edges.
TEST(PostgresBinaryCopyTest, LoadsWhatTheTextFormatLoads) {
  TestDatabase database;
  ASSERT_TRUE(database.Create());
  auto conn = db::OpenPostgres(database.options());
  ASSERT_TRUE(conn.ok()) << conn.status().message();
  const std::string columns =
      "(k integer, i2 smallint, i4 integer, i8 bigint, b boolean, s varchar(20), x text, "
      "n numeric, n2 numeric(10,2), ts timestamptz, j jsonb, f double precision)";
  ASSERT_TRUE(
      (*conn)
          ->ExecScript("CREATE TABLE by_text " + columns + "; CREATE TABLE by_binary " + columns)
          .ok());
  using db::Value;
  const std::vector<std::vector<Value>> rows = {
      {Value(int64_t{1}), Value(int64_t{-32768}), Value(int64_t{-2147483648LL}),
       Value(int64_t{INT64_MIN}), Value(true), Value(std::string("ünï\t\\ ✓")),
       Value(std::string("line\nline")), Value(std::string("123.450")), Value(std::string("0.005")),
       Value(std::string("2000-01-01T00:00:00.000Z")),
       Value(std::string(R"({"a": [1, null, "x\\y"], "é":	1.25})")), Value(0.1)},
      {Value(int64_t{2}), Value(int64_t{32767}), Value(int64_t{2147483647}),
       Value(int64_t{INT64_MAX}), Value(false), Value(std::string("")), Value(std::string("")),
       Value(std::string("-1.5e-3")), Value(std::string("-12345678.99")),
       Value(std::string("1969-07-20T20:17:40.123Z")), Value(std::string("[]")), Value(-2.5e300)},
      {Value(int64_t{3}), db::Null(), db::Null(), db::Null(), db::Null(), db::Null(), db::Null(),
       Value(std::string("0")), Value(std::string("1e3")),
       Value(std::string("2026-12-31T23:59:59.999Z")), Value(std::string("{}")), db::Null()},
      {Value(int64_t{4}), Value(int64_t{0}), Value(int64_t{0}), Value(int64_t{0}), Value(true),
       Value(std::string("x")), Value(std::string("y")),
       Value(std::string("100000000000000000000.00000000000000000001")), Value(int64_t{-7}),
       Value(std::string("1900-02-28T12:00:00.500Z")), Value(std::string(R"("text")")),
       Value(std::string("1e-300"))},
  };
  auto* bulk = dynamic_cast<db::BulkLoader*>(conn->get());
  ASSERT_NE(bulk, nullptr);
  const std::vector<db::BinaryType> types = {
      db::BinaryType::kInt4,        db::BinaryType::kInt2,    db::BinaryType::kInt4,
      db::BinaryType::kInt8,        db::BinaryType::kBool,    db::BinaryType::kText,
      db::BinaryType::kText,        db::BinaryType::kNumeric, db::BinaryType::kNumeric,
      db::BinaryType::kTimestamptz, db::BinaryType::kJsonb,   db::BinaryType::kFloat8};
  std::string text, binary;
  db::AppendBinaryHeader(&binary);
  for (const auto& row : rows) {
    db::AppendBinaryFieldCount(&binary, row.size());
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) text.push_back('\t');
      db::AppendCopyValue(&text, row[c]);
      ASSERT_TRUE(db::AppendBinaryValue(&binary, types[c], row[c])) << c;
    }
    text.push_back('\n');
  }
  db::AppendBinaryTrailer(&binary);
  ASSERT_TRUE(bulk->BeginCopy("COPY by_text FROM STDIN").ok());
  ASSERT_TRUE(bulk->PutCopy(text).ok());
  ASSERT_TRUE(bulk->EndCopy().ok());
  ASSERT_TRUE(bulk->BeginCopy("COPY by_binary FROM STDIN (FORMAT binary)").ok());
  ASSERT_TRUE(bulk->PutCopy(binary).ok());
  Status ended = bulk->EndCopy();
  ASSERT_TRUE(ended.ok()) << ended.message();
  auto read = [&](const std::string& table) {
    auto rs = (*conn)->Query("SELECT t::text FROM " + table + " t ORDER BY k");
    std::vector<std::string> out;
    if (!rs.ok()) return out;
    for (int r = 0; r < (*rs)->row_count(); ++r) out.emplace_back((*rs)->Text(r, 0));
    return out;
  };
  std::vector<std::string> by_text = read("by_text");
  ASSERT_EQ(by_text.size(), rows.size());
  EXPECT_EQ(read("by_binary"), by_text);
}

TEST(PostgresCliTest, UnreachableServerIsOneLineNamingIt) {
  TempDir dir;
  db::PostgresOptions options;
  options.port = static_cast<uint16_t>(FreePort());
  options.database = "appdb";
  auto r = RunCommand({SLIPWAY_BIN, "install", "--storage", (dir.path() / "s").string()},
                      PostgresEnv(options), dir.path());
  EXPECT_EQ(r.exit_code, 4) << r.err;  // Unavailable
  std::string where = "127.0.0.1:" + std::to_string(options.port) + "/appdb";
  size_t at = r.err.find("slipway: error: ");
  ASSERT_NE(at, std::string::npos) << r.err;
  std::string line = r.err.substr(at, r.err.find('\n', at) - at);
  EXPECT_NE(line.find(where), std::string::npos) << r.err;
  EXPECT_NE(line.find("Connection refused"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin() + at, r.err.end(), '\n'), 1) << r.err;
}

TEST(PostgresCliTest, InstallsAndServes) {
  TestDatabase database;
  ASSERT_TRUE(database.Create());
  TempDir dir;
  auto env = PostgresEnv(database.options());
  auto installed = RunCommand({SLIPWAY_BIN, "install", "--storage", (dir.path() / "s").string()},
                              env, dir.path());
  ASSERT_EQ(installed.exit_code, 0) << installed.err;
  auto again = RunCommand({SLIPWAY_BIN, "install", "--storage", (dir.path() / "s").string()}, env,
                          dir.path());
  EXPECT_EQ(again.exit_code, 3);
  EXPECT_NE(again.err.find("already installed"), std::string::npos) << again.err;

  Node node({.storage = dir.path() / "s", .env = env});
  ASSERT_TRUE(node.WaitHealthy()) << node.process().Stdout() << node.process().Stderr();
  auto info = node.Get("/api/app:getInfo");
  EXPECT_EQ(info.status, 200);
  EXPECT_NE(info.body.find("\"dialect\":\"postgres\""), std::string::npos) << info.body;
  EXPECT_EQ(node.Stop(), 0);
}

// A restart of PostgreSQL under a running node: the requests that meet the outage get a clear
// 503, none a 500; afterwards reads (the fibers' shared pipeline) and writes (the fibers' own
// connections) work again without restarting the node, and nothing acknowledged is lost.
TEST(PostgresNodeTest, RecoversWhenTheDatabaseRestarts) {
  using namespace std::chrono_literals;
  TestPostgres server;  // its own server: restarting the shared one would disturb other tests
  ASSERT_TRUE(server.Start());
  TestDatabase database(server);
  ASSERT_TRUE(database.Create());
  TempDir dir;
  auto env = PostgresEnv(database.options());
  env["APP_KEY"] = "integration-test-key-0123456789abcdef";
  Node node({.storage = dir.path() / "s", .env = env});
  ASSERT_TRUE(node.WaitHealthy(30s)) << node.process().Stdout() << node.process().Stderr();
  Api api(node.port());
  ASSERT_EQ(api.SignIn("admin@nocobase.com", "admin123").status, 200);
  ASSERT_EQ(api.Post("collections:create", std::string(R"({"name":"notes","fields":[
                {"name":"text","type":"string"}]})"))
                .status,
            200);
  ApiResult before = api.Post("notes:create", std::string(R"({"text":"before"})"));
  ASSERT_EQ(before.status, 200) << before.body;
  ASSERT_EQ(api.Get("notes:get?filterByTk=1").status, 200);
  // The get went through an HTTP thread's read pipeline (its own session, named so).
  {
    auto admin = db::OpenPostgres(database.options());
    ASSERT_TRUE(admin.ok()) << admin.status().ToString();
    auto rs = (*admin)->Query(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'slipway (reads)'");
    ASSERT_TRUE(rs.ok()) << rs.status().ToString();
    EXPECT_GE((*rs)->Int(0, 0), 1);
  }

  ASSERT_TRUE(server.Restart());
  // Each kind of connection finds out on its first use after the restart; keep asking until
  // both answer, and never accept a 500.
  int get_status = 0, create_status = 0;
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    ApiResult get = api.Get("notes:get?filterByTk=1");
    ApiResult create = api.Post("notes:create", std::string(R"({"text":"after"})"));
    EXPECT_NE(get.status, 500) << get.body;
    EXPECT_NE(create.status, 500) << create.body;
    if (get.status != 200) {
      EXPECT_EQ(get.status, 503) << get.body;
    }
    get_status = get.status;
    create_status = create.status;
    if (get_status == 200 && create_status == 200) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(get_status, 200);
  ASSERT_EQ(create_status, 200);
  ApiResult all = api.Get("notes:list?filter=" + Encode(R"({"text":"before"})"));
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all.json.at("meta").at("count").as_int64(), 1);

  // While the database is down: 503 with Retry-After, and nothing about where it is or what
  // libpq said (that goes to the log).
  ASSERT_TRUE(server.Stop());
  for (const char* path : {"notes:get?filterByTk=1", "notes:list"}) {
    ApiResult down = api.Get(path);
    EXPECT_EQ(down.status, 503) << down.body;
    EXPECT_EQ(down.code(), "DB_UNAVAILABLE") << down.body;
    EXPECT_EQ(down.message(), "the database is unavailable; try again in a moment");
    EXPECT_EQ(down.body.find(std::to_string(server.port())), std::string::npos) << down.body;
    EXPECT_EQ(down.body.find("127.0.0.1"), std::string::npos) << down.body;
    EXPECT_FALSE(down.headers["retry-after"].empty());
  }
  ASSERT_TRUE(server.Start());
  EXPECT_EQ(node.Stop(), 0);
  EXPECT_NE(node.process().Stdout().find("database unavailable"), std::string::npos);
}

}  // namespace
}  // namespace slipway::testing
