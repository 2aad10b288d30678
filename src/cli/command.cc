#include "cli/command.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>

#include "cli/exit_code.h"
#include "core/clock.h"
#include "core/logging.h"

namespace slipway::cli {

void ConfigFlags::AddTo(CLI::App* cmd, bool server_flags) {
  cmd->add_option("--storage", storage, "Storage directory (STORAGE_PATH, default ./storage)");
  cmd->add_option("--db-storage", db_storage,
                  "SQLite database file (DB_STORAGE, default <storage>/db/slipway.sqlite)");
  cmd->add_option("--log-format", log_format, "console or json (LOG_FORMAT)");
  if (server_flags) {
    cmd->add_option("--host", host, "Address to listen on (APP_HOST, default 0.0.0.0)");
    cmd->add_option("--port", port, "Port to listen on (APP_PORT, default 13000)");
    cmd->add_flag(
        "--no-auto-upgrade", no_auto_upgrade,
        "Refuse to start on an older schema instead of upgrading it (AUTO_UPGRADE=false)");
  }
}

Result<core::Config> ConfigFlags::Load() const {
  ASSIGN_OR_RETURN(core::Config config, core::Config::Load(core::ProcessEnvironment()));
  if (host) config.host = *host;
  if (port) {
    if (*port < 0 || *port > 65535) {
      return InvalidArgument("--port " + std::to_string(*port) + " is not a port (0-65535)");
    }
    config.port = static_cast<uint16_t>(*port);
  }
  if (storage) config.storage_path = *storage;
  if (db_storage) config.db.storage = *db_storage;
  if (log_format) {
    if (*log_format != "json" && *log_format != "console") {
      return InvalidArgument("--log-format '" + *log_format + "' is not console or json");
    }
    config.log_format = *log_format == "json" ? core::LogFormat::kJson : core::LogFormat::kConsole;
  }
  if (no_auto_upgrade) config.auto_upgrade = false;
  RETURN_IF_ERROR(config.Finish());
  return config;
}

void InitLogging(const core::Config& config, const app::Distribution& dist, bool one_shot) {
  core::log::Options options;
  options.format = config.log_format;
  options.level = config.log_level;
  if (one_shot && isatty(2) && config.log_level == "info") options.level = "warn";
  options.node_id = config.node_id;
  options.version = std::string(dist.build.version);
  core::log::Init(options);
}

int Main(int argc, char** argv, const app::Distribution& dist) {
  CLI::App root("Slipway: a NocoBase-compatible application server built to run as a cluster.",
                "slipway");
  root.require_subcommand(1);
  root.set_version_flag("--version", std::string("slipway ") + std::string(dist.build.version));
  std::vector<Command> commands = {
      AddServe(root, dist),   AddInstall(root, dist), AddUpgrade(root, dist),
      AddVersion(root, dist), AddPm(root, dist),      AddMaintenance(root, dist),
      AddCluster(root, dist), AddBackup(root, dist),  AddMigration(root, dist)};
  try {
    root.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = root.exit(e);  // prints help, version or the parse error
    return code == 0 ? kExitOk : kExitUsage;
  }
  int exit_code = kExitInternal;
  for (const Command& c : commands) {
    if (c.app->parsed()) exit_code = c.run();
  }
  core::log::Shutdown();
  return exit_code;
}

Result<std::string> ReadPasswordFile(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path);
  if (!in) return InvalidArgument("cannot read the password file '" + path + "'");
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty()) return InvalidArgument("the password file '" + path + "' is empty");
  return line;
}

void PrintArchives(const std::vector<ops::ArchiveFile>& found, const std::string& what,
                   const std::filesystem::path& dir) {
  for (const ops::ArchiveFile& f : found) {
    std::printf("%s  %s  %s\n", f.name.c_str(), Mib(f.size).c_str(),
                core::UtcText(static_cast<std::time_t>(f.modified_s)).c_str());
  }
  if (found.empty()) std::printf("no %s in %s\n", what.c_str(), dir.c_str());
}

std::string Mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

}  // namespace slipway::cli
