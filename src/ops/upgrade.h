// The upgrade procedure (issue 15; the seed's version upgrade, as steps on the procedure engine):
//
//   1. observe          the version and plugins through a healthy node, the release
//                       in place and the version the new one reports
//   2. maintenance-on   the load balancer answers 503 itself          (undo: off again)
//   3. stop-nodes       each node drained at the load balancer, then stopped
//                                                                   (undo: every node started)
//   4. backup           a backup of everything by the release in place, nodes stopped
//   5. use-new-release  the new release in place                  (undo: the previous one back)
//   6. start-first      one node of the new release, which migrates under the schema lock;
//                       checked: healthy, the expected version, every plugin there at its
//                       version or later, every collection readable with its row count
//                       unchanged, the spec's smoke requests
//                       (undo: that node stopped, the backup restored by the previous release)
//   7. start-rest       the other nodes, and every node serving requests enabled at the load
//                       balancer                                  (undo: those nodes stopped)
//   8. maintenance-off  clients reach the nodes again
//
// A failed step or check rolls back through the undos in reverse: the new node stopped, the
// backup restored, the previous release back, the nodes started, the load balancer back.
#pragma once

#include <string>

#include "ops/cluster_spec.h"
#include "ops/drivers.h"
#include "ops/procedure.h"

namespace slipway::ops {

// The procedure for params {"to": release}. Its steps only call the drivers and the spec.
Procedure BuildUpgrade(const ClusterSpec& spec, ClusterDrivers drivers, const std::string& to);

// What an upgraded node must show against what was observed before: the expected version, every
// plugin at its version or later, the same collections with the same row counts.
// FailedPrecondition naming the first difference.
Status CompareObservations(const boost::json::object& before, const boost::json::object& after,
                           const std::string& expected_version);

}  // namespace slipway::ops
