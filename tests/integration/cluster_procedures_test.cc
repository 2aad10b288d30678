// `slipway cluster` for real (issue 15): a spec, three nodes on PostgreSQL and Redis, HAProxy (or
// nginx) started by the tool, clients reading and writing through the load balancer, upgrades to
// test builds of the next version (slipway-next; -broken, whose migration fails; -slow, whose
// migration takes 3 s), the tool killed with SIGKILL at each step and resumed. Assertions look at
// the database, the nodes and what clients saw, not only at exit codes.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "api_client.h"
#include "db/open.h"
#include "node.h"
#include "test_database.h"
#include "test_redis.h"

namespace slipway::testing {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// `n` consecutive ports that were free a moment ago, below the kernel's ephemeral range
// (32768..60999 here): the clients' own connections, many a second, take ephemeral ports, and
// a node started later (a scale) must still find its port free.
int FreePortRun(int n) {
  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> pick(20000, 32000 - n);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int base = pick(random);
    bool free = true;
    for (int i = 0; i < n && free; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(base + i));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      free = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
      ::close(fd);
    }
    if (free) return base;
  }
  return 0;
}

// What clients saw through the load balancer.
struct Traffic {
  std::atomic<int64_t> ok{0}, maintenance{0}, bad{0};
  std::mutex mu;
  std::vector<std::string> bad_examples;
  std::vector<std::string> acknowledged;  // titles whose create answered 200
};

// One cluster of a test, behind HAProxy unless a parameterized test says nginx.
class ClusterProceduresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = std::make_unique<TestDatabase>();
    ASSERT_TRUE(pg_->Create());
    ASSERT_TRUE(TestRedis::Shared().Start());
  }
  void TearDown() override {
    StopClients();
    if (!spec_.empty()) {
      RunResult r = Cluster({"down"}, 120s);
      EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    // Whatever a failed test left running.
    for (const fs::path dir : {dir_.path() / "state" / "run", dir_.path() / "state" / "lb"}) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (e.path().extension() != ".pid") continue;
        std::ifstream in(e.path());
        int pid = 0;
        if (in >> pid && pid > 0) ::kill(pid, SIGKILL);
      }
    }
  }

  std::string lb_kind() const { return kind_; }
  std::string kind_ = "haproxy";

  // Writes the spec: three web nodes, the load balancer, [verify] with `smoke` lines.
  void WriteSpec(const std::string& smoke = "") {
    // Three nodes, a fourth that `scale 4` adds, and the load balancer's port after them.
    node_port_ = FreePortRun(5);
    lb_port_ = node_port_ + 4;
    ASSERT_GT(node_port_, 0);
    const auto& o = pg_->options();
    spec_ = (dir_.path() / "cluster.toml").string();
    std::ofstream out(spec_);
    out << "[cluster]\nname = \"test\"\nstate_dir = \"state\"\nrelease = \"" << SLIPWAY_BIN
        << "\"\nstop_timeout_s = 30\n[env]\nDB_DIALECT = \"postgres\"\nDB_HOST = \"" << o.host
        << "\"\nDB_PORT = " << o.port << "\nDB_DATABASE = \"" << o.database << "\"\nDB_USER = \""
        << o.user << "\"\nDB_PASSWORD = \"" << o.password << "\"\nREDIS_URL = \""
        << TestRedis::Shared().url() << "\"\nAPP_KEY_FILE = \"app.key\"\n"
        << "[storage]\npath = \"storage\"\n[[nodes]]\nname = \"web\"\ncount = 3\nport = "
        << node_port_ << "\n[load_balancer]\nkind = \"" << lb_kind() << "\"\nport = " << lb_port_
        << "\n[verify]\ntimeout_s = 60\n"
        << smoke;
    std::ofstream(dir_.path() / "app.key") << "cluster-procedures-test-key-0123456789\n";
  }

  RunResult Cluster(std::vector<std::string> args, std::chrono::milliseconds timeout = 180s) {
    std::vector<std::string> argv{SLIPWAY_BIN, "cluster", "--spec", spec_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, {}, dir_.path() / "out", timeout);
  }

  // Up (or the step-by-step first start), signed in through the load balancer, with a
  // collection of `rows` rows.
  void UpWithData(int rows, const std::string& how = "up") {
    RunResult up = Cluster({how});
    ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
    api_ = std::make_unique<Api>(lb_port_);
    ASSERT_TRUE(WaitForHealth(lb_port_, 200, 20s));
    ASSERT_EQ(api_->SignIn("admin@nocobase.com", "admin123").status, 200);
    ASSERT_EQ(api_->Post("collections:create", json::parse(R"({"name":"posts","fields":[
                           {"name":"title","type":"string"}]})"))
                  .status,
              200);
    for (int i = 0; i < rows; ++i) {
      ASSERT_EQ(
          api_->Post("posts:create", json::object{{"title", "seed " + std::to_string(i)}}).status,
          200);
    }
  }

  // Writers and readers through the load balancer until StopClients.
  void StartClients(bool writers = true) {
    for (int c = writers ? 0 : 2; c < 4; ++c) {
      clients_.emplace_back([this, c] {
        Api api(lb_port_);
        api.set_token(api_->token());
        for (int n = 0; !stop_.load(); ++n) {
          const std::string title = "client " + std::to_string(c) + " " + std::to_string(n);
          ApiResult r = c < 2 ? api.Post("posts:create", json::object{{"title", title}})
                              : api.Get("posts:list?pageSize=5");
          if (r.status >= 200 && r.status < 300) {
            ++traffic_.ok;
            if (c < 2) {
              std::lock_guard lock(traffic_.mu);
              traffic_.acknowledged.push_back(title);
            }
          } else if (r.status == 503 && r.body.find("\"maintaining\":true") != std::string::npos) {
            ++traffic_.maintenance;
            std::this_thread::sleep_for(10ms);
          } else {
            ++traffic_.bad;
            std::lock_guard lock(traffic_.mu);
            if (traffic_.bad_examples.size() < 5) {
              traffic_.bad_examples.push_back(std::to_string(r.status) + " " +
                                              r.body.substr(0, 200));
            }
          }
        }
      });
    }
  }
  void StopClients() {
    stop_ = true;
    for (auto& t : clients_) t.join();
    clients_.clear();
  }

  // Every table's rows, as one checksum per table (Slipway's own bookkeeping of running nodes,
  // locks and tasks left out: it belongs to the running cluster, not to its data). With `text`,
  // the rows themselves (to show a difference).
  std::map<std::string, std::string> Checksums(bool text = false) {
    std::map<std::string, std::string> out;
    auto conn = db::OpenPostgres(pg_->options());
    EXPECT_TRUE(conn.ok());
    if (!conn.ok()) return out;
    auto tables = (*conn)->Query(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN "
        "('slipway_cluster', 'slipway_locks', 'slipway_nodes', 'slipway_tasks', "
        "'slipway_worker_ids') ORDER BY 1");
    EXPECT_TRUE(tables.ok());
    if (!tables.ok()) return out;
    for (int i = 0; i < (*tables)->row_count(); ++i) {
      const std::string t((*tables)->Text(i, 0));
      // When each migration was applied, and when the registry wrote a collection's or a
      // plugin's row, are the database's own history: a restore writes them anew (what is
      // compared there is everything else).
      std::string rows = "SELECT * FROM \"" + t + "\"";
      if (t == "slipway_migrations") rows = "SELECT owner, version, name FROM slipway_migrations";
      if (t == "slipway_collections" || t == "slipway_fields" || t == "slipway_plugins") {
        rows = "SELECT to_jsonb(x) - 'created_at' - 'updated_at' FROM \"" + t + "\" x";
      }
      const std::string agg = "coalesce(string_agg(r::text, '\n' ORDER BY r::text), '')";
      auto sum =
          (*conn)->Query("SELECT " + (text ? agg : "md5(" + agg + ")") + " FROM (" + rows + ") r");
      EXPECT_TRUE(sum.ok()) << t;
      if (sum.ok()) out[t] = std::string((*sum)->Text(0, 0));
    }
    return out;
  }

  json::object Status() {
    RunResult r = Cluster({"status", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    boost::system::error_code ec;
    json::value v = json::parse(r.out, ec);
    return ec || !v.is_object() ? json::object{} : v.as_object();
  }

  // Every node ready and serving `version`; the load balancer serving (maintenance off).
  void ExpectServing(const std::string& version) {
    json::object s = Status();
    ASSERT_TRUE(s.contains("nodes")) << json::serialize(s);
    for (const json::value& n : s.at("nodes").as_array()) {
      EXPECT_EQ(n.at("state"), "ready") << json::serialize(n);
      Api node(static_cast<int>(n.at("port").as_int64()));
      ApiResult info = node.Get("app:getInfo");
      ASSERT_EQ(info.status, 200) << info.body;
      EXPECT_EQ(info.data().at("version").as_string(), version) << json::serialize(n);
    }
    EXPECT_EQ(s.at("version").as_string(), version);
    EXPECT_FALSE(s.at("loadBalancer").at("maintenance").as_bool());
    ApiResult through = Api(lb_port_).Get("app:getInfo");
    ASSERT_EQ(through.status, 200) << through.body;
    EXPECT_EQ(through.data().at("version").as_string(), version);
  }

  int64_t Posts() {
    ApiResult r = api_->Get("posts:list?pageSize=1");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.json.at("meta").at("count").as_int64() : -1;
  }

  fs::path Journal(const std::string& kind) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_.path() / "state" / "journals", ec)) {
      if (e.path().filename().string().find("-" + kind + "-") != std::string::npos) {
        return e.path();
      }
    }
    return {};
  }

  TempDir dir_;
  std::unique_ptr<TestDatabase> pg_;
  std::string spec_;
  int node_port_ = 0, lb_port_ = 0;
  std::unique_ptr<Api> api_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> clients_;
  Traffic traffic_;
};

// The tests that run behind each load balancer.
class ClusterBehindEachBalancer : public ClusterProceduresTest,
                                  public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    kind_ = GetParam();
    ClusterProceduresTest::SetUp();
  }
};

// The seed's upgrade under load: clients see 2xx or the maintenance page, nothing else; every
// acknowledged write is there after; every node serves the new version.
TEST_P(ClusterBehindEachBalancer, AnUpgradeUnderLoadLosesNoWriteAndShowsOnlyTheMaintenancePage) {
  ASSERT_NO_FATAL_FAILURE(WriteSpec());
  ASSERT_NO_FATAL_FAILURE(UpWithData(20));
  RunResult plan = Cluster({"upgrade", "--to", SLIPWAY_NEXT_BIN, "--plan"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_NE(plan.out.find("4. backup"), std::string::npos) << plan.out;
  EXPECT_TRUE(Journal("upgrade").empty()) << "--plan did something";

  StartClients();
  std::this_thread::sleep_for(1s);
  RunResult up = Cluster({"upgrade", "--to", SLIPWAY_NEXT_BIN});
  std::this_thread::sleep_for(1s);
  StopClients();
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  EXPECT_NE(up.out.find(": succeeded"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("downtime seen through the load balancer"), std::string::npos) << up.out;

  std::string why;
  for (const auto& s : traffic_.bad_examples) why += "\n  " + s;
  EXPECT_EQ(traffic_.bad.load(), 0) << why;
  EXPECT_GT(traffic_.maintenance.load(), 0) << "no client saw the maintenance page";
  EXPECT_GT(traffic_.ok.load(), 20);
  ExpectServing(SLIPWAY_NEXT_VERSION);

  // Every acknowledged write is there.
  auto conn = db::OpenPostgres(pg_->options());
  ASSERT_TRUE(conn.ok());
  auto titles = (*conn)->Query("SELECT title FROM posts");
  ASSERT_TRUE(titles.ok());
  std::set<std::string> present;
  for (int i = 0; i < (*titles)->row_count(); ++i) present.emplace((*titles)->Text(i, 0));
  int64_t missing = 0;
  for (const std::string& t : traffic_.acknowledged) missing += present.count(t) ? 0 : 1;
  EXPECT_EQ(missing, 0) << "of " << traffic_.acknowledged.size() << " acknowledged writes";
  EXPECT_GT(traffic_.acknowledged.size(), 10u);
  // The next version's migration ran once.
  auto marker = (*conn)->Query("SELECT count(*) FROM upgrade_marker");
  ASSERT_TRUE(marker.ok());
  EXPECT_EQ((*marker)->Int(0, 0), 1);
}

// A migration that fails, and one that succeeds but fails verification: both roll back by
// themselves; every table is as it was and the previous version serves.
TEST_F(ClusterProceduresTest, AFailedMigrationOrVerificationRollsBackToTheSameData) {
  // slipway-next has no collection named upgrade_marker: the smoke request fails there.
  ASSERT_NO_FATAL_FAILURE(
      WriteSpec("[[verify.smoke]]\npath = \"/api/upgrade_marker:list\"\nstatus = 200\n"));
  ASSERT_NO_FATAL_FAILURE(UpWithData(30));
  const auto before = Checksums();
  const auto before_rows = Checksums(true);
  ASSERT_TRUE(before.count("posts"));
  // Readers through the load balancer the whole time (writes would change what is compared).
  StartClients(/*writers=*/false);
  for (const char* to : {SLIPWAY_BROKEN_BIN, SLIPWAY_NEXT_BIN}) {
    SCOPED_TRACE(to);
    RunResult r = Cluster({"upgrade", "--to", to});
    EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
    EXPECT_NE(r.out.find(": rolled-back"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(to == std::string(SLIPWAY_BROKEN_BIN) ? "9002-broken" : "smoke request"),
              std::string::npos)
        << r.out;
    const auto after = Checksums();
    for (const auto& [table, sum] : before) {
      EXPECT_EQ(after.count(table) ? after.at(table) : "(gone)", sum)
          << table << " before:\n"
          << before_rows.at(table) << "\nafter:\n"
          << Checksums(true)[table];
    }
    for (const auto& [table, sum] : after) EXPECT_TRUE(before.count(table)) << "new: " << table;
    ExpectServing(SLIPWAY_VERSION);
    EXPECT_EQ(Posts(), 30);
  }
  StopClients();
  std::string why;
  for (const auto& b : traffic_.bad_examples) why += "\n  " + b;
  EXPECT_EQ(traffic_.bad.load(), 0) << why;
  EXPECT_GT(traffic_.maintenance.load(), 0);
}

// The tool killed with SIGKILL in each step in turn, then `resume`: the cluster serves one
// version everywhere, every row there.
TEST_F(ClusterProceduresTest, KilledInAnyStepResumeEndsWithOneVersionServing) {
  const int only = std::getenv("KILL_STEP") ? std::atoi(std::getenv("KILL_STEP")) : -1;
  for (int step = 0; step < 8; ++step) {
    if (only >= 0 && step != only) continue;
    SCOPED_TRACE("killed in step " + std::to_string(step + 1));
    if (!spec_.empty()) {
      // A fresh cluster for each kill: the last one's nodes, database and state away.
      RunResult down = Cluster({"down"});
      ASSERT_EQ(down.exit_code, 0) << down.out << down.err;
      std::error_code ec;
      fs::remove_all(dir_.path() / "state", ec);
      fs::remove_all(dir_.path() / "storage", ec);
      pg_ = std::make_unique<TestDatabase>();
      ASSERT_TRUE(pg_->Create());
    }
    ASSERT_NO_FATAL_FAILURE(WriteSpec());
    ASSERT_NO_FATAL_FAILURE(UpWithData(10));
    traffic_.acknowledged.clear();
    stop_ = false;
    StartClients();
    Process tool({SLIPWAY_BIN, "cluster", "--spec", spec_, "upgrade", "--to", SLIPWAY_SLOW_BIN}, {},
                 dir_.path() / "out", "upgrade-" + std::to_string(step));
    // Killed as soon as the step has begun.
    const std::string begun = "{\"event\":\"begin\",\"step\":" + std::to_string(step) + ",";
    bool seen = false;
    for (int i = 0; i < 3000 && !seen; ++i) {
      fs::path journal = Journal("upgrade");
      seen = !journal.empty() && ReadFile(journal).find(begun) != std::string::npos;
      if (!seen) std::this_thread::sleep_for(5ms);
    }
    ASSERT_TRUE(seen) << tool.Stdout() << tool.Stderr();
    tool.Signal(SIGKILL);
    tool.Wait();
    RunResult resumed = Cluster({"resume"});
    SCOPED_TRACE("the killed run:\n" + tool.Stdout() + "\nresume:\n" + resumed.out + resumed.err);
    // Continued (0) or rolled back (5), never half.
    EXPECT_TRUE(resumed.exit_code == 0 || resumed.exit_code == 5) << resumed.out << resumed.err;
    json::object s = Status();
    const std::string version(s.at("version").as_string());
    EXPECT_TRUE(version == SLIPWAY_VERSION || version == SLIPWAY_NEXT_VERSION) << version;
    ExpectServing(version);
    StopClients();
    std::string why;
    for (const auto& b : traffic_.bad_examples) why += "\n  " + b;
    EXPECT_EQ(traffic_.bad.load(), 0) << why;
    api_ = std::make_unique<Api>(lb_port_);
    ASSERT_EQ(api_->SignIn("admin@nocobase.com", "admin123").status, 200);
    // Every write acknowledged before the maintenance page is there after.
    EXPECT_EQ(Posts(), 10 + static_cast<int64_t>(traffic_.acknowledged.size()));
    RunResult again = Cluster({"resume"});
    EXPECT_NE(again.exit_code, 0) << "nothing is left to resume";
    EXPECT_NE(again.err.find("no interrupted procedure"), std::string::npos) << again.err;
  }
}

// A second procedure while one runs is refused, naming the first.
TEST_F(ClusterProceduresTest, ASecondUpgradeDuringTheFirstIsRefused) {
  ASSERT_NO_FATAL_FAILURE(WriteSpec());
  ASSERT_NO_FATAL_FAILURE(UpWithData(5));
  Process first({SLIPWAY_BIN, "cluster", "--spec", spec_, "upgrade", "--to", SLIPWAY_SLOW_BIN}, {},
                dir_.path() / "out", "first");
  bool migrating = false;
  for (int i = 0; i < 3000 && !migrating; ++i) {
    fs::path journal = Journal("upgrade");
    migrating = !journal.empty() &&
                ReadFile(journal).find("{\"event\":\"begin\",\"step\":5,") != std::string::npos;
    if (!migrating) std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(migrating) << first.Stdout();
  // Within the 3 s the first one's migration takes: what status shows, and a second upgrade.
  json::object status = Status();
  ASSERT_TRUE(status.contains("procedure")) << json::serialize(status);
  EXPECT_EQ(status.at("procedure").at("state"), "running") << json::serialize(status);
  EXPECT_EQ(status.at("procedure").at("kind"), "upgrade");
  RunResult second = Cluster({"upgrade", "--to", SLIPWAY_NEXT_BIN});
  EXPECT_EQ(second.exit_code, 3) << second.out << second.err;
  EXPECT_NE(second.err.find("upgrade"), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("in progress"), std::string::npos) << second.err;
  EXPECT_EQ(first.Wait(120s), 0) << first.Stdout() << first.Stderr();
  ExpectServing(SLIPWAY_NEXT_VERSION);
}

// Everything else `slipway cluster` does, under load: the seed's first start, a rolling restart,
// scaling up and down, the seed's scale-down for in-app maintenance and back. No client sees an
// error or the maintenance page.
TEST_P(ClusterBehindEachBalancer, StartRestartScaleAndMaintainCostNoClientAnError) {
  ASSERT_NO_FATAL_FAILURE(WriteSpec());
  ASSERT_NO_FATAL_FAILURE(UpWithData(5, "start"));
  StartClients();
  auto ready = [this] {
    std::vector<std::string> ids;
    const json::object status = Status();
    for (const json::value& n : status.at("nodes").as_array()) {
      if (n.at("state") == "ready") ids.emplace_back(n.at("id").as_string());
    }
    return ids;
  };
  using Ids = std::vector<std::string>;
  RunResult r = Cluster({"restart"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(ready(), (Ids{"web-1", "web-2", "web-3"}));

  r = Cluster({"scale", "4"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(ready(), (Ids{"web-1", "web-2", "web-3", "web-4"}));
  json::object lb = Status().at("loadBalancer").as_object();
  EXPECT_TRUE(lb.at("servers").as_object().contains("web-4")) << json::serialize(lb);

  r = Cluster({"scale", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(ready(), (Ids{"web-1", "web-2"}));

  r = Cluster({"maintain", "begin"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("needs no scale-down"), std::string::npos) << r.out;
  EXPECT_EQ(ready(), (Ids{"web-1"}));
  r = Cluster({"maintain", "end"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(ready(), (Ids{"web-1", "web-2"}));
  std::this_thread::sleep_for(500ms);
  StopClients();

  std::string why;
  for (const auto& s : traffic_.bad_examples) why += "\n  " + s;
  EXPECT_EQ(traffic_.bad.load(), 0) << why;
  EXPECT_EQ(traffic_.maintenance.load(), 0);
  EXPECT_GT(traffic_.ok.load(), 100);
  // The logs of a node, and the procedures' own log.
  RunResult logs = Cluster({"logs", "web-1", "-n", "5"});
  EXPECT_EQ(logs.exit_code, 0);
  EXPECT_NE(logs.out.find("[web-1 "), std::string::npos) << logs.out;
  EXPECT_NE(ReadFile(dir_.path() / "state" / "logs" / "procedures.log").find("maintain-end"),
            std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(LoadBalancers, ClusterBehindEachBalancer,
                         ::testing::Values("haproxy", "nginx"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace slipway::testing
