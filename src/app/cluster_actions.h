// cluster:status, cluster:nodes and maintenance:on|off|status: what the cluster is and the gate
// that puts every node into maintenance at once. All need a role that may configure, and stay
// reachable while the cluster is in maintenance.
#pragma once

#include <functional>

#include "app/actions.h"
#include "app/cluster_node.h"

namespace slipway::app {

// `cluster` returns this node's ClusterNode, or null when it is not serving.
void RegisterClusterActions(ActionRegistry& registry, std::function<ClusterNode*()> cluster);

}  // namespace slipway::app
