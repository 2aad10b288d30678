// The drivers a procedure calls (DESIGN section 9) and never looks behind: an Orchestrator runs
// the nodes and the releases, a LoadBalancer routes clients to them, a ClusterProbe checks what
// the nodes serve. Local processes with HAProxy or nginx come first; Kubernetes (kubectl, a
// Service) and systemd units later, behind the same interfaces. Each call returns when what it
// asked for is done or has failed (a node started means it answers its health check).
#pragma once

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "ops/cluster_spec.h"
#include "slipway/status.h"

namespace slipway::ops {

struct NodeStatus {
  std::string id;
  bool running = false;
  bool healthy = false;  // ready: answers GET /api/__health_check (200, or "takes no requests")
  bool failed = false;   // in a state it does not leave by itself (a failed upgrade)
  int pid = 0;           // where the driver knows it
  std::string detail;    // what the health check said when not healthy
};

class Orchestrator {
 public:
  virtual ~Orchestrator() = default;
  // The release the nodes start from (a binary, or a release directory).
  virtual Result<std::string> Release() = 0;
  // The release later starts use.
  virtual Status UseRelease(const std::string& release) = 0;
  // The version a release reports (`slipway version`).
  virtual Result<std::string> VersionOf(const std::string& release) = 0;
  // Starts a node and waits until it is healthy (or fails with its log's last lines); a node
  // that runs and is healthy already is fine.
  virtual Status Start(const std::string& node) = 0;
  // Stops a node gracefully (SIGTERM, its grace period, then SIGKILL); a stopped node is fine.
  virtual Status Stop(const std::string& node) = 0;
  virtual Result<std::vector<NodeStatus>> Nodes() = 0;
  // With every node stopped: a backup of the whole application made by `release`, written to
  // `path`. Returns the backup's manifest (its `rowCounts` per collection).
  virtual Result<boost::json::object> Backup(const std::string& release,
                                             const std::string& path) = 0;
  // With every node stopped: the database and files put back as `path` holds them, by
  // `release` (the one that made the backup), whatever a newer release did to them since.
  virtual Status Restore(const std::string& release, const std::string& path) = 0;
};

class LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;
  // Routing set up for `nodes` (those of the spec that serve requests, or fewer after a scale
  // down): configuration written, started or reloaded; a running one keeps its maintenance page
  // and each node's state.
  virtual Status Up(const std::vector<ClusterNode>& nodes) = 0;
  // No more routing (requests under way finish).
  virtual Status Down() = 0;
  // {"kind", "port", "pid" (0: not running), "maintenance", "servers": {node: state}}
  virtual Result<boost::json::object> Describe() = 0;
  // On: every client request is answered by the load balancer itself with 503 and NocoBase's
  // maintenance body. Off: requests go to the enabled nodes again.
  virtual Status SetMaintenance(bool on) = 0;
  // No new requests to the node; those under way finish.
  virtual Status Drain(const std::string& node) = 0;
  virtual Status Enable(const std::string& node) = 0;
};

// What the nodes serve, read through one node's API as the first administrator.
class ClusterProbe {
 public:
  virtual ~ClusterProbe() = default;
  // {"version": "...", "plugins": {name: version}, "counts": {collection: rows}}: what an
  // upgrade compares before and after (every collection's first page read on the way, its row
  // count exact).
  // Without `counts`, the version and plugins only (no collection is read).
  virtual Result<boost::json::object> Observe(const std::string& node, bool counts) = 0;
  // Each request answered with its status; FailedPrecondition naming the first that is not.
  virtual Status Smoke(const std::string& node, const std::vector<SmokeRequest>& requests) = 0;
};

// What a procedure drives.
struct ClusterDrivers {
  Orchestrator& orchestrator;
  LoadBalancer* load_balancer;  // null: none
  ClusterProbe& probe;
};

}  // namespace slipway::ops
