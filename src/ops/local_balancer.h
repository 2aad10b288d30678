// The load balancers of drivers.h that run on this host beside the nodes, configured and started
// by `slipway cluster` from the spec: HAProxy or nginx in front of the nodes that serve requests
// (by their WORKER_MODE). Their files live in <state>/lb/.
//
// HAProxy: active health checks on /api/__health_check; the
// runtime API on the spec's admin socket drains a node (no new requests; Drain returns once
// those under way are done), puts it in maintenance and brings it back (Enable returns once
// HAProxy sees it UP); the maintenance page is answered by HAProxy itself (an ACL file the
// runtime API switches, NocoBase's 503 body, or an HTML page for a browser), as is the same page
// when no node is up; an idempotent request (GET, HEAD) that meets a closed connection is
// retried on another node. A reload (a node added) hands the listening socket over (`-x`) and
// keeps every server's state (a server-state file).
//
// nginx: a generated configuration (an upstream of the serving nodes, passive checks), the
// maintenance page and a drained node by rewriting it and a reload (HUP; old workers finish the
// requests they have, and each change returns once they are gone).
#pragma once

#include <boost/json.hpp>
#include <memory>

#include "ops/cluster_spec.h"
#include "ops/drivers.h"

namespace slipway::ops {

// The spec's load balancer; null for kind "none".
std::unique_ptr<LoadBalancer> MakeLocalBalancer(const ClusterSpec& spec);

}  // namespace slipway::ops
