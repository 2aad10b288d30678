#include "api/api_handler.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>
#include <stdexcept>

#include "api/action_registry.h"
#include "core/fiber.h"
#include "data/ddl.h"
#include "db/sqlite/sqlite_connection.h"
#include "test_support.h"

namespace slipway::api {
namespace {

namespace json = boost::json;

// Services whose snowflake generator throws: a record create of a collection with a
// snowflakeId field reaches it from inside the action (on a worker, or in a fiber).
class ThrowingServices final : public Services {
 public:
  ThrowingServices(db::Pool& pool, std::shared_ptr<const Snapshot> snapshot)
      : pool_(pool), snapshot_(std::move(snapshot)) {}
  const core::Config& config() const override { return config_; }
  db::Pool& pool() override { return pool_; }
  Result<int64_t> NextSnowflake() override { throw std::runtime_error("the generator exploded"); }
  std::shared_ptr<const Snapshot> snapshot() const override { return snapshot_; }
  std::shared_ptr<void> HoldEpoch(int64_t) override { return nullptr; }
  Status ApplyChange(const ChangeOptions&, const ChangeFn&) override {
    return Internal("no changes in this test");
  }
  void CollectionChanged(std::string_view) override {}
  Status ReloadSnapshot() override { return Status::Ok(); }
  Status PublishSync(std::string_view, const json::value&) override { return Status::Ok(); }

 private:
  core::Config config_;
  db::Pool& pool_;
  std::shared_ptr<const Snapshot> snapshot_;
};

// Everyone is root; a request with the header x-throw makes the authenticator throw.
class TestAuthenticator final : public Authenticator {
 public:
  Result<CurrentUser> Authenticate(const http::Request& request, db::Connection&) override {
    if (!request.header("x-throw").empty()) throw std::runtime_error("authenticator exploded");
    return CurrentUser{1, "root", {"root"}};
  }
};

class ApiHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db::SqliteOptions options;
    options.path = dir_.path() / "test.sqlite";
    options.write_lock = std::make_shared<std::mutex>();
    // per_thread > 0: record actions run in fibers when the handler is called on a fiber thread.
    pool_ = std::make_unique<db::Pool>(
        db::Dialect::kSqlite, [options] { return db::OpenSqlite(options); }, 2, 1);
    auto things = data::ParseCollectionDefinition(
        json::parse(R"({"name":"things","fields":[{"name":"title","type":"string"},
                                                  {"name":"code","type":"snowflakeId"}]})")
            .as_object(),
        /*users_exists=*/false);
    ASSERT_TRUE(things.ok()) << things.status().ToString();
    std::map<std::string, std::shared_ptr<const data::Collection>> collections;
    collections["things"] = std::make_shared<const data::Collection>(*things);
    auto schema = std::make_shared<const data::Schema>(collections);
    {
      auto conn = pool_->Acquire();
      ASSERT_TRUE(conn.ok());
      auto ddl = data::CreateTableSql(*things, *schema, db::Dialect::kSqlite);
      ASSERT_TRUE(ddl.ok());
      for (const auto& sql : *ddl) ASSERT_TRUE((*conn)->ExecScript(sql).ok()) << sql;
    }
    auto registry = std::make_shared<ActionRegistry>();
    auto open = [](ActionFn fn, RunsOn where) {
      return Action{std::move(fn), where, Access::kOpen, "", /*safe=*/true};
    };
    registry->Add("test", "throws",
                  open(
                      [](ActionRequest&) -> Result<http::Response> {
                        throw std::runtime_error("the action exploded");
                      },
                      RunsOn::kWorker));
    registry->Add("test", "badResult",
                  open(
                      [](ActionRequest&) -> Result<http::Response> {
                        return http::Response::Json(
                            200, std::to_string(Result<int>(NotFound("missing")).value()));
                      },
                      RunsOn::kWorker));
    registry->Add("test", "ioThrows",
                  open(
                      [](ActionRequest&) -> Result<http::Response> {
                        throw std::runtime_error("the I/O action exploded");
                      },
                      RunsOn::kIoThread));
    registry->Add("test", "ok",
                  open(
                      [](ActionRequest&) -> Result<http::Response> {
                        return http::Response::Json(200, "{\"data\":1}");
                      },
                      RunsOn::kWorker));
    auto snap = std::make_shared<Snapshot>();
    snap->schema = schema;
    snap->actions = registry;
    snap->acl = std::make_shared<const AclPolicy>();
    snap->hooks = std::make_shared<const RecordHookSet>();
    snap->authenticator = std::make_shared<TestAuthenticator>();
    services_ = std::make_unique<ThrowingServices>(*pool_, snap);
    ASSERT_TRUE(lifecycle_.TransitionTo(AppState::kRunning).ok());
    handler_ = std::make_unique<ApiHandler>("/api/", lifecycle_, workers_, hashing_, *services_);
  }

  static http::Request Post(const std::string& path, std::string body = "",
                            std::vector<http::Header> extra = {}) {
    http::Request r;
    r.method = http::Method::kPost;
    r.method_text = "POST";
    r.target = r.path = path;
    r.headers = {{"host", "test"}, {"content-type", "application/json"}};
    for (auto& h : extra) r.headers.push_back(std::move(h));
    r.body = std::move(body);
    return r;
  }
  // Handles `request` on the calling thread (a fiber thread's, when `on` is given) and waits.
  http::Response Handle(http::Request request, fiber::FiberThread* on = nullptr) {
    auto answer = std::make_shared<std::promise<http::Response>>();
    auto future = answer->get_future();
    auto call = [&] {
      handler_->Handle(std::move(request), [answer](http::Response r) { answer->set_value(r); });
    };
    if (on != nullptr) {
      on->Call(call);
    } else {
      call();
    }
    return future.get();
  }
  void ExpectInternalError(const http::Response& r, const std::string& mentions) {
    EXPECT_EQ(r.status, 500) << r.body;
    json::value body = json::parse(r.body);
    EXPECT_EQ(body.at("errors").at(0).at("code"), "INTERNAL") << r.body;
    EXPECT_NE(r.body.find(mentions), std::string::npos) << r.body;
  }

  testing::TempDir dir_;
  std::unique_ptr<db::Pool> pool_;
  std::unique_ptr<ThrowingServices> services_;
  Lifecycle lifecycle_;
  core::ThreadPool workers_{"test-db", 1, 100};
  core::ThreadPool hashing_{"test-hash", 1, 10};
  std::unique_ptr<ApiHandler> handler_;
};

TEST_F(ApiHandlerTest, AnActionThatThrowsOnAWorkerIsA500AndTheNextRequestIsServed) {
  ExpectInternalError(Handle(Post("/api/test:throws")), "the action exploded");
  ExpectInternalError(Handle(Post("/api/test:badResult")), "missing");
  ExpectInternalError(Handle(Post("/api/test:ioThrows")), "the I/O action exploded");
  // The worker thread outlived them (a pool of one thread).
  EXPECT_EQ(Handle(Post("/api/test:ok")).status, 200);
}

TEST_F(ApiHandlerTest, AnActionThatThrowsInAFiberIsA500AndTheThreadServesOn) {
  fiber::FiberThread io;
  // A record create runs in a fiber here (per_thread > 0, a fiber thread); the snowflake id
  // generator it calls throws.
  ExpectInternalError(Handle(Post("/api/things:create", R"({"title":"x"})"), &io),
                      "the generator exploded");
  // So does plugin code that runs before the action, on the same path.
  ExpectInternalError(Handle(Post("/api/things:list", "", {{"x-throw", "1"}}), &io),
                      "authenticator exploded");
  EXPECT_EQ(Handle(Post("/api/things:list"), &io).status, 200);
  EXPECT_EQ(Handle(Post("/api/test:ok"), &io).status, 200);
}

}  // namespace
}  // namespace slipway::api
