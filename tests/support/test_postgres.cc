#include "test_postgres.h"

#include <unistd.h>

#include <memory>

#include "db/database.h"

namespace slipway::testing {
namespace {

constexpr const char* kScript = SLIPWAY_SOURCE_DIR "/scripts/pg-server";

Result<std::unique_ptr<db::Connection>> OpenAdmin(const TestPostgres& server) {
  return db::OpenPostgres(server.options("postgres"));
}

}  // namespace

TestPostgres::TestPostgres() : owner_pid_(::getpid()) {}

TestPostgres::~TestPostgres() {
  // A forked child that exits normally must not stop its parent's server.
  if (running_ && ::getpid() == owner_pid_) (void)Stop();
}

TestPostgres& TestPostgres::Shared() {
  // Destroyed at exit, which stops the server.
  static TestPostgres server;
  return server;
}

::testing::AssertionResult TestPostgres::Run(const std::string& command) {
  RunResult r = RunCommand({"/bin/bash", kScript, command, (dir_.path() / "pg").string()},
                           {{"PG_FAST", "1"}}, dir_.path() / "logs");
  if (r.exit_code != 0) {
    return ::testing::AssertionFailure()
           << "scripts/pg-server " << command << " failed (exit " << r.exit_code << "):\n"
           << r.out << r.err;
  }
  if (command != "stop") {
    port_ = std::atoi(r.out.c_str());
    if (port_ <= 0) {
      return ::testing::AssertionFailure()
             << "scripts/pg-server " << command << " printed no port:\n"
             << r.out << r.err;
    }
  }
  running_ = command != "stop";
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult TestPostgres::Start() {
  if (running_) return ::testing::AssertionSuccess();
  return Run("start");
}

::testing::AssertionResult TestPostgres::Restart() { return Run("restart"); }

::testing::AssertionResult TestPostgres::Stop() { return Run("stop"); }

db::PostgresOptions TestPostgres::options(const std::string& database) const {
  db::PostgresOptions o;
  o.host = "127.0.0.1";
  o.port = static_cast<uint16_t>(port_);
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
