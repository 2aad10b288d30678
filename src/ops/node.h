// NodeProcedures: what a serving node does besides answering requests (DESIGN section 3, "First
// start"): install an empty database or upgrade an older one under the schema lock (or wait
// while another node does), join the cluster, and follow the cluster afterwards: reload when it
// changes, stop serving when another node upgraded the schema past this binary (version
// fencing), go out of service when it cannot apply what the cluster enabled and come back when it
// can.
//
// Thread-safety: StartUp runs on a thread of its own; Refresh and OnSnapshot may run on any
// thread (the sync bus, the poller, a request that made a change).
#pragma once

#include <functional>

#include "api/lifecycle.h"
#include "api/services_impl.h"
#include "cluster/cluster_node.h"
#include "core/semver.h"
#include "db/schema_lock.h"
#include "ops/installer.h"

namespace slipway::ops {

class NodeProcedures {
 public:
  // `installer_options` builds the installer's options (migrations depend on what the database
  // holds, so they are made when needed). `cluster` may be null (no cluster membership).
  NodeProcedures(db::Pool& pool, db::SchemaLock& schema_lock, api::Lifecycle& lifecycle,
                 api::ServicesImpl& services, cluster::ClusterNode* cluster, core::SemVer version,
                 std::function<InstallerOptions(ProgressFn)> installer_options)
      : pool_(pool),
        schema_lock_(schema_lock),
        lifecycle_(lifecycle),
        services_(services),
        cluster_(cluster),
        version_(std::move(version)),
        installer_options_(std::move(installer_options)) {}

  // The first start (or upgrade) and joining; ends with the node `running`, or in `error` with
  // the reason (the process stays up and answers 503 saying why), or at once when it is stopping.
  // A start that must not go on (another live process has this NODE_ID) calls `on_fatal` with
  // the reason, which stops the process.
  void StartUp(SchemaInfo info);
  void OnFatal(std::function<void(const Status&)> fn) { on_fatal_ = std::move(fn); }
  // Applies the cluster's current state here; a schema newer than this binary makes the node
  // `outdated`. Returns the epoch applied.
  Result<int64_t> Refresh();
  // After every published snapshot: records the applied epoch; out of service while an enabled
  // plugin cannot be loaded here, back in service when it can.
  void OnSnapshot(const api::Snapshot& snap);

 private:
  // Needs a worker id; while the cluster's adapters (Redis) cannot be reached, waits with backoff
  // (503 APP_INITIALIZING saying why) until they can or the node is stopped.
  Status JoinCluster();

  db::Pool& pool_;
  db::SchemaLock& schema_lock_;
  api::Lifecycle& lifecycle_;
  api::ServicesImpl& services_;
  cluster::ClusterNode* cluster_;
  core::SemVer version_;
  std::function<InstallerOptions(ProgressFn)> installer_options_;
  std::function<void(const Status&)> on_fatal_;
};

}  // namespace slipway::ops
