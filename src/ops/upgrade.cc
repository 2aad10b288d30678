#include "ops/upgrade.h"

#include "core/semver.h"
#include "ops/backup.h"
#include "ops/cluster_procedures.h"

namespace slipway::ops {
namespace json = boost::json;

namespace {

std::string StateString(const StepContext& ctx, std::string_view key) {
  const json::value* v = ctx.state().if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
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

Procedure BuildUpgrade(const ClusterSpec& spec, ClusterDrivers d, const std::string& to) {
  Procedure p;
  p.kind = "upgrade";
  p.params = json::object{{"to", to}};
  const std::vector<std::string> all = AllNodeIds(spec);
  const std::string first = all.front();
  Orchestrator& orch = d.orchestrator;
  LoadBalancer* lb = d.load_balancer;
  ClusterProbe& probe = d.probe;

  p.steps.push_back(Step{
      "observe",
      "read the version and plugins through a healthy node; note the release in "
      "place and the version of " +
          to,
      [&orch, &probe, all, to](StepContext& ctx) -> Status {
        ASSIGN_OR_RETURN(std::vector<NodeStatus> nodes, orch.Nodes());
        std::string healthy;
        for (const NodeStatus& n : nodes) {
          if (n.healthy && healthy.empty()) healthy = n.id;
        }
        if (healthy.empty()) return FailedPrecondition("no node is healthy to observe", "NO_NODE");
        ASSIGN_OR_RETURN(json::object before, probe.Observe(healthy, /*counts=*/false));
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
      [&spec, d, all](StepContext&) { return StopNodes(spec, d, all); }, nullptr,
      [&spec, d, all](StepContext&) { return StartNodes(spec, d, all, false); }, true});

  const std::string backups = spec.backups.string();
  p.steps.push_back(Step{
      "backup", "a backup of the database and files by the release in place, into " + backups,
      [&orch, backups](StepContext& ctx) -> Status {
        const std::string path = backups + "/" + TimestampedFileName("before_upgrade", ".slwbak");
        RETURN_IF_ERROR(ctx.Record("backup", json::value(path)));
        ASSIGN_OR_RETURN(json::object manifest,
                         orch.Backup(StateString(ctx, "previousRelease"), path));
        // The row counts to find again are the backup's, taken with every node stopped (counted
        // earlier, they would be those of a moment when clients still wrote).
        const json::value* counts = manifest.if_contains("rowCounts");
        const json::value* before = ctx.state().if_contains("before");
        if (counts != nullptr && counts->is_object() && before != nullptr && before->is_object()) {
          json::object updated = before->as_object();
          updated["counts"] = *counts;
          RETURN_IF_ERROR(ctx.Record("before", std::move(updated)));
        }
        return Status::Ok();
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
             ASSIGN_OR_RETURN(json::object after, probe.Observe(first, /*counts=*/true));
             const json::value* before = ctx.state().if_contains("before");
             RETURN_IF_ERROR(CompareObservations(
                 before && before->is_object() ? before->as_object() : json::object{}, after,
                 StateString(ctx, "expectedVersion")));
             return probe.Smoke(first, smoke);
           },
           [&spec, d, first](StepContext& ctx) -> Status {
             RETURN_IF_ERROR(StopNodes(spec, d, {first}));
             const std::string backup = StateString(ctx, "backup");
             ctx.Say("  restoring " + backup + " with " + StateString(ctx, "previousRelease"));
             return d.orchestrator.Restore(StateString(ctx, "previousRelease"), backup);
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
           [&spec, d, all](StepContext&) { return StartNodes(spec, d, all, false); }, nullptr,
           [&spec, d, rest](StepContext&) { return StopNodes(spec, d, rest); }, true});

  p.steps.push_back(
      Step{"maintenance-off", "clients reach the nodes again",
           [lb](StepContext&) { return lb ? lb->SetMaintenance(false) : Status::Ok(); }, nullptr,
           nullptr, true});
  return p;
}

}  // namespace slipway::ops
