// `slipway maintenance on|off [--message M]` and `slipway cluster status`: the cluster's gate and
// what the cluster is, from any machine that reaches its database.
#include <cstdio>

#include "cli/command.h"
#include "cli/exit_code.h"

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

Command AddCluster(CLI::App& root, const app::Distribution& dist) {
  auto* cmd = root.add_subcommand("cluster", "The cluster: state, schema version, epoch, nodes");
  cmd->require_subcommand(1);
  auto flags = std::make_shared<ConfigFlags>();
  flags->AddTo(cmd, /*server_flags=*/false);
  auto* status = cmd->add_subcommand("status", "Show the cluster and every node");
  status->fallthrough();
  auto as_json = std::make_shared<bool>(false);
  status->add_flag("--json", *as_json, "Print JSON");
  return {cmd, [=, &dist]() -> int {
            auto config = flags->Load();
            if (!config.ok()) return Report(config.status());
            InitLogging(*config, dist, /*one_shot=*/true);
            app::Application application(*config, dist);
            auto s = application.ClusterStatus();
            if (!s.ok()) return Report(s.status());
            if (*as_json) {
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
            std::printf("%-24s %-22s %-8s %-6s %-16s %-8s %s\n", "NODE", "ADDRESS", "VERSION",
                        "WORKER", "STATE", "EPOCH", "HEARTBEAT");
            for (const auto& v : o.at("nodes").as_array()) {
              const json::object& n = v.as_object();
              char age[32];
              std::snprintf(age, sizeof(age), "%.1fs ago%s",
                            n.at("heartbeatAgeSeconds").as_double(),
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
          }};
}

}  // namespace slipway::cli
