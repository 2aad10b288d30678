#include "test_postgres.h"

#include <unistd.h>

#include <memory>

#include "db/database.h"

namespace slipway::testing {
namespace {

Result<std::unique_ptr<db::Connection>> OpenAdmin(const TestPostgres& server) {
  return db::OpenPostgres(server.options("postgres"));
}

}  // namespace

TestPostgres& TestPostgres::Shared() {
  // Destroyed at exit, which stops the server.
  static TestPostgres server;
  return server;
}

db::PostgresOptions TestPostgres::options(const std::string& database) const {
  db::PostgresOptions o;
  o.host = "127.0.0.1";
  o.port = static_cast<uint16_t>(port());
  o.database = database;
  o.user = "slipway";
  o.password = "slipway";
  return o;
}

::testing::AssertionResult TestDatabase::Create() {
  if (auto started = server_.Start(); !started) return started;
  static int counter = 0;
  std::string name = "test_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
  auto admin = OpenAdmin(server_);
  if (!admin.ok()) return ::testing::AssertionFailure() << admin.status().ToString();
  Status s = (*admin)->ExecScript("CREATE DATABASE " + db::QuoteIdent(name));
  if (!s.ok()) return ::testing::AssertionFailure() << s.ToString();
  options_ = server_.options(name);
  created_ = true;
  return ::testing::AssertionSuccess();
}

TestDatabase::~TestDatabase() {
  if (!created_ || !server_.running()) return;
  auto admin = OpenAdmin(server_);
  if (!admin.ok()) return;
  // FORCE: a test may still hold sessions (a lock, a pool that outlives the database object).
  (*admin)
      ->ExecScript("DROP DATABASE IF EXISTS " + db::QuoteIdent(options_.database) + " WITH (FORCE)")
      .IgnoreError();
}

}  // namespace slipway::testing
