#include "ops/upgrade.h"

#include <ctime>

#include "core/semver.h"

namespace slipway::ops {
namespace json = boost::json;

namespace {

std::string StateString(const StepContext& ctx, std::string_view key) {
  const json::value* v = ctx.state().if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The nodes that go behind the load balancer, and the others.
std::vector<std::string> Ids(const ClusterSpec& spec, bool serving) {
  std::vector<std::string> out;
  for (const ClusterNode& n : spec.nodes) {
    if (n.worker_mode.serves_requests == serving) out.push_back(n.id);
  }
  return out;
}

}  // namespace

Status CompareObservations(const json::object& before, const json::object& after,
                           const std::string& expected_version) {
  auto text = [](const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  auto object = [](const json::object& o, std::string_view key) -> const json::object& {
    static const json::object kNone;
    const json::value* v = o.if_contains(key);
    return v != nullptr && v->is_object() ? v->as_object() : kNone;
  };
  if (text(after, "version") != expected_version) {
    return FailedPrecondition(
        "the upgraded node reports version " + text(after, "version") + ", not " + expected_version,
        "VERIFY_VERSION");
  }
  const json::object& plugins_after = object(after, "plugins");
  for (const auto& [name, version] : object(before, "plugins")) {
    const json::value* now = plugins_after.if_contains(name);
    if (now == nullptr) {
      return FailedPrecondition("plugin '" + std::string(name) + "' is gone after the upgrade",
                                "VERIFY_PLUGINS");
    }
    auto was = core::SemVer::Parse(version.is_string() ? version.as_string() : "");
    auto is = core::SemVer::Parse(now->is_string() ? now->as_string() : "");
    if (was.ok() && is.ok() && *is < *was) {
      return FailedPrecondition("plugin '" + std::string(name) + "' went from " +
                                    std::string(version.as_string()) + " to " +
                                    std::string(now->as_string()),
                                "VERIFY_PLUGINS");
    }
  }
  const json::object& counts_after = object(after, "counts");
  for (const auto& [collection, rows] : object(before, "counts")) {
    const json::value* now = counts_after.if_contains(collection);
    if (now == nullptr) {
      return FailedPrecondition(
          "collection '" + std::string(collection) + "' cannot be read after the upgrade",
          "VERIFY_COLLECTIONS");
    }
    if (*now != rows) {
      return FailedPrecondition("collection '" + std::string(collection) + "' had " +
                                    json::serialize(rows) + " rows and has " +
                                    json::serialize(*now) + " after the upgrade",
                                "VERIFY_COUNTS");
    }
  }
  return Status::Ok();
}

Procedure BuildUpgrade(const ClusterSpec& spec, UpgradeDrivers d, const std::string& to) {
  Procedure p;
  p.kind = "upgrade";
  p.params = json::object{{"to", to}};
  const std::vector<std::string> serving = Ids(spec, true), others = Ids(spec, false);
  std::vector<std::string> all = serving;
  all.insert(all.end(), others.begin(), others.end());
  const std::string first = serving.empty() ? all.front() : serving.front();
  Orchestrator& orch = d.orchestrator;
  LoadBalancer* lb = d.load_balancer;
  ClusterProbe& probe = d.probe;

  p.steps.push_back(Step{
      "observe",
      "read the version, plugins and row counts through a healthy node; note the release in "
      "place and the version of " +
          to,
      [&orch, &probe, all, to](StepContext& ctx) -> Status {
        ASSIGN_OR_RETURN(std::vector<NodeStatus> nodes, orch.Nodes());
        std::string healthy;
        for (const NodeStatus& n : nodes) {
          if (n.healthy && healthy.empty()) healthy = n.id;
        }
        if (healthy.empty()) return FailedPrecondition("no node is healthy to observe", "NO_NODE");
        ASSIGN_OR_RETURN(json::object before, probe.Observe(healthy));
        ASSIGN_OR_RETURN(std::string previous, orch.Release());
        ASSIGN_OR_RETURN(std::string expected, orch.VersionOf(to));
        RETURN_IF_ERROR(ctx.Record("before", std::move(before)));
        RETURN_IF_ERROR(ctx.Record("previousRelease", json::value(previous)));
        RETURN_IF_ERROR(ctx.Record("expectedVersion", json::value(expected)));
        ctx.Say("  running " + previous + "; upgrading to " + to + " (version " + expected + ")");
        return Status::Ok();
      },
      nullptr, nullptr, true});

  p.steps.push_back(
      Step{"maintenance-on",
           lb ? "the load balancer answers every request with 503 and the maintenance body"
              : "(no load balancer: clients see the nodes stop)",
           [lb](StepContext&) { return lb ? lb->SetMaintenance(true) : Status::Ok(); }, nullptr,
           [lb](StepContext&) { return lb ? lb->SetMaintenance(false) : Status::Ok(); }, true});

  p.steps.push_back(Step{
      "stop-nodes",
      "drain each node at the load balancer and stop it: " + std::to_string(all.size()) + " nodes",
      [&orch, lb, serving, others](StepContext&) -> Status {
        for (const std::string& id : serving) {
          if (lb) RETURN_IF_ERROR(lb->Drain(id));
          RETURN_IF_ERROR(orch.Stop(id));
        }
        for (const std::string& id : others) RETURN_IF_ERROR(orch.Stop(id));
        return Status::Ok();
      },
      nullptr,
      [&orch, lb, serving, all](StepContext&) -> Status {
        for (const std::string& id : all) RETURN_IF_ERROR(orch.Start(id));
        if (lb) {
          for (const std::string& id : serving) RETURN_IF_ERROR(lb->Enable(id));
        }
        return Status::Ok();
      },
      true});

  const std::string backups = (spec.state_dir / "backups").string();
  p.steps.push_back(
      Step{"backup", "a backup of the database and files by the release in place, into " + backups,
           [&orch, backups](StepContext& ctx) -> Status {
             std::time_t t = std::time(nullptr);
             char stamp[32];
             std::strftime(stamp, sizeof(stamp), "%Y%m%d_%H%M%S", std::gmtime(&t));
             const std::string path = backups + "/before_upgrade_" + stamp + ".slwbak";
             RETURN_IF_ERROR(ctx.Record("backup", json::value(path)));
             return orch.Backup(StateString(ctx, "previousRelease"), path);
           },
           nullptr, nullptr, true});

  p.steps.push_back(Step{
      "use-new-release", "put " + to + " in place",
      [&orch, to](StepContext&) { return orch.UseRelease(to); }, nullptr,
      [&orch](StepContext& ctx) { return orch.UseRelease(StateString(ctx, "previousRelease")); },
      true});

  p.steps.push_back(
      Step{"start-first",
           "start " + first +
               " on the new release (it migrates the database under the schema lock); check its "
               "version, plugins, collections and row counts, and the spec's " +
               std::to_string(spec.smoke.size()) + " smoke requests",
           [&orch, first](StepContext&) { return orch.Start(first); },
           [&probe, first, smoke = spec.smoke](StepContext& ctx) -> Status {
             ASSIGN_OR_RETURN(json::object after, probe.Observe(first));
             const json::value* before = ctx.state().if_contains("before");
             RETURN_IF_ERROR(CompareObservations(
                 before && before->is_object() ? before->as_object() : json::object{}, after,
                 StateString(ctx, "expectedVersion")));
             return probe.Smoke(first, smoke);
           },
           [&orch, first](StepContext& ctx) -> Status {
             RETURN_IF_ERROR(orch.Stop(first));
             const std::string backup = StateString(ctx, "backup");
             ctx.Say("  restoring " + backup + " with " + StateString(ctx, "previousRelease"));
             return orch.Restore(StateString(ctx, "previousRelease"), backup);
           },
           true});

  std::vector<std::string> rest;
  for (const std::string& id : all) {
    if (id != first) rest.push_back(id);
  }
  p.steps.push_back(
      Step{"start-rest",
           "start the other " + std::to_string(rest.size()) +
               " nodes and enable every node that serves requests at the load balancer",
           [&orch, lb, rest, serving](StepContext&) -> Status {
             for (const std::string& id : rest) RETURN_IF_ERROR(orch.Start(id));
             if (lb) {
               for (const std::string& id : serving) RETURN_IF_ERROR(lb->Enable(id));
             }
             return Status::Ok();
           },
           nullptr,
           [&orch, lb, rest, serving](StepContext&) -> Status {
             if (lb) {
               for (const std::string& id : serving) RETURN_IF_ERROR(lb->Drain(id));
             }
             for (const std::string& id : rest) RETURN_IF_ERROR(orch.Stop(id));
             return Status::Ok();
           },
           true});

  p.steps.push_back(
      Step{"maintenance-off", "clients reach the nodes again",
           [lb](StepContext&) { return lb ? lb->SetMaintenance(false) : Status::Ok(); }, nullptr,
           nullptr, true});
  return p;
}

}  // namespace slipway::ops
