// What every subcommand shares: the distribution being run, the configuration flags that
// override the environment, and how a subcommand is registered.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>

#include "app/application.h"
#include "cli/main.h"
#include "core/config.h"
#include "ops/ops_util.h"

namespace slipway::cli {

// Flags that override environment variables; unset flags leave the environment's value.
struct ConfigFlags {
  std::optional<std::string> host;
  std::optional<int> port;
  std::optional<std::string> storage;
  std::optional<std::string> db_storage;
  std::optional<std::string> log_format;
  bool no_auto_upgrade = false;

  void AddTo(CLI::App* cmd, bool server_flags);
  // Environment, then these flags, then derived defaults; InvalidArgument names what was wrong.
  Result<core::Config> Load() const;
};

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// Sets up logging for a command: the configured format; on a terminal, one-shot commands show
// a progress bar instead of info lines.
void InitLogging(const core::Config& config, const app::Distribution& dist, bool one_shot);

Command AddServe(CLI::App& root, const app::Distribution& dist);
Command AddInstall(CLI::App& root, const app::Distribution& dist);
Command AddUpgrade(CLI::App& root, const app::Distribution& dist);
Command AddVersion(CLI::App& root, const app::Distribution& dist);
Command AddPm(CLI::App& root, const app::Distribution& dist);
Command AddMaintenance(CLI::App& root, const app::Distribution& dist);
Command AddCluster(CLI::App& root, const app::Distribution& dist);
Command AddBackup(CLI::App& root, const app::Distribution& dist);
Command AddMigration(CLI::App& root, const app::Distribution& dist);

// The first line of a password file (a password never goes on a command line); empty for no
// file. InvalidArgument for a file that cannot be read or is empty.
Result<std::string> ReadPasswordFile(const std::string& path);
// "12.3 MiB".
std::string Mib(uint64_t bytes);
// Prints a folder's archives, one line each (name, size, time), newest first, or that there are
// none ("no <what> in <dir>").
void PrintArchives(const std::vector<ops::ArchiveFile>& found, const std::string& what,
                   const std::filesystem::path& dir);

}  // namespace slipway::cli
