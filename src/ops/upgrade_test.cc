// The upgrade procedure's decisions (ops/upgrade.h) against an in-memory cluster: the order of
// what it asks of the orchestrator and the load balancer, the rollback when the migration or
// the verification fails, and resume after the tool was killed after any journal entry.
#include "ops/upgrade.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "test_support.h"

namespace slipway::ops {
namespace {

namespace json = boost::json;

// An in-memory cluster: releases with versions, nodes, a database with a version and rows, a
// load balancer; every call logged.
class FakeCluster final : public Orchestrator, public LoadBalancer, public ClusterProbe {
 public:
  std::recursive_mutex mu;  // nodes are stopped at once
  std::vector<std::string> log;
  std::string release = "/r/1.0", db_version = "1.0.0";
  std::map<std::string, int64_t> rows{{"posts", 10}, {"users", 2}};
  std::set<std::string> running{"web-1", "web-2", "worker-1"};
  std::set<std::string> enabled{"web-1", "web-2"};
  bool maintenance = false;
  std::map<std::string, json::object> backups;
  std::string broken_migration;  // a release whose migration fails
  std::string loses_rows;        // a release that migrates but loses a row

  std::string VersionFor(const std::string& r) const { return r == "/r/1.0" ? "1.0.0" : "2.0.0"; }

  Result<std::string> Release() override { return release; }
  Status UseRelease(const std::string& r) override {
    log.push_back("use " + r);
    release = r;
    return Status::Ok();
  }
  Result<std::string> VersionOf(const std::string& r) override { return VersionFor(r); }
  Status Start(const std::string& node) override {
    std::lock_guard<std::recursive_mutex> lock(mu);
    log.push_back("start " + node);
    if (running.count(node)) return Status::Ok();
    const std::string v = VersionFor(release);
    if (v != db_version) {
      if (v < db_version) return FailedPrecondition("the database is newer than " + v);
      if (release == broken_migration) return Internal("migration 0042 failed");
      db_version = v;  // it migrates
      if (release == loses_rows) --rows["posts"];
    }
    running.insert(node);
    return Status::Ok();
  }
  Status Stop(const std::string& node) override {
    std::lock_guard<std::recursive_mutex> lock(mu);
    log.push_back("stop " + node);
    running.erase(node);
    return Status::Ok();
  }
  Result<std::vector<NodeStatus>> Nodes() override {
    std::vector<NodeStatus> out;
    for (const char* id : {"web-1", "web-2", "worker-1"}) {
      out.push_back({id, running.count(id) > 0, running.count(id) > 0});
    }
    return out;
  }
  Result<json::object> Backup(const std::string& r, const std::string& path) override {
    log.push_back("backup by " + r);
    if (!running.empty()) return FailedPrecondition("nodes are running");
    json::object counts;
    for (const auto& [c, n] : rows) counts[c] = n;
    backups[path] = json::object{{"version", db_version}, {"counts", counts}};
    return json::object{{"rowCounts", counts}};
  }
  Status Restore(const std::string& r, const std::string& path) override {
    log.push_back("restore by " + r);
    if (!running.empty()) return FailedPrecondition("nodes are running");
    auto it = backups.find(path);
    if (it == backups.end()) return NotFound("no backup " + path);
    db_version = std::string(it->second.at("version").as_string());
    for (const auto& [c, n] : it->second.at("counts").as_object())
      rows[std::string(c)] = n.as_int64();
    return Status::Ok();
  }
  Status Up(const std::vector<ClusterNode>&) override {
    log.push_back("lb up");
    return Status::Ok();
  }
  Status Down() override {
    log.push_back("lb down");
    return Status::Ok();
  }
  Result<json::object> Describe() override { return json::object{{"kind", "fake"}}; }
  Status SetMaintenance(bool on) override {
    log.push_back(on ? "maintenance on" : "maintenance off");
    maintenance = on;
    return Status::Ok();
  }
  Status Drain(const std::string& node) override {
    std::lock_guard<std::recursive_mutex> lock(mu);
    log.push_back("drain " + node);
    enabled.erase(node);
    return Status::Ok();
  }
  Status Enable(const std::string& node) override {
    std::lock_guard<std::recursive_mutex> lock(mu);
    log.push_back("enable " + node);
    enabled.insert(node);
    return Status::Ok();
  }
  Result<json::object> Observe(const std::string& node, bool) override {
    if (!running.count(node)) return Unavailable(node + " is not running");
    json::object counts;
    for (const auto& [c, n] : rows) counts[c] = n;
    return json::object{{"version", db_version},
                        {"plugins", json::object{{"users", db_version}}},
                        {"counts", counts}};
  }
  Status Smoke(const std::string& node, const std::vector<SmokeRequest>&) override {
    log.push_back("smoke " + node);
    return Status::Ok();
  }

  // Everything serving as it was, or everything serving the new version: never a mix.
  std::string Consistent() const {
    if (maintenance) return "maintenance still on";
    if (running.size() != 3) return "not every node runs";
    if (enabled != std::set<std::string>{"web-1", "web-2"}) return "not every web node enabled";
    if (VersionFor(release) != db_version) return "release and database disagree";
    if (rows.at("posts") != 10) return "rows lost";
    return "";
  }
};

ClusterSpec Spec(const std::filesystem::path& dir) {
  auto spec = ParseClusterSpec(R"(
[cluster]
release = "/r/1.0"
[[nodes]]
name = "web"
count = 2
port = 14001
[[nodes]]
name = "worker"
port = 14101
worker_mode = "*"
[load_balancer]
kind = "haproxy"
port = 14000
)",
                               dir);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return *spec;
}

TEST(Upgrade, StepsInTheSeedsOrderAndEveryNodeOnTheNewVersion) {
  testing::TempDir dir;
  FakeCluster c;
  ClusterSpec spec = Spec(dir.path());
  ProcedureEngine engine(dir.path() / "state", nullptr);
  auto out = engine.Run(BuildUpgrade(spec, {c, &c, c}, "/r/2.0"));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_TRUE(out->ok()) << out->failed_step << ": " << out->error;
  // Every node drained, then all stopped at once (in any order).
  // Nodes are stopped, started and enabled at once: within each group, any order.
  std::sort(c.log.begin() + 3, c.log.begin() + 6);
  std::sort(c.log.begin() + 10, c.log.begin() + 13);
  std::sort(c.log.begin() + 13, c.log.begin() + 15);
  EXPECT_EQ(c.log, (std::vector<std::string>{
                       "maintenance on", "drain web-1", "drain web-2", "stop web-1", "stop web-2",
                       "stop worker-1", "backup by /r/1.0", "use /r/2.0", "start web-1",
                       "smoke web-1", "start web-1", "start web-2", "start worker-1",
                       "enable web-1", "enable web-2", "maintenance off"}));
  EXPECT_EQ(c.db_version, "2.0.0");
  EXPECT_EQ(c.Consistent(), "");
  EXPECT_EQ(out->state.at("previousRelease"), "/r/1.0");
}

TEST(Upgrade, AFailedMigrationOrVerificationRollsBackToThePreviousVersion) {
  for (bool verification : {false, true}) {
    testing::TempDir dir;
    FakeCluster c;
    (verification ? c.loses_rows : c.broken_migration) = "/r/2.0";
    ClusterSpec spec = Spec(dir.path());
    ProcedureEngine engine(dir.path() / "state", nullptr);
    auto out = engine.Run(BuildUpgrade(spec, {c, &c, c}, "/r/2.0"));
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->outcome, "rolled-back") << verification;
    EXPECT_EQ(out->failed_step, "start-first");
    EXPECT_NE(out->error.find(verification ? "had 10 rows and has 9" : "migration 0042 failed"),
              std::string::npos)
        << out->error;
    EXPECT_EQ(c.release, "/r/1.0");
    EXPECT_EQ(c.db_version, "1.0.0");
    EXPECT_EQ(c.Consistent(), "") << verification;
    // The seed's rollback order: the new node stopped, the backup restored by the previous
    // release, the previous release back, the nodes started, the load balancer back.
    std::vector<std::string> tail(c.log.end() - 9, c.log.end());
    std::sort(tail.begin() + 3, tail.begin() + 6);  // started at once
    std::sort(tail.begin() + 6, tail.begin() + 8);  // enabled at once
    EXPECT_EQ(tail, (std::vector<std::string>{"stop web-1", "restore by /r/1.0", "use /r/1.0",
                                              "start web-1", "start web-2", "start worker-1",
                                              "enable web-1", "enable web-2", "maintenance off"}))
        << verification;
  }
}

TEST(Upgrade, KilledAfterAnyJournalEntryResumeLeavesOneVersionServing) {
  for (bool failing : {false, true}) {
    for (int kill = 1; kill < 40; ++kill) {
      testing::TempDir dir;
      FakeCluster c;
      if (failing) c.loses_rows = "/r/2.0";
      ClusterSpec spec = Spec(dir.path());
      ProcedureEngine engine(dir.path() / "state", nullptr);
      engine.set_kill_after_entries(kill);
      auto out = engine.Run(BuildUpgrade(spec, {c, &c, c}, "/r/2.0"));
      if (out.ok()) break;  // the run ended before that entry
      ASSERT_EQ(out.status().tag(), "KILLED");
      ProcedureEngine after(dir.path() / "state", nullptr);
      auto resumed = after.Resume([&](const std::string& kind, const json::object& params) {
        EXPECT_EQ(kind, "upgrade");
        return Result<Procedure>(
            BuildUpgrade(spec, {c, &c, c}, std::string(params.at("to").as_string())));
      });
      // Killed after the journal's last entry, the procedure had ended: nothing to resume.
      ASSERT_TRUE(resumed.ok() || resumed.status().tag() == "NOTHING_TO_RESUME")
          << resumed.status().ToString();
      EXPECT_EQ(c.Consistent(), "") << "failing " << failing << ", killed after entry " << kill;
      EXPECT_EQ(c.db_version, failing ? "1.0.0" : "2.0.0") << kill;
    }
  }
}

TEST(Upgrade, CompareObservationsNamesTheFirstDifference) {
  const json::object before =
      json::parse(
          R"({"version":"1.0.0","plugins":{"acl":"1.0.0","hello":"2.0.0"},"counts":{"posts":3}})")
          .as_object();
  json::object after = before;
  after["version"] = "2.0.0";
  EXPECT_TRUE(CompareObservations(before, after, "2.0.0").ok());
  EXPECT_EQ(CompareObservations(before, after, "2.1.0").tag(), "VERIFY_VERSION");
  json::object older = after;
  older["plugins"].as_object()["hello"] = "1.9.0";
  EXPECT_EQ(CompareObservations(before, older, "2.0.0").tag(), "VERIFY_PLUGINS");
  json::object gone = after;
  gone["plugins"].as_object().erase("acl");
  EXPECT_EQ(CompareObservations(before, gone, "2.0.0").tag(), "VERIFY_PLUGINS");
  json::object fewer = after;
  fewer["counts"].as_object()["posts"] = 2;
  EXPECT_EQ(CompareObservations(before, fewer, "2.0.0").tag(), "VERIFY_COUNTS");
  json::object unreadable = after;
  unreadable["counts"].as_object().erase("posts");
  EXPECT_EQ(CompareObservations(before, unreadable, "2.0.0").tag(), "VERIFY_COLLECTIONS");
}

TEST(Upgrade, ThePlanSaysWhatEachStepWillDo) {
  testing::TempDir dir;
  FakeCluster c;
  std::string plan = ProcedureEngine::Plan(BuildUpgrade(Spec(dir.path()), {c, &c, c}, "/r/2.0"));
  EXPECT_NE(plan.find("1. observe"), std::string::npos) << plan;
  EXPECT_NE(plan.find("3. stop-nodes: drain each node at the load balancer and stop it: 3 nodes"),
            std::string::npos)
      << plan;
  EXPECT_NE(plan.find("6. start-first: start web-1 on the new release"), std::string::npos) << plan;
  EXPECT_NE(plan.find("8. maintenance-off"), std::string::npos) << plan;
  EXPECT_TRUE(c.log.empty());
}

}  // namespace
}  // namespace slipway::ops
