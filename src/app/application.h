// Application: the composition root. It wires configuration, the database, the schema lock, the
// lifecycle, the actions and the HTTP server together, and runs the three top-level procedures:
// serve, install and upgrade. It owns no business logic of its own.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "app/actions.h"
#include "app/installer.h"
#include "app/lifecycle.h"
#include "core/build_info.h"
#include "core/config.h"
#include "core/semver.h"
#include "core/thread_pool.h"
#include "db/database.h"
#include "db/migration.h"
#include "db/schema_lock.h"
#include "http/server.h"

namespace slipway::app {

// What differs between the product binary and the test-only binaries built for upgrade tests.
struct Distribution {
  core::BuildInfo build;
  std::vector<db::Migration> extra_migrations;  // appended to the core's
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

  // For tests and the CLI: the version this binary is.
  const core::SemVer& version() const { return version_; }

 private:
  Status OpenDatabase();
  InstallerOptions MakeInstallerOptions(ProgressFn progress) const;
  void RegisterBuiltinActions();
  void StartUp(SchemaInfo info);  // runs on its own thread during Serve
  Status WaitForStopSignal();

  core::Config config_;
  Distribution distribution_;
  core::SemVer version_;
  std::unique_ptr<db::Pool> pool_;
  std::unique_ptr<db::SchemaLock> schema_lock_;
  Lifecycle lifecycle_;
  ActionRegistry actions_;
  std::string schema_version_;  // written by the start-up thread before state becomes running
};

}  // namespace slipway::app
