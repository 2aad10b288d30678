// `slipway maintenance on|off [--message M]`: the cluster's gate, from any machine that reaches
// its database. `slipway cluster ...`: a cluster on this host from its spec (ops/cluster_spec.h),
// its procedures on the engine (ops/procedure.h) over the local drivers (ops/local_driver.h,
// ops/local_balancer.h); `slipway cluster status --db` (or without a spec): the database's view.
#include <fmt/format.h>
#include <sodium.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <mutex>

#include "cli/command.h"
#include "cli/exit_code.h"
#include "core/clock.h"
#include "core/logging.h"
#include "ops/cluster_procedures.h"
#include "ops/http_probe.h"
#include "ops/local_balancer.h"
#include "ops/local_driver.h"
#include "ops/upgrade.h"

namespace slipway::cli {

namespace json = boost::json;

Command AddMaintenance(CLI::App& root, const app::Distribution& dist) {
  auto* cmd = root.add_subcommand(
      "maintenance", "Put every node into maintenance (503 with NocoBase's body) or take it out");
  auto flags = std::make_shared<ConfigFlags>();
  flags->AddTo(cmd, /*server_flags=*/false);
  auto mode = std::make_shared<std::string>();
  auto message = std::make_shared<std::string>();
  cmd->add_option("mode", *mode, "on or off")->required()->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--message", *message, "What clients are told while it lasts");
  return {cmd, [=, &dist]() -> int {
            auto config = flags->Load();
            if (!config.ok()) return Report(config.status());
            InitLogging(*config, dist, /*one_shot=*/true);
            app::Application application(*config, dist);
            Status s =
                application.SetClusterGate(*mode == "on" ? "maintenance" : "running", *message);
            if (s.ok()) {
              std::puts(*mode == "on" ? "maintenance is on: every live node answers 503"
                                      : "maintenance is off: every live node serves");
            }
            return Report(s);
          }};
}

namespace {

// The database's view of the cluster (`slipway cluster status --db`, or without a spec).
int PrintDatabaseStatus(const ConfigFlags& flags, const app::Distribution& dist, bool as_json) {
  auto config = flags.Load();
  if (!config.ok()) return Report(config.status());
  InitLogging(*config, dist, /*one_shot=*/true);
  app::Application application(*config, dist);
  auto s = application.ClusterStatus();
  if (!s.ok()) return Report(s.status());
  if (as_json) {
    std::printf("%s\n", json::serialize(*s).c_str());
    return kExitOk;
  }
  const json::object& o = *s;
  std::printf("cluster  state %s, schema %s, epoch %lld%s%s\n",
              std::string(o.at("state").as_string()).c_str(),
              std::string(o.at("schemaVersion").as_string()).c_str(),
              static_cast<long long>(o.at("epoch").as_int64()),
              o.at("message").as_string().empty() ? "" : ", message: ",
              std::string(o.at("message").as_string()).c_str());
  std::printf("%-24s %-22s %-8s %-6s %-16s %-8s %s\n", "NODE", "ADDRESS", "VERSION", "WORKER",
              "STATE", "EPOCH", "HEARTBEAT");
  for (const auto& v : o.at("nodes").as_array()) {
    const json::object& n = v.as_object();
    char age[32];
    std::snprintf(age, sizeof(age), "%.1fs ago%s", n.at("heartbeatAgeSeconds").as_double(),
                  n.at("live").as_bool() ? "" : " (gone)");
    std::printf("%-24s %-22s %-8s %-6lld %-16s %-8lld %s\n",
                std::string(n.at("id").as_string()).c_str(),
                std::string(n.at("address").as_string()).c_str(),
                std::string(n.at("version").as_string()).c_str(),
                static_cast<long long>(n.at("workerId").as_int64()),
                std::string(n.at("state").as_string()).c_str(),
                static_cast<long long>(n.at("appliedEpoch").as_int64()), age);
  }
  return kExitOk;
}

std::string DefaultSpecPath() {
  const char* env = std::getenv("SLIPWAY_CLUSTER_SPEC");
  return env != nullptr && *env ? env : "slipway-cluster.toml";
}

// What a procedure says: on stdout as it happens, and into <state>/logs/procedures.log with
// the time.
class ProcedureOutput {
 public:
  explicit ProcedureOutput(const ops::ClusterSpec& spec) {
    std::error_code ec;
    std::filesystem::create_directories(spec.state_dir / "logs", ec);
    log_.open(spec.state_dir / "logs" / "procedures.log", std::ios::app);
  }
  void operator()(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    log_ << core::UtcNowText() << " " << line << "\n";
    log_.flush();
  }

 private:
  std::mutex mu_;
  std::ofstream log_;
};

void InitClusterLogging(const app::Distribution& dist) {
  core::log::Options options;
  options.level = isatty(2) ? "warn" : "info";
  options.node_id = "cluster";
  options.version = std::string(dist.build.version);
  core::log::Init(options);
}

// The drivers of this host for a spec, alive as long as it is.
struct LocalDrivers {
  LocalDrivers(const ops::ClusterSpec& spec, std::function<void(const std::string&)> say)
      : orchestrator(spec, std::move(say)), balancer(ops::MakeLocalBalancer(spec)), probe(spec) {}
  ops::ClusterDrivers get() { return {orchestrator, balancer.get(), probe}; }
  ops::LocalOrchestrator orchestrator;
  std::unique_ptr<ops::LoadBalancer> balancer;
  ops::HttpProbe probe;
};

void PrintOutcome(const ops::ProcedureOutcome& out,
                  const std::function<void(const std::string&)>& say) {
  say("");
  // The error's first line (the steps above said the rest).
  const std::string error = out.error.substr(0, out.error.find('\n'));
  say(out.kind + " " + out.id + ": " + out.outcome +
      (error.empty() ? "" : " (" + out.failed_step + ": " + error + ")"));
  for (const ops::StepTiming& t : out.timings) {
    char line[160];
    std::snprintf(line, sizeof(line), "  %-18s %-12s %8.1f s", t.name.c_str(), t.what.c_str(),
                  static_cast<double>(t.ms) / 1000.0);
    say(line);
  }
}

int OutcomeExit(const ops::ProcedureOutcome& out) {
  if (out.ok()) return kExitOk;
  return out.outcome == "rolled-back" ? kExitFailed : kExitInternal;
}

}  // namespace

Command AddCluster(CLI::App& root, const app::Distribution& dist) {
  auto* cmd = root.add_subcommand(
      "cluster",
      "Run a cluster on this host from a spec: init, up, down, status, scale, restart, logs, "
      "start, upgrade, maintain, resume");
  cmd->require_subcommand(1);
  auto flags = std::make_shared<ConfigFlags>();
  flags->AddTo(cmd, /*server_flags=*/false);
  auto spec_path = std::make_shared<std::string>(DefaultSpecPath());
  cmd->add_option("--spec", *spec_path,
                  "The cluster spec (default: $SLIPWAY_CLUSTER_SPEC or ./slipway-cluster.toml)");
  auto plan = std::make_shared<bool>(false);
  auto as_json = std::make_shared<bool>(false);
  auto db_view = std::make_shared<bool>(false);
  auto force = std::make_shared<bool>(false);
  auto release = std::make_shared<std::string>();
  auto to = std::make_shared<std::string>();
  auto group = std::make_shared<std::string>();
  auto count = std::make_shared<int>(0);
  auto node = std::make_shared<std::string>();
  auto lines = std::make_shared<int>(40);
  auto phase = std::make_shared<std::string>();

  auto* init = cmd->add_subcommand("init", "Write a commented spec and an APP_KEY file");
  init->add_flag("--force", *force, "Overwrite an existing spec");
  init->add_option("--release", *release, "The binary the nodes run (default: this one)");
  auto* status = cmd->add_subcommand(
      "status", "The nodes, the load balancer and any procedure (--db: the database's view)");
  status->add_flag("--json", *as_json, "Print JSON");
  status->add_flag("--db", *db_view, "The database's view of the nodes, from its environment");
  auto* up = cmd->add_subcommand("up", "Start every node together, then the load balancer");
  auto* down = cmd->add_subcommand("down", "Drain and stop every node, then the load balancer");
  auto* start = cmd->add_subcommand(
      "start", "The first start, step by step: one node installed and healthy, then the others");
  auto* restart =
      cmd->add_subcommand("restart", "Restart every node, one at a time, drained first");
  auto* scale = cmd->add_subcommand("scale", "Change the number of nodes of a group");
  scale->add_option("count", *count, "The new number of nodes")->required();
  scale->add_option("--group", *group, "The [[nodes]] group (default: the first)");
  auto* logs = cmd->add_subcommand("logs", "The end of a node's log (or of every node's)");
  logs->add_option("node", *node, "A node id (web-1)");
  logs->add_option("-n,--lines", *lines, "How many lines");
  auto* upgrade = cmd->add_subcommand(
      "upgrade",
      "Upgrade every node to a new release behind the maintenance page, with a backup first and "
      "a rollback if anything fails");
  upgrade->add_option("--to", *to, "The new binary, or a release directory with bin/slipway")
      ->required();
  auto* maintain = cmd->add_subcommand(
      "maintain", "begin: down to one node for in-app maintenance; end: the others back");
  maintain->add_option("phase", *phase, "begin or end")
      ->required()
      ->check(CLI::IsMember({"begin", "end"}));
  auto* resume = cmd->add_subcommand(
      "resume", "Continue or roll back a procedure the tool was interrupted in");
  for (auto* sub : {up, down, start, restart, scale, upgrade, maintain}) {
    sub->add_flag("--plan", *plan, "Print the steps and what each will do; do nothing");
  }
  for (auto* sub :
       {init, status, up, down, start, restart, scale, logs, upgrade, maintain, resume}) {
    sub->fallthrough();
  }

  return {
      cmd, [=, &dist]() -> int {
        if (status->parsed() && *db_view) return PrintDatabaseStatus(*flags, dist, *as_json);
        if (init->parsed()) {
          std::error_code ec;
          const std::filesystem::path file(*spec_path);
          if (std::filesystem::exists(file, ec) && !*force) {
            return Report(
                AlreadyExists(file.string() + " exists (--force overwrites it)", "SPEC_EXISTS"));
          }
          std::string bin = *release;
          if (bin.empty()) bin = std::filesystem::read_symlink("/proc/self/exe", ec).string();
          Status s = ops::WriteFileDurably(file, ops::DefaultClusterSpec(bin));
          if (!s.ok()) return Report(s);
          auto spec = ops::ReadClusterSpec(file);
          if (!spec.ok()) return Report(spec.status());
          if (!spec->app_key_file.empty() && !std::filesystem::exists(spec->app_key_file, ec)) {
            unsigned char key[32];
            randombytes_buf(key, sizeof(key));
            std::string hex;
            for (unsigned char c : key) hex += fmt::format("{:02x}", c);
            s = ops::WriteFileDurably(spec->app_key_file, hex + "\n");
            if (!s.ok()) return Report(s);
            std::filesystem::permissions(
                spec->app_key_file,
                std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
          }
          std::printf(
              "wrote %s (release %s); APP_KEY in %s\nedit it, then: slipway cluster "
              "up --spec %s\n",
              file.c_str(), bin.c_str(), spec->app_key_file.c_str(), file.c_str());
          return kExitOk;
        }
        const std::filesystem::path file(*spec_path);
        std::error_code ec;
        if (status->parsed() && !std::filesystem::exists(file, ec)) {
          // No spec here: the database's view, as before specs existed.
          return PrintDatabaseStatus(*flags, dist, *as_json);
        }
        auto spec = ops::LoadClusterSpec(file);
        if (!spec.ok()) return Report(spec.status());
        InitClusterLogging(dist);
        auto output = std::make_shared<ProcedureOutput>(*spec);
        std::function<void(const std::string&)> say = [output](const std::string& line) {
          (*output)(line);
        };
        LocalDrivers drivers(*spec, say);
        ops::ClusterDrivers d = drivers.get();
        ops::ProcedureEngine engine(spec->state_dir, say);

        if (status->parsed()) {
          json::object out{{"name", spec->name}, {"spec", spec->file.string()}};
          auto rel = drivers.orchestrator.Release();
          out["release"] = rel.ok() ? *rel : "";
          auto version =
              rel.ok() ? drivers.orchestrator.VersionOf(*rel) : Result<std::string>(rel.status());
          out["version"] = version.ok() ? *version : "(" + version.status().message() + ")";
          auto nodes = drivers.orchestrator.Nodes();
          if (!nodes.ok()) return Report(nodes.status());
          json::array list;
          for (const ops::NodeStatus& n : *nodes) {
            const ops::ClusterNode* c = spec->FindNode(n.id);
            list.push_back(json::object{{"id", n.id},
                                        {"port", c ? c->port : 0},
                                        {"workerMode", c ? c->worker_mode.text : ""},
                                        {"pid", n.pid},
                                        {"state", n.healthy   ? "ready"
                                                  : n.running ? "running"
                                                              : "stopped"},
                                        {"detail", n.detail}});
          }
          out["nodes"] = std::move(list);
          if (drivers.balancer) {
            auto lb = drivers.balancer->Describe();
            out["loadBalancer"] = lb.ok() ? json::value(*lb) : json::value(lb.status().message());
          }
          auto current = engine.Current();
          if (current.ok() && *current) {
            const ops::ProcedureRecord& r = **current;
            out["procedure"] = json::object{{"id", r.id},
                                            {"kind", r.kind},
                                            {"state", r.outcome   ? *r.outcome
                                                      : r.running ? "running"
                                                                  : "interrupted"},
                                            {"last", r.last_event},
                                            {"pid", r.pid},
                                            {"startedAt", r.started_at}};
          }
          if (*as_json) {
            std::printf("%s\n", json::serialize(out).c_str());
            return kExitOk;
          }
          std::printf("cluster %s (%s)\nrelease %s, version %s\n\n", spec->name.c_str(),
                      spec->file.c_str(), std::string(out["release"].as_string()).c_str(),
                      std::string(out["version"].as_string()).c_str());
          std::printf("%-14s %-6s %-8s %-8s %-8s %s\n", "NODE", "PORT", "WORKER", "PID", "STATE",
                      "");
          for (const json::value& v : out["nodes"].as_array()) {
            const json::object& n = v.as_object();
            std::string mode(n.at("workerMode").as_string());
            std::printf("%-14s %-6lld %-8s %-8lld %-8s %s\n",
                        std::string(n.at("id").as_string()).c_str(),
                        static_cast<long long>(n.at("port").as_int64()),
                        mode.empty() ? "(all)" : mode.c_str(),
                        static_cast<long long>(n.at("pid").to_number<int64_t>()),
                        std::string(n.at("state").as_string()).c_str(),
                        std::string(n.at("detail").as_string()).c_str());
          }
          if (out.contains("loadBalancer") && out["loadBalancer"].is_object()) {
            const json::object& lb = out["loadBalancer"].as_object();
            std::string servers;
            for (const auto& [k, v] : lb.at("servers").as_object()) {
              servers +=
                  (servers.empty() ? "" : ", ") + std::string(k) + " " + std::string(v.as_string());
            }
            const int64_t pid = lb.at("pid").to_number<int64_t>();
            std::printf("\nload balancer %s on 127.0.0.1:%lld: %s%s%s\n",
                        std::string(lb.at("kind").as_string()).c_str(),
                        static_cast<long long>(lb.at("port").as_int64()),
                        pid ? ("pid " + std::to_string(pid)).c_str() : "stopped",
                        lb.at("maintenance").as_bool() ? ", MAINTENANCE PAGE ON" : "",
                        servers.empty() ? "" : ("; " + servers).c_str());
          }
          if (out.contains("procedure")) {
            const json::object& pr = out["procedure"].as_object();
            const std::string state(pr.at("state").as_string());
            std::printf("\nprocedure %s %s: %s (last: %s)%s\n",
                        std::string(pr.at("kind").as_string()).c_str(),
                        std::string(pr.at("id").as_string()).c_str(), state.c_str(),
                        std::string(pr.at("last").as_string()).c_str(),
                        state == "interrupted" ? "; run `slipway cluster resume`" : "");
          }
          return kExitOk;
        }

        if (logs->parsed()) {
          std::vector<std::string> ids;
          if (!node->empty()) {
            if (spec->FindNode(*node) == nullptr) {
              return Report(NotFound("no node '" + *node + "' in the spec", "NODE_NOT_FOUND"));
            }
            ids.push_back(*node);
          } else {
            ids = ops::AllNodeIds(*spec);
          }
          for (const std::string& id : ids) {
            if (ids.size() > 1) std::printf("==> %s <==\n", id.c_str());
            std::printf("%s", ops::TailOf(drivers.orchestrator.LogFile(id), *lines).c_str());
          }
          return kExitOk;
        }

        if (resume->parsed()) {
          auto out = engine.Resume([&](const std::string& kind, const json::object& params) {
            return ops::BuildClusterProcedure(kind, params, *spec, d);
          });
          if (!out.ok()) return Report(out.status());
          PrintOutcome(*out, say);
          return OutcomeExit(*out);
        }

        Result<ops::Procedure> procedure = Internal("no procedure");
        if (up->parsed()) procedure = ops::BuildUp(*spec, d);
        if (down->parsed()) procedure = ops::BuildDown(*spec, d);
        if (start->parsed()) procedure = ops::BuildFirstStart(*spec, d);
        if (restart->parsed()) procedure = ops::BuildRestart(*spec, d);
        if (maintain->parsed()) procedure = ops::BuildMaintain(*spec, d, *phase == "begin");
        if (scale->parsed()) {
          procedure = ops::BuildScale(*spec, d, group->empty() ? spec->nodes.front().group : *group,
                                      *count);
        }
        if (upgrade->parsed()) {
          std::filesystem::path target = std::filesystem::absolute(*to, ec);
          auto bin = ops::ReleaseBinary(target);
          if (!bin.ok()) return Report(bin.status());
          procedure = ops::BuildUpgrade(*spec, d, target.string());
        }
        if (!procedure.ok()) return Report(procedure.status());
        if (*plan) {
          std::printf("%s", ops::ProcedureEngine::Plan(*procedure).c_str());
          return kExitOk;
        }
        if (maintain->parsed() && *phase == "begin") {
          say("note: Slipway's own in-app maintenance (plugins, backups, restores, "
              "migrations) runs on a live cluster and needs no scale-down; this is the "
              "seed's procedure, for operators who want it.");
        }
        // What clients see through the load balancer while it runs.
        std::optional<ops::DowntimeWatch> watch;
        if (upgrade->parsed() && drivers.balancer) watch.emplace(spec->lb_port);
        auto out = engine.Run(*procedure);
        if (!out.ok()) return Report(out.status());
        PrintOutcome(*out, say);
        if (watch) {
          ops::DowntimeWatch::Seen seen = watch->Stop();
          char line[300];
          std::snprintf(line, sizeof(line),
                        "downtime seen through the load balancer: %.2f s (%lld requests: "
                        "%lld 200, %lld 503 maintenance, %lld other%s%s)",
                        seen.downtime_s(), static_cast<long long>(seen.requests),
                        static_cast<long long>(seen.ok), static_cast<long long>(seen.maintenance),
                        static_cast<long long>(seen.other),
                        seen.other_example.empty() ? "" : ", e.g. ", seen.other_example.c_str());
          say(line);
        }
        return OutcomeExit(*out);
      }};
}

}  // namespace slipway::cli
