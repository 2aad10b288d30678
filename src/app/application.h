// Application: the composition root. It wires the modules together (the database, APP_KEY, the
// plugins, the services, the cluster node, the API handler and the HTTP server) and exposes the
// entry points the CLI runs: serve, install, upgrade, the plugin manager, the cluster's gate and
// status. Behaviour lives in the modules: the request path in src/api, plugins in src/plugins,
// the node's start-up and the installer in src/ops, the cluster in src/cluster.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/action_registry.h"
#include "api/lifecycle.h"
#include "api/services_impl.h"
#include "app/distribution.h"
#include "cluster/cluster_node.h"
#include "core/build_info.h"
#include "core/config.h"
#include "core/semver.h"
#include "db/migration.h"
#include "db/open.h"
#include "ops/backup.h"
#include "ops/backup_manager.h"
#include "ops/installer.h"
#include "ops/migration_manager.h"
#include "ops/node.h"
#include "ops/task_runner.h"
#include "ops/task_store.h"
#include "plugins/plugin_manager.h"

namespace slipway::app {

class Application {
 public:
  Application(core::Config config, Distribution distribution);
  ~Application();

  // Serves until SIGINT or SIGTERM, then drains and returns OK. Before binding the port it
  // refuses a database newer than the binary (and an older one when AUTO_UPGRADE is off); after
  // that, install or upgrade failures leave the node up in state `error`, answering 503 with the
  // reason, until it is stopped.
  Status Serve();
  Status Install(bool force, ops::ProgressFn progress);
  Status Upgrade(ops::ProgressFn progress);

  const core::SemVer& version() const { return version_; }

  // The plugin manager, for the CLI's `slipway pm`: refuses unless the database is installed
  // and at this binary's version. Its changes are announced to the running nodes.
  Result<plugins::PluginManager*> Plugins();
  // For `slipway maintenance on|off`: sets the cluster's gate, signals the nodes and waits until
  // every live node applied it.
  Status SetClusterGate(const std::string& state, const std::string& message);
  // For `slipway backup create`: a backup of the database and the uploads as they are now, from
  // one snapshot (nodes may go on serving). The output defaults to
  // <STORAGE_PATH>/backups/backup_<time>.slwbak.
  Result<ops::BackupSummary> CreateBackup(ops::BackupOptions options);
  // For `slipway backup restore`: restores a backup file (params as the restore task takes
  // them: path, password, disableMissingPlugins, safetyBackup) as a task this process holds,
  // with or without running nodes (they are gated and reload after it, as for backups:restore).
  Result<ops::TaskRecord> RestoreBackup(boost::json::object params,
                                        std::function<void(const ops::TaskProgress&)> observe);
  // For `slipway migration export|import`: a package of this environment (rules as given), the
  // dry run's diff of a package against it, and the import as a task this process holds (with or
  // without running nodes, which load the result as for migrations:execute).
  Result<ops::BackupSummary> ExportMigration(ops::ExportOptions options);
  Result<ops::MigrationDiff> CheckMigration(const ops::ImportRequest& request);
  Result<ops::TaskRecord> ImportMigration(boost::json::object params,
                                          std::function<void(const ops::TaskProgress&)> observe);
  // For `slipway cluster status`: the cluster row and the node registry.
  Result<boost::json::object> ClusterStatus();

 private:
  // Opens the database, settles APP_KEY, loads the plugins and wires the services. Idempotent.
  Status Prepare();
  Status OpenDatabase();  // idempotent
  // The opened database, for the cluster adapters.
  cluster::DatabaseAccess ClusterDatabase() const;
  ops::InstallerOptions MakeInstallerOptions(ops::ProgressFn progress) const;
  void RegisterCoreActions();
  // A command that changes the cluster from outside any node tells the nodes through this.
  Status AnnounceFromOutside();
  // The stop signal received (SIGINT or SIGTERM), waiting at most `timeout` (forever: -1).
  int WaitForStopSignal(std::chrono::milliseconds timeout = std::chrono::milliseconds(-1));

  core::Config config_;
  Distribution distribution_;
  core::SemVer version_;
  db::OpenedDatabase db_;
  std::unique_ptr<api::ServicesImpl> services_;
  std::unique_ptr<plugins::PluginManager> plugins_;
  std::unique_ptr<cluster::ChangeAnnouncer> outsider_;  // CLI commands
  std::unique_ptr<cluster::ClusterNode> cluster_;       // serve only
  std::unique_ptr<ops::NodeProcedures> node_;           // serve only
  std::unique_ptr<ops::TaskStore> tasks_;               // durable tasks (DESIGN section 8)
  std::unique_ptr<ops::TaskRunner> task_runner_;        // serve only
  std::unique_ptr<ops::BackupManager> backups_;         // backups and restores (issue 13)
  std::unique_ptr<ops::MigrationManager> migrations_;   // environment migration (issue 14)
  api::ActionRegistry core_actions_;
  api::Lifecycle lifecycle_;
  bool prepared_ = false;
  std::mutex fatal_mu_;
  Status fatal_;  // why start-up stopped the process (serve's exit status)
};

}  // namespace slipway::app
