// Work that stops when nobody waits for it (issue 16): a slow list whose client disconnects
// frees its connection at once, a statement past DB_STATEMENT_TIMEOUT answers 503 and leaves
// the node serving, and SIGTERM during slow lists ends the node within SHUTDOWN_GRACE. On
// SQLite, on PostgreSQL with record reads in fibers (the default: one pipelined connection per
// HTTP thread) and with everything on worker threads.
//
// The slow list is a real one: a million rows and a filter of many `$includes` terms that no
// row matches, so that every term is tried on every row (seconds of work on either database).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "api_client.h"
#include "db/postgres/postgres_connection.h"
#include "db/sqlite/sqlite_connection.h"
#include "dialect_setups.h"
#include "node.h"
#include "test_database.h"

namespace slipway::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kRows = 1'000'000;
constexpr int kTerms = 120;

// The path of a list that reads every row and tries every term on each.
std::string SlowList() {
  json::array terms;
  for (int i = 0; i < kTerms; ++i) {
    terms.push_back(json::object{{"body", json::object{{"$includes", "zz" + std::to_string(i)}}}});
  }
  return "big:list?count=none&sort=body&filter=" +
         Encode(json::serialize(json::object{{"$or", terms}}));
}

// Sends a request on a connection of its own and leaves it open; the caller closes it.
int SendRaw(int port, const std::string& target, const std::string& token) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  std::string request = "GET /api/" + target +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + "Bearer " + token +
                        "\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class SlowListsTest : public ::testing::TestWithParam<Setup> {
 protected:
  void SetUp() override {
    env_ = {{"APP_KEY", "integration-test-key-0123456789abcdef"},
            // One HTTP thread and one worker: whatever a slow list holds, the next request
            // needs too.
            {"HTTP_THREADS", "1"},
            {"DB_POOL_MAX", "1"}};
    if (!GetParam().fibers) env_["DB_FIBER_POOL"] = "0";
    if (GetParam().dialect == db::Dialect::kPostgres) {
      pg_.emplace();
      ASSERT_TRUE(pg_->Create());
      env_.merge(PostgresEnv(pg_->options()));
    }
    ASSERT_NO_FATAL_FAILURE(Start({{"DB_STATEMENT_TIMEOUT", "600000"}}));
    ASSERT_EQ(
        api_->Post("collections:create",
                   json::parse(R"({"name":"big","fields":[{"name":"body","type":"string"}]})"))
            .status,
        200);
    auto conn = Connect();
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    const std::string n = std::to_string(kRows);
    ASSERT_TRUE((*conn)
                    ->ExecScript(GetParam().dialect == db::Dialect::kPostgres
                                     ? "INSERT INTO big (body) SELECT md5(i::text) FROM "
                                       "generate_series(1, " +
                                           n + ") i; ANALYZE big;"
                                     : "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                                       "FROM c WHERE i < " +
                                           n +
                                           ") INSERT INTO big (body) "
                                           "SELECT hex(randomblob(16)) FROM c")
                    .ok());
  }
  void TearDown() override {
    if (node_) node_->Stop();
  }

  void Start(std::map<std::string, std::string> extra) {
    if (node_) ASSERT_EQ(node_->Stop(), 0);
    auto env = env_;
    for (auto& [k, v] : extra) env[k] = v;
    node_ = std::make_unique<Node>(NodeOptions{.storage = dir_.path() / "storage", .env = env});
    ASSERT_TRUE(node_->WaitHealthy(30s)) << node_->process().Stderr();
    api_ = std::make_unique<Api>(node_->port());
    ASSERT_EQ(api_->SignIn("admin@nocobase.com", "admin123").status, 200);
  }

  Result<std::unique_ptr<db::Connection>> Connect() {
    if (GetParam().dialect == db::Dialect::kPostgres) return db::OpenPostgres(pg_->options());
    return db::OpenSqlite({dir_.path() / "storage" / "db" / "slipway.sqlite"});
  }

  // How long a quick request waits behind whatever the node still does.
  std::chrono::milliseconds QuickRequest() {
    auto started = Clock::now();
    ApiResult r = api_->Get("big:get?filterByTk=1");
    EXPECT_EQ(r.status, 200) << r.body;
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  }

  TempDir dir_;
  std::optional<TestDatabase> pg_;
  std::map<std::string, std::string> env_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<Api> api_;
};

TEST_P(SlowListsTest, AStatementPastItsLimitAnswers503AndTheNodeServesOn) {
  ASSERT_NO_FATAL_FAILURE(Start({{"DB_STATEMENT_TIMEOUT", "1000"}}));
  auto started = Clock::now();
  ApiResult slow = api_->Get(SlowList());
  auto took = Clock::now() - started;
  EXPECT_EQ(slow.status, 503) << slow.body;
  EXPECT_EQ(slow.code(), "STATEMENT_TIMEOUT") << slow.body;
  EXPECT_NE(slow.message().find("DB_STATEMENT_TIMEOUT"), std::string::npos) << slow.body;
  EXPECT_EQ(slow.headers["retry-after"], "1");
  EXPECT_LT(took, 5s);
  EXPECT_LT(QuickRequest(), 1s);
  EXPECT_EQ(api_->Get("big:list?pageSize=5").status, 200);
}

TEST_P(SlowListsTest, AClientThatLeavesFreesItsConnection) {
  // The list runs for seconds (the test above shows it passes a second)...
  int fd = SendRaw(node_->port(), SlowList(), api_->token());
  ASSERT_GE(fd, 0);
  std::this_thread::sleep_for(500ms);
  // ...and when its client goes, its statement stops: the next request does not wait for it.
  ::close(fd);
  auto left = Clock::now();
  EXPECT_LT(QuickRequest(), 1s);
  if (GetParam().dialect == db::Dialect::kPostgres) {
    auto conn = Connect();
    ASSERT_TRUE(conn.ok());
    bool running = true;
    while (running && Clock::now() - left < 1s) {
      auto rs = (*conn)->Query(
          "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE "
          "'%FROM \"big\"%' AND pid <> pg_backend_pid()");
      ASSERT_TRUE(rs.ok());
      running = (*rs)->Int(0, 0) > 0;
      if (running) std::this_thread::sleep_for(20ms);
    }
    EXPECT_FALSE(running) << "the list's statement still ran a second after its client left"
                          << node_->process().Stdout() << node_->process().Stderr();
  }
}

TEST_P(SlowListsTest, SigtermDuringSlowListsEndsWithinTheGrace) {
  ASSERT_NO_FATAL_FAILURE(Start({{"DB_STATEMENT_TIMEOUT", "600000"}, {"SHUTDOWN_GRACE", "1500"}}));
  std::vector<int> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(SendRaw(node_->port(), SlowList(), api_->token()));
    ASSERT_GE(clients.back(), 0);
  }
  std::this_thread::sleep_for(500ms);
  auto signalled = Clock::now();
  int code = node_->Stop();
  auto took = Clock::now() - signalled;
  node_.reset();
  for (int fd : clients) ::close(fd);
  EXPECT_EQ(code, 0);
  // The grace, then the lists' statements interrupted and the node gone.
  EXPECT_LT(took, 1500ms + 3s)
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
}

INSTANTIATE_TEST_SUITE_P(Dialects, SlowListsTest, ::testing::ValuesIn(kSetups), SetupName);

}  // namespace
}  // namespace slipway::testing
