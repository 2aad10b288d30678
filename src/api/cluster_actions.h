// cluster:status, cluster:nodes and maintenance:on|off|status: what the cluster is and the gate
// that puts every node into maintenance at once. All need a role that may configure, and stay
// reachable while the cluster is in maintenance.
#pragma once

#include <functional>

#include "api/action_registry.h"
#include "api/services.h"
#include "cluster/cluster_node.h"

namespace slipway::api {

// `cluster` returns this node's ClusterNode, or null when it is not serving.
void RegisterClusterActions(ActionRegistry& registry,
                            std::function<cluster::ClusterNode*()> cluster);

// The cluster's gate ("running", "maintenance", ...) with its message, as a cluster-wide change:
// in force on every live node when it returns. Used by maintenance:on|off and the CLI.
Status SetClusterGate(Services& services, const std::string& state, const std::string& message);

}  // namespace slipway::api
