// Application: the composition root. It wires configuration, the database, the schema lock,
// the plugins, the lifecycle, the actions and the HTTP server together, and runs the three
// top-level procedures: serve, install and upgrade. It owns no business logic of its own.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/installer.h"
#include "app/lifecycle.h"
#include "app/plugin_api.h"
#include "app/plugin_registry.h"
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
  // The built-in plugins, in load order (a plugin after those it depends on).
  std::function<std::vector<std::unique_ptr<Plugin>>()> plugins;
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

 private:
  // Opens the database, settles APP_KEY and loads the plugins. Idempotent.
  Status Prepare();
  Status OpenDatabase();
  Status EnsureAppKey();
  InstallerOptions MakeInstallerOptions(ProgressFn progress) const;
  void RegisterCoreActions();
  void StartUp(SchemaInfo info);  // runs on its own thread during Serve
  Status WaitForStopSignal();

  core::Config config_;
  Distribution distribution_;
  core::SemVer version_;
  std::unique_ptr<db::Pool> pool_;
  std::unique_ptr<db::SchemaLock> schema_lock_;
  std::vector<std::unique_ptr<Plugin>> plugins_;
  PluginRegistry registry_;
  std::unique_ptr<ServicesImpl> services_;
  Lifecycle lifecycle_;
  bool prepared_ = false;
};

}  // namespace slipway::app
