// `slipway serve` (alias `start`): run a node until SIGINT/SIGTERM. `--pid-file F`: the node
// writes "<pid> <start time>" there before anything else (ops/process.h), so that whoever started
// it finds it even if it was killed right after starting it (`slipway cluster`).
#include "cli/command.h"
#include "cli/exit_code.h"
#include "ops/process.h"

namespace slipway::cli {

Command AddServe(CLI::App& root, const app::Distribution& dist) {
  auto* cmd = root.add_subcommand(
      "serve", "Run a node: install an empty database, upgrade an older one, then serve the API");
  cmd->alias("start");
  auto flags = std::make_shared<ConfigFlags>();
  flags->AddTo(cmd, /*server_flags=*/true);
  auto pid_file = std::make_shared<std::string>();
  cmd->add_option("--pid-file", *pid_file, "Write this process's pid (and start time) here first");
  return {cmd, [flags, pid_file, &dist] {
            if (!pid_file->empty()) {
              Status written = ops::WritePidFile(*pid_file, ops::ThisProcess());
              if (!written.ok()) return Report(written);
            }
            auto config = flags->Load();
            if (!config.ok()) return Report(config.status());
            InitLogging(*config, dist, /*one_shot=*/false);
            app::Application application(*config, dist);
            return Report(application.Serve());
          }};
}

}  // namespace slipway::cli
