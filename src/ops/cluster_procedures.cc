#include "ops/cluster_procedures.h"

#include <functional>
#include <future>

#include "ops/net_client.h"
#include "ops/upgrade.h"

namespace slipway::ops {
namespace json = boost::json;

std::vector<std::string> AllNodeIds(const ClusterSpec& spec) {
  std::vector<std::string> out;
  for (bool serving : {true, false}) {
    for (const ClusterNode& n : spec.nodes) {
      if (n.worker_mode.serves_requests == serving) out.push_back(n.id);
    }
  }
  return out;
}

std::vector<ClusterNode> ServingNodes(const ClusterSpec& spec) {
  std::vector<ClusterNode> out;
  for (const ClusterNode* n : spec.RequestNodes()) out.push_back(*n);
  return out;
}

namespace {

std::string Joined(const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) out += (out.empty() ? "" : ", ") + id;
  return out.empty() ? "(none)" : out;
}

Step LoadBalancerUp(const ClusterSpec& spec, ClusterDrivers d, std::vector<ClusterNode> nodes) {
  LoadBalancer* lb = d.load_balancer;
  const std::string what = lb ? spec.lb_kind + " on port " + std::to_string(spec.lb_port) +
                                    " in front of " + std::to_string(nodes.size()) + " nodes"
                              : "(no load balancer in the spec)";
  return Step{"load-balancer",
              what,
              [lb, nodes](StepContext&) { return lb ? lb->Up(nodes) : Status::Ok(); },
              nullptr,
              nullptr,
              true};
}

}  // namespace

namespace {

// `fn` for each id, at the same time when there are several; the first error.
Status ForEachTogether(const std::vector<std::string>& ids,
                       const std::function<Status(const std::string&)>& fn) {
  if (ids.empty()) return Status::Ok();
  if (ids.size() == 1) return fn(ids.front());
  std::vector<std::future<Status>> running;
  for (const std::string& id : ids) {
    running.push_back(std::async(std::launch::async, [&fn, id] { return fn(id); }));
  }
  Status first_error;
  for (auto& f : running) {
    Status s = f.get();
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  return first_error;
}

// The load balancer up in front of every serving node, then each of them enabled there (the
// last steps of `up` and of the first start).
void AddLoadBalancerSteps(Procedure* p, const ClusterSpec& spec, ClusterDrivers d) {
  p->steps.push_back(LoadBalancerUp(spec, d, ServingNodes(spec)));
  const std::vector<std::string> all = AllNodeIds(spec);
  p->steps.push_back(Step{"enable-nodes", "enable every node that serves requests",
                          [&spec, d, all](StepContext&) { return StartNodes(spec, d, all, true); },
                          nullptr, nullptr, true});
}

}  // namespace

Status StopNodes(const ClusterSpec& spec, ClusterDrivers d, const std::vector<std::string>& ids) {
  // Every node out of the load balancer first, then all stopped at once (each finishes what it
  // runs): the time of the slowest, not of all of them.
  if (d.load_balancer) {
    for (const std::string& id : ids) {
      if (spec.ServesRequests(id)) RETURN_IF_ERROR(d.load_balancer->Drain(id));
    }
  }
  return ForEachTogether(ids, [&d](const std::string& id) { return d.orchestrator.Stop(id); });
}

Status StartNodes(const ClusterSpec& spec, ClusterDrivers d, const std::vector<std::string>& ids,
                  bool together) {
  if (together) {
    RETURN_IF_ERROR(
        ForEachTogether(ids, [&d](const std::string& id) { return d.orchestrator.Start(id); }));
  } else {
    for (const std::string& id : ids) RETURN_IF_ERROR(d.orchestrator.Start(id));
  }
  if (!d.load_balancer) return Status::Ok();
  std::vector<std::string> serving;
  for (const std::string& id : ids) {
    if (spec.ServesRequests(id)) serving.push_back(id);
  }
  if (!together) {
    for (const std::string& id : serving) RETURN_IF_ERROR(d.load_balancer->Enable(id));
    return Status::Ok();
  }
  return ForEachTogether(serving,
                         [&d](const std::string& id) { return d.load_balancer->Enable(id); });
}

Procedure BuildUp(const ClusterSpec& spec, ClusterDrivers d) {
  Procedure p;
  p.kind = "up";
  const std::vector<std::string> all = AllNodeIds(spec);
  p.steps.push_back(
      Step{"start-nodes",
           "start " + std::to_string(all.size()) +
               " nodes together (one installs or migrates, the others wait for it): " + Joined(all),
           [&spec, d, all](StepContext&) {
             // Enabled at the load balancer once it runs (the next steps).
             ClusterDrivers no_lb{d.orchestrator, nullptr, d.probe};
             return StartNodes(spec, no_lb, all, /*together=*/true);
           },
           nullptr, nullptr, true});
  AddLoadBalancerSteps(&p, spec, d);
  return p;
}

Procedure BuildDown(const ClusterSpec& spec, ClusterDrivers d) {
  Procedure p;
  p.kind = "down";
  const std::vector<std::string> all = AllNodeIds(spec);
  p.steps.push_back(Step{
      "stop-nodes", "drain each node at the load balancer and stop it: " + Joined(all),
      [&spec, d, all](StepContext&) { return StopNodes(spec, d, all); }, nullptr, nullptr, true});
  LoadBalancer* lb = d.load_balancer;
  p.steps.push_back(
      Step{"load-balancer-down", lb ? "stop " + spec.lb_kind : "(no load balancer in the spec)",
           [lb](StepContext&) { return lb ? lb->Down() : Status::Ok(); }, nullptr, nullptr, true});
  return p;
}

Procedure BuildFirstStart(const ClusterSpec& spec, ClusterDrivers d) {
  Procedure p;
  p.kind = "start";
  const std::vector<std::string> all = AllNodeIds(spec);
  const std::string first = all.front();
  const std::vector<std::string> rest(all.begin() + 1, all.end());
  ClusterDrivers no_lb{d.orchestrator, nullptr, d.probe};
  p.steps.push_back(Step{
      "first-node",
      "start " + first + " alone and wait until it is installed, its plugins active, healthy",
      [d, first](StepContext&) { return d.orchestrator.Start(first); },
      [d, first](StepContext& ctx) -> Status {
        // Installed and serving: the probe signs in and reads every collection.
        ASSIGN_OR_RETURN(json::object seen, d.probe.Observe(first, /*counts=*/true));
        ctx.Say("  " + first + " serves version " + json::serialize(seen["version"]) + " with " +
                std::to_string(seen["plugins"].as_object().size()) + " plugins enabled");
        return Status::Ok();
      },
      [&spec, no_lb, first](StepContext&) { return StopNodes(spec, no_lb, {first}); }, true});
  p.steps.push_back(Step{
      "other-nodes", "start the other " + std::to_string(rest.size()) + " nodes: " + Joined(rest),
      [&spec, no_lb, rest](StepContext&) { return StartNodes(spec, no_lb, rest, true); }, nullptr,
      [&spec, no_lb, rest](StepContext&) { return StopNodes(spec, no_lb, rest); }, true});
  AddLoadBalancerSteps(&p, spec, d);
  return p;
}

Procedure BuildRestart(const ClusterSpec& spec, ClusterDrivers d) {
  Procedure p;
  p.kind = "restart";
  for (const std::string& id : AllNodeIds(spec)) {
    p.steps.push_back(
        Step{"restart-" + id,
             spec.ServesRequests(id) ? "drain " + id + ", stop it, start it, enable it"
                                     : "stop " + id + ", start it",
             [&spec, d, id](StepContext&) -> Status {
               RETURN_IF_ERROR(StopNodes(spec, d, {id}));
               return StartNodes(spec, d, {id}, false);
             },
             nullptr,
             // Whatever happened, the node runs and serves again.
             [&spec, d, id](StepContext&) { return StartNodes(spec, d, {id}, false); }, true});
  }
  return p;
}

Procedure BuildMaintain(const ClusterSpec& spec, ClusterDrivers d, bool begin) {
  Procedure p;
  p.kind = begin ? "maintain-begin" : "maintain-end";
  const std::vector<std::string> all = AllNodeIds(spec);
  const std::string first = all.front();
  const std::vector<std::string> rest(all.begin() + 1, all.end());
  if (begin) {
    p.steps.push_back(Step{
        "scale-down",
        "drain and stop every node but " + first + " (" + Joined(rest) +
            "); clients keep being served by " + first,
        [&spec, d, first, rest](StepContext&) -> Status {
          RETURN_IF_ERROR(StartNodes(spec, d, {first}, false));
          return StopNodes(spec, d, rest);
        },
        nullptr, [&spec, d, rest](StepContext&) { return StartNodes(spec, d, rest, true); }, true});
  } else {
    p.steps.push_back(Step{"scale-up", "start " + Joined(rest) + " again and enable them",
                           [&spec, d, all](StepContext&) { return StartNodes(spec, d, all, true); },
                           nullptr, nullptr, true});
  }
  return p;
}

Result<Procedure> BuildScale(const ClusterSpec& spec, ClusterDrivers d, const std::string& group,
                             int to) {
  int from = 0;
  for (const ClusterNode& n : spec.nodes) from += n.group == group ? 1 : 0;
  if (from == 0) return NotFound("no node group '" + group + "' in the spec", "GROUP_NOT_FOUND");
  // The spec with the larger count knows every node the procedure touches.
  ASSIGN_OR_RETURN(ClusterSpec after, ScaledSpec(spec, group, to));
  Procedure p;
  p.kind = "scale";
  p.params = json::object{{"group", group}, {"from", from}, {"to", to}};
  auto record = [&spec, group](int count) {
    return [&spec, group, count](StepContext&) { return WriteScaledCount(spec, group, count); };
  };
  std::vector<std::string> changed;
  const ClusterSpec& larger = to > from ? after : spec;
  for (const ClusterNode& n : larger.nodes) {
    if (n.group != group) continue;
    const int index = std::atoi(n.id.substr(group.size() + 1).c_str());
    if (index > std::min(from, to)) changed.push_back(n.id);
  }
  auto shared = std::make_shared<ClusterSpec>(larger);
  const std::vector<ClusterNode> serving_after = ServingNodes(after);
  if (to > from) {
    p.steps.push_back(Step{"record-count",
                           "keep " + group + " at " + std::to_string(to) + " nodes in " +
                               (spec.state_dir / "counts.json").string(),
                           record(to), nullptr, record(from), true});
    p.steps.push_back(
        Step{"start-new", "start " + Joined(changed),
             [shared, d, changed](StepContext&) {
               ClusterDrivers no_lb{d.orchestrator, nullptr, d.probe};
               return StartNodes(*shared, no_lb, changed, true);
             },
             nullptr, [shared, d, changed](StepContext&) { return StopNodes(*shared, d, changed); },
             true});
    p.steps.push_back(LoadBalancerUp(after, d, serving_after));
    p.steps.push_back(
        Step{"enable-new", "enable the new nodes that serve requests",
             [shared, d, changed](StepContext&) { return StartNodes(*shared, d, changed, false); },
             nullptr, nullptr, true});
  } else if (to < from) {
    p.steps.push_back(
        Step{"stop-surplus", "drain and stop " + Joined(changed),
             [shared, d, changed](StepContext&) { return StopNodes(*shared, d, changed); }, nullptr,
             [shared, d, changed](StepContext&) { return StartNodes(*shared, d, changed, true); },
             true});
    p.steps.push_back(Step{"record-count",
                           "keep " + group + " at " + std::to_string(to) + " nodes in " +
                               (spec.state_dir / "counts.json").string(),
                           record(to), nullptr, record(from), true});
    p.steps.push_back(LoadBalancerUp(after, d, serving_after));
  }
  return p;
}

Result<Procedure> BuildClusterProcedure(const std::string& kind, const json::object& params,
                                        const ClusterSpec& spec, ClusterDrivers d) {
  auto text = [&params](std::string_view key) {
    const json::value* v = params.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  if (kind == "up") return BuildUp(spec, d);
  if (kind == "down") return BuildDown(spec, d);
  if (kind == "start") return BuildFirstStart(spec, d);
  if (kind == "restart") return BuildRestart(spec, d);
  if (kind == "maintain-begin" || kind == "maintain-end") {
    return BuildMaintain(spec, d, kind == "maintain-begin");
  }
  if (kind == "upgrade") return BuildUpgrade(spec, d, text("to"));
  if (kind == "scale") {
    const json::value* to = params.if_contains("to");
    const json::value* from = params.if_contains("from");
    if (to == nullptr || from == nullptr || !to->is_int64() || !from->is_int64()) {
      return InvalidArgument("a scale journal without its counts");
    }
    // Rebuilt against the spec as it was before the scale.
    ASSIGN_OR_RETURN(ClusterSpec before,
                     ScaledSpec(spec, text("group"), static_cast<int>(from->as_int64())));
    auto kept = std::make_shared<ClusterSpec>(std::move(before));
    ASSIGN_OR_RETURN(Procedure p,
                     BuildScale(*kept, d, text("group"), static_cast<int>(to->as_int64())));
    // The steps refer to the spec they were built from: it lives as long as they do.
    for (Step& s : p.steps) {
      for (StepFn* fn : {&s.run, &s.check, &s.undo}) {
        if (*fn) *fn = [kept, inner = std::move(*fn)](StepContext& ctx) { return inner(ctx); };
      }
    }
    return p;
  }
  return InvalidArgument("unknown procedure kind '" + kind + "'", "UNKNOWN_PROCEDURE");
}

// --- DowntimeWatch -----------------------------------------------------------------------------

double DowntimeWatch::Seen::downtime_s() const {
  if (!first_down_s) return 0;
  return (first_up_again_s ? *first_up_again_s : *first_down_s) - *first_down_s;
}

DowntimeWatch::DowntimeWatch(int port) : port_(port), started_(std::chrono::steady_clock::now()) {
  thread_ = std::thread([this] {
    while (!stop_.load()) {
      HttpCall call{.port = port_, .target = "/api/__health_check"};
      call.timeout = std::chrono::seconds(2);
      auto reply = SendHttp(call);
      Note(reply,
           std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
}

void DowntimeWatch::Note(const Result<HttpReply>& reply, double at) {
  std::lock_guard<std::mutex> lock(mu_);
  ++seen_.requests;
  const int status = reply.ok() ? reply->status : 0;
  if (status == 200) {
    ++seen_.ok;
    if (seen_.first_down_s && !seen_.first_up_again_s) seen_.first_up_again_s = at;
    return;
  }
  if (!seen_.first_down_s) seen_.first_down_s = at;
  if (status == 503) {
    ++seen_.maintenance;
    return;
  }
  ++seen_.other;
  if (seen_.other_example.empty()) {
    seen_.other_example = reply.ok() ? std::to_string(status) + " " + reply->body.substr(0, 120)
                                     : reply.status().message();
  }
}

DowntimeWatch::~DowntimeWatch() { Stop(); }

DowntimeWatch::Seen DowntimeWatch::Stop(std::chrono::milliseconds up_within) {
  const auto deadline = std::chrono::steady_clock::now() + up_within;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!seen_.first_down_s || seen_.first_up_again_s) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  return seen_;
}

}  // namespace slipway::ops
