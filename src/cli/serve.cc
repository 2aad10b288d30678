// `slipway serve` (alias `start`): run a node until SIGINT/SIGTERM.
#include "cli/command.h"
#include "cli/exit_code.h"

namespace slipway::cli {

Command AddServe(CLI::App& root, const app::Distribution& dist) {
  auto* cmd = root.add_subcommand(
      "serve", "Run a node: install an empty database, upgrade an older one, then serve the API");
  cmd->alias("start");
  auto flags = std::make_shared<ConfigFlags>();
  flags->AddTo(cmd, /*server_flags=*/true);
  return {cmd, [flags, &dist] {
            auto config = flags->Load();
            if (!config.ok()) return Report(config.status());
            InitLogging(*config, dist, /*one_shot=*/false);
            app::Application application(*config, dist);
            return Report(application.Serve());
          }};
}

}  // namespace slipway::cli
