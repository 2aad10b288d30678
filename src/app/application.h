// Application: the composition root. It wires configuration, the database, the schema lock,
// the plugins, the lifecycle, the actions and the HTTP server together, and runs the three
// top-level procedures: serve, install and upgrade. It owns no business logic of its own.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/actions.h"
#include "app/cluster_node.h"
#include "app/installer.h"
#include "app/lifecycle.h"
#include "app/plugin_api.h"
#include "app/plugin_manager.h"
#include "app/services_impl.h"
#include "core/build_info.h"
#include "core/config.h"
#include "core/semver.h"
#include "db/database.h"
#include "db/migration.h"
#include "db/schema_lock.h"

namespace slipway::app {

// What differs between the product binary and the test-only binaries built for upgrade tests.
struct Distribution {
  core::BuildInfo build;
  std::vector<db::Migration> extra_migrations;  // appended to the core's
  // The built-in plugins, in load order (a plugin after those it depends on), with the preset.
  std::function<std::vector<BuiltinPlugin>()> builtins;
};

class Application {
 public:
  Application(core::Config config, Distribution distribution);
  ~Application();

  // Serves until SIGINT or SIGTERM, then drains and returns OK. Before binding the port it
  // refuses a database newer than the binary (and an older one when AUTO_UPGRADE is off); after
  // that, install or upgrade failures leave the node up in state `error`, answering 503 with the
  // reason, until it is stopped.
  Status Serve();
  Status Install(bool force, ProgressFn progress);
  Status Upgrade(ProgressFn progress);

  const core::SemVer& version() const { return version_; }

  // The plugin manager, for the CLI's `slipway pm`: refuses unless the database is installed
  // and at this binary's version.
  Result<PluginManager*> Plugins();
  // For `slipway maintenance on|off`: sets the cluster's gate, signals the nodes and waits until
  // every live node applied it.
  Status SetClusterGate(const std::string& state, const std::string& message);
  // For `slipway cluster status`: the cluster row and the node registry.
  Result<boost::json::object> ClusterStatus();

 private:
  // Opens the database, settles APP_KEY and loads the plugins. Idempotent.
  Status Prepare();
  Status OpenDatabase();
  Status EnsureAppKey();
  InstallerOptions MakeInstallerOptions(ProgressFn progress) const;
  // Re-reads the epoch every SYNC_POLL_INTERVAL and reloads when another process changed it.
  void PollEpoch(std::atomic<bool>* stop);
  // Reloads the snapshot; a schema newer than this binary makes the node `outdated`.
  Result<int64_t> Refresh();
  // After every published snapshot: records the applied epoch, takes the node out of service
  // when it could not load an enabled plugin (and back when it can again).
  void OnSnapshot(const Snapshot& snap);
  void RegisterCoreActions();
  void StartUp(SchemaInfo info);  // runs on its own thread during Serve
  Status JoinCluster();
  Status WaitForStopSignal();

  core::Config config_;
  Distribution distribution_;
  core::SemVer version_;
  std::unique_ptr<db::Pool> pool_;
  std::unique_ptr<db::SchemaLock> schema_lock_;
  std::unique_ptr<ServicesImpl> services_;
  std::unique_ptr<PluginManager> plugins_;
  std::unique_ptr<ClusterNode> cluster_;  // serve only
  ActionRegistry core_actions_;
  Lifecycle lifecycle_;
  bool prepared_ = false;
};

}  // namespace slipway::app
