// Security behaviour that changes data, so it cannot live in the hostile suite (which asserts that
// nothing changes): password changes and re-hashing, profile changes, a relation on an existing
// field, and record requests during a flood of sign-ins. Each on SQLite and PostgreSQL.
#include <gtest/gtest.h>
#include <sodium.h>

#include <atomic>
#include <boost/json.hpp>
#include <thread>

#include "api_client.h"
#include "db/postgres/postgres_connection.h"
#include "db/sqlite/sqlite_connection.h"
#include "node.h"
#include "test_database.h"

namespace slipway::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

template <typename O>
db::PostgresOptions PostgresOptionsOf(const O& o) {
  db::PostgresOptions out;
  out.host = o.host;
  out.port = static_cast<uint16_t>(o.port);
  out.database = o.database;
  out.user = o.user;
  out.password = o.password;
  return out;
}

class SecurityTest : public ::testing::TestWithParam<db::Dialect> {
 protected:
  void SetUp() override {
    env_ = {{"APP_KEY", "security-test-key-0123456789abcdef0123"}};
    if (GetParam() == db::Dialect::kPostgres) {
      pg_.emplace();
      ASSERT_TRUE(pg_->Create());
      env_.merge(PostgresEnv(pg_->options()));
    }
  }
  void Start(std::map<std::string, std::string> extra = {}) {
    auto env = env_;
    for (auto& [k, v] : extra) env[k] = v;
    node_ = std::make_unique<Node>(NodeOptions{.storage = dir_.path() / "storage", .env = env});
    ASSERT_TRUE(node_->WaitHealthy(30s)) << node_->process().Stderr();
    root_ = std::make_unique<Api>(node_->port());
    ASSERT_EQ(root_->SignIn("admin@nocobase.com", "admin123").status, 200);
  }
  void TearDown() override {
    if (node_) {
      EXPECT_EQ(node_->Stop(), 0);
    }
  }
  // A connection to the node's database, beside the node.
  std::unique_ptr<db::Connection> Database() {
    Result<std::unique_ptr<db::Connection>> conn =
        GetParam() == db::Dialect::kPostgres
            ? db::OpenPostgres(PostgresOptionsOf(pg_->options()))
            : db::OpenSqlite({dir_.path() / "storage" / "db" / "slipway.sqlite"});
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    return conn.ok() ? std::move(conn).value() : nullptr;
  }
  int64_t CreateUser(const std::string& email, const std::string& password) {
    ApiResult r =
        root_->Post("users:create", json::object{{"email", email}, {"password", password}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.data().at("id").as_int64() : 0;
  }

  TempDir dir_;
  std::map<std::string, std::string> env_;
  std::optional<TestDatabase> pg_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<Api> root_;
};

TEST_P(SecurityTest, AUserChangesItsOwnProfileAndPasswordAndNothingElse) {
  Start();
  int64_t id = CreateUser("ann@x.com", "first-pw-1");
  Api ann(node_->port()), ann_elsewhere(node_->port());
  ASSERT_EQ(ann.SignIn("ann@x.com", "first-pw-1").status, 200);
  ASSERT_EQ(ann_elsewhere.SignIn("ann@x.com", "first-pw-1").status, 200);

  ApiResult profile = ann.Post("users:updateProfile", json::parse(R"({"nickname":"Ann"})"));
  ASSERT_EQ(profile.status, 200) << profile.body;
  EXPECT_EQ(root_->Get("users:get?filterByTk=" + std::to_string(id)).data().at("nickname"), "Ann");
  EXPECT_EQ(ann.Post("users:updateProfile", json::parse(R"({"password":"x"})")).status, 403);

  ApiResult changed = ann.Post(
      "auth:changePassword", json::parse(R"({"oldPassword":"first-pw-1","newPassword":"second-pw-2",
                                               "confirmPassword":"second-pw-2"})"));
  ASSERT_EQ(changed.status, 200) << changed.body;
  // Every session that began before the change is over, on this node and (after the cache's few
  // seconds) on the others.
  ApiResult old_session = ann_elsewhere.Get("auth:check");
  EXPECT_EQ(old_session.status, 401);
  EXPECT_EQ(old_session.code(), "INVALID_TOKEN");
  EXPECT_EQ(ann.SignIn("ann@x.com", "first-pw-1").status, 401);
  ASSERT_EQ(ann.SignIn("ann@x.com", "second-pw-2").status, 200);
  EXPECT_EQ(ann.Get("auth:check").status, 200);
}

TEST_P(SecurityTest, PasswordsHashedWithOlderParametersAreRehashedAtSignIn) {
  Start();
  int64_t id = CreateUser("old@x.com", "old-params-pw");
  {
    auto db = Database();
    ASSERT_NE(db, nullptr);
    // What Slipway stored before it followed OWASP's parameters (libsodium INTERACTIVE, 64 MiB).
    char interactive[crypto_pwhash_STRBYTES];
    ASSERT_EQ(
        crypto_pwhash_str(interactive, "old-params-pw", 13, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE),
        0);
    ASSERT_TRUE(db->Exec("UPDATE \"users\" SET \"password\" = $1 WHERE \"id\" = $2",
                         {std::string(interactive), id})
                    .ok());
  }
  Api user(node_->port());
  ASSERT_EQ(user.SignIn("old@x.com", "old-params-pw").status, 200);
  auto db = Database();
  ASSERT_NE(db, nullptr);
  auto rs = db->Query("SELECT \"password\" FROM \"users\" WHERE \"id\" = $1", {id});
  ASSERT_TRUE(rs.ok()) << rs.status().ToString();
  EXPECT_EQ(std::string((*rs)->Text(0, 0)).rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u)
      << (*rs)->Text(0, 0);
  Api again(node_->port());
  EXPECT_EQ(again.SignIn("old@x.com", "old-params-pw").status, 200);
}

TEST_P(SecurityTest, ARelationOnAnExistingFieldLeavesTheFieldWhenItIsRemoved) {
  Start();
  ASSERT_EQ(root_
                ->Post("collections:create", json::parse(R"({"name":"owners","fields":[
                           {"name":"name","type":"string"}]})"))
                .status,
            200);
  ASSERT_EQ(root_
                ->Post("collections:create", json::parse(R"({"name":"pets","fields":[
                           {"name":"ownerRef","type":"bigInt"}]})"))
                .status,
            200);
  ASSERT_EQ(root_->Post("owners:create", json::parse(R"({"name":"Ola"})")).status, 200);
  ASSERT_EQ(root_->Post("pets:create", json::parse(R"({"ownerRef":1})")).status, 200);
  ApiResult rel = root_->Post("collections/pets/fields:create",
                              json::parse(R"({"name":"owner","type":"belongsTo","target":"owners",
                                              "foreignKey":"ownerRef"})"));
  ASSERT_EQ(rel.status, 200) << rel.body;
  EXPECT_EQ(root_->Get("pets:get?filterByTk=1&appends=owner").data().at("owner").at("name"), "Ola");
  ASSERT_EQ(root_->Post("collections/pets/fields:destroy?filterByTk=owner").status, 200);
  ApiResult pet = root_->Get("pets:get?filterByTk=1");
  ASSERT_EQ(pet.status, 200) << pet.body;
  EXPECT_EQ(pet.data().at("ownerRef").as_int64(), 1);  // the field and its value were kept
}

TEST_P(SecurityTest, RecordsAreServedDuringAFloodOfSignIns) {
  // Failed sign-ins from everywhere, as many as the node will take: the limits are lifted so
  // that every attempt costs a hash.
  Start(
      {{"AUTH_MAX_FAILURES_PER_ACCOUNT", "1000000"}, {"AUTH_MAX_FAILURES_PER_ADDRESS", "1000000"}});
  ASSERT_EQ(root_
                ->Post("collections:create", json::parse(R"({"name":"notes","fields":[
                           {"name":"text","type":"string"}]})"))
                .status,
            200);
  ASSERT_EQ(root_->Post("notes:create", json::parse(R"({"text":"hello"})")).status, 200);
  std::atomic<bool> stop{false};
  std::atomic<int> signed_in{0}, busy{0}, refused{0}, other{0};
  std::vector<std::thread> flood;
  for (int t = 0; t < 32; ++t) {
    flood.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        bool right = (i + t) % 4 == 0;
        HttpResult r =
            HttpRequest(node_->port(), "POST", "/api/auth:signIn",
                        json::serialize(json::object{{"account", "admin@nocobase.com"},
                                                     {"password", right ? "admin123" : "wrong"}}));
        if (r.status == 200) {
          ++signed_in;
        } else if (r.status == 503) {
          ++busy;
        } else if (r.status == 401) {
          ++refused;
        } else {
          ++other;
        }
      }
    });
  }
  int reads = 0, failed_reads = 0;
  for (auto until = std::chrono::steady_clock::now() + 3s;
       std::chrono::steady_clock::now() < until;) {
    ApiResult r = root_->Get("notes:get?filterByTk=1");
    ++reads;
    if (r.status != 200) ++failed_reads;
  }
  stop = true;
  for (auto& t : flood) t.join();
  EXPECT_EQ(failed_reads, 0) << "of " << reads << " reads";
  EXPECT_GT(signed_in.load(), 0);
  EXPECT_GT(refused.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(HttpGet(node_->port(), "/api/__health_check").status, 200);
}

INSTANTIATE_TEST_SUITE_P(Dialects, SecurityTest, ::testing::ValuesIn(kAllDialects),
                         DialectTestName);

}  // namespace
}  // namespace slipway::testing
