// ChangeAnnouncer: how a cluster-wide change, once committed, is made known to the other nodes
// and confirmed (DESIGN section 2, rule 4). Implemented by ClusterNode for a serving node, and by
// OutsiderAnnouncer for a command that changes the cluster from outside any node (the CLI).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string_view>

#include "slipway/status.h"

namespace slipway::cluster {

class ChangeAnnouncer {
 public:
  virtual ~ChangeAnnouncer() = default;
  // Tells the other nodes that the cluster is at `epoch`, and waits until every live, running
  // node applied it. DeadlineExceeded (CLUSTER_UNCONFIRMED) names the nodes that did not within
  // CLUSTER_CONFIRM_TIMEOUT; the change itself stays committed.
  virtual Status AnnounceAndConfirm(int64_t epoch) = 0;
  // Waits until no live, running node holds a snapshot older than `epoch` (a removal's second
  // phase may then drop what the change removed). DeadlineExceeded names the nodes that still
  // did after CLUSTER_CONFIRM_TIMEOUT.
  virtual Status WaitUntilDrained(int64_t epoch) = 0;
  // The oldest epoch any live, running node may still be using (for removals left unfinished).
  virtual Result<int64_t> DrainedFloor() = 0;
  // Sends a plugin's message to the same plugin on the other nodes.
  virtual Status PublishPluginMessage(std::string_view plugin,
                                      const boost::json::value& message) = 0;
};

}  // namespace slipway::cluster
