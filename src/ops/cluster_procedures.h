// The procedures of `slipway cluster` other than the upgrade (upgrade.h), as steps on the
// procedure engine (procedure.h) over the drivers (drivers.h), and the moves they all share:
//
//   up        every node started together (one installs or migrates, the others wait for
//             it), the load balancer up, every node that serves requests enabled there
//   down      every node drained at the load balancer and stopped, then the load balancer
//   start     the seed's first start, literally: one node until it is installed, its plugins
//             active and healthy; then the others; then the load balancer
//   restart   one node at a time: drained, stopped, started, enabled (clients see no error)
//   scale     a group to N nodes: new ones started and enabled, or surplus ones drained and
//             stopped; the count kept in <state>/counts.json over the spec's
//   maintain  begin: the seed's scale-down to one node for in-app maintenance (every other node
//             drained and stopped); end: those nodes back
//
// Each step's undo puts back what the step changed, so a failure or `slipway cluster resume`
// after the tool was killed leaves the cluster as it was.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ops/cluster_spec.h"
#include "ops/drivers.h"
#include "ops/net_client.h"
#include "ops/procedure.h"

namespace slipway::ops {

// The shared moves, so that every procedure drains before it stops and starts before it
// enables, in the same order.
//
// Each node of `ids` drained at the load balancer (if it is behind it), then all of them stopped
// at once.
Status StopNodes(const ClusterSpec& spec, ClusterDrivers d, const std::vector<std::string>& ids);
// Each node of `ids` started (all at once when `together`, each waited for), then those that
// serve requests enabled at the load balancer (also at once when `together`).
Status StartNodes(const ClusterSpec& spec, ClusterDrivers d, const std::vector<std::string>& ids,
                  bool together);
// Every node of the spec: those that serve requests first, in spec order.
std::vector<std::string> AllNodeIds(const ClusterSpec& spec);
// The nodes that serve requests, as the load balancer is given them.
std::vector<ClusterNode> ServingNodes(const ClusterSpec& spec);

Procedure BuildUp(const ClusterSpec& spec, ClusterDrivers d);
Procedure BuildDown(const ClusterSpec& spec, ClusterDrivers d);
Procedure BuildFirstStart(const ClusterSpec& spec, ClusterDrivers d);
Procedure BuildRestart(const ClusterSpec& spec, ClusterDrivers d);
// `spec` as it is now (counts.json applied); the group's count becomes `to`.
Result<Procedure> BuildScale(const ClusterSpec& spec, ClusterDrivers d, const std::string& group,
                             int to);
// `begin` true: down to the first node; false: the others back.
Procedure BuildMaintain(const ClusterSpec& spec, ClusterDrivers d, bool begin);

// Any procedure of `slipway cluster` from its kind and params (what Resume rebuilds from a
// journal). For "scale", `spec` is the spec before the scale (params hold the group and both
// counts).
Result<Procedure> BuildClusterProcedure(const std::string& kind, const boost::json::object& params,
                                        const ClusterSpec& spec, ClusterDrivers d);

// What clients see through the load balancer while a procedure runs: a health check through it
// every 20 ms; the downtime is from the first answer that is not 200 to the first 200 after it.
class DowntimeWatch {
 public:
  explicit DowntimeWatch(int port);
  ~DowntimeWatch();
  struct Seen {
    int64_t requests = 0, ok = 0, maintenance = 0, other = 0;  // other: not 200, not 503
    std::optional<double> first_down_s, first_up_again_s;      // from the watch's start
    std::string other_example;
    double downtime_s() const;
  };
  // Stops watching, once the load balancer answers 200 again (`up_within` at most) when it
  // stopped answering 200 at some point.
  Seen Stop(std::chrono::milliseconds up_within = std::chrono::seconds(10));

 private:
  void Note(const Result<HttpReply>& reply, double at);

  int port_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  Seen seen_;
  std::chrono::steady_clock::time_point started_;
  std::thread thread_;
};

}  // namespace slipway::ops
