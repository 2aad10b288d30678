// ClusterNode: this node's part in the cluster (DESIGN section 2).
//
// - The node registry: a row in slipway_nodes (id, address, version, worker id, state, applied
//   epoch), written at start, on every heartbeat (HEARTBEAT_INTERVAL) and at once when the node
//   applies a new epoch; removed on a clean stop. A node is live while its heartbeat is younger
//   than NODE_LIVE_TIMEOUT, judged by the database's clock (nodes' clocks do not matter).
// - The sync signal: after a local change commits, an "epoch" message goes out on the sync bus;
//   a message from another node makes this one reload. Polling the epoch every
//   SYNC_POLL_INTERVAL covers lost messages and a bus that is down.
// - Confirmation: AnnounceAndConfirm waits until every live, running node reports an applied
//   epoch at least as new, which is how a change made through one node is known to be in force
//   on all of them; nodes that do not confirm within CLUSTER_CONFIRM_TIMEOUT are named.
// - The worker id: leased at Start() (worker_id_lease.h keeps it), shown in the registry, and
//   asked for before every Snowflake id (WorkerIdForIssuing).
//
// Thread-safe. Start() launches the heartbeat and polling threads and subscribes; Stop() ends
// them and unregisters.
#pragma once

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/adapters.h"
#include "cluster/announcer.h"
#include "core/config.h"
#include "db/database.h"

namespace slipway::cluster {

struct NodeInfo {
  std::string id, address, version, state;
  int worker_id = -1;
  int64_t applied_epoch = 0;
  double heartbeat_age_s = 0;  // by the database's clock
  bool live = false;
  std::string started_at, heartbeat_at;
};

// Every row of slipway_nodes, with liveness judged by the database's clock.
Result<std::vector<NodeInfo>> ListNodes(db::Connection& conn,
                                        std::chrono::milliseconds live_timeout);
boost::json::object NodeJson(const NodeInfo& n);

// Waits until every live, running node reports an applied epoch of at least `epoch`;
// DeadlineExceeded (CLUSTER_UNCONFIRMED) names those that did not within `timeout`.
Status WaitUntilApplied(db::Pool& pool, int64_t epoch, std::chrono::milliseconds live_timeout,
                        std::chrono::milliseconds timeout);

class ClusterNode final : public ChangeAnnouncer {
 public:
  // `state` reports the node's lifecycle state for the registry; `reload` makes it apply the
  // current epoch (it returns the epoch it applied); `plugin_message` delivers a plugin's sync
  // message to the plugin.
  struct Hooks {
    std::function<std::string()> state;
    std::function<Result<int64_t>()> reload;
    std::function<void(std::string_view plugin, const boost::json::value& body)> plugin_message;
  };

  ClusterNode(const core::Config& config, std::string version, db::Pool& pool, Adapters adapters,
              Hooks hooks);
  ~ClusterNode();

  Status Start();
  void Stop();

  // This node applied `epoch` (called after every published snapshot).
  void Applied(int64_t epoch);
  // This node's state changed (it began serving, left service): the registry says so at once,
  // not at the next heartbeat.
  void StateChanged();
  Status AnnounceAndConfirm(int64_t epoch) override;
  Status PublishPluginMessage(std::string_view plugin, const boost::json::value& message) override;

  Result<std::vector<NodeInfo>> Nodes();
  // Adapters and this node, for cluster:status.
  boost::json::object AdapterStatus() const;
  int worker_id() const { return worker_id_.load(); }
  // The worker id to issue the next Snowflake id under, or Unavailable saying why there is none
  // (WorkerIdLease::IdForIssuing).
  Result<int> WorkerIdForIssuing() { return adapters_.worker_ids->IdForIssuing(); }
  const std::string& id() const { return config_.node_id; }

 private:
  Status WriteRow(bool starting);
  void HeartbeatLoop();
  void PollLoop();
  void KeepWorkerId();
  void OnSync(const boost::json::value& message);

  const core::Config& config_;
  const std::string version_;
  const std::string address_;
  db::Pool& pool_;
  Adapters adapters_;
  Hooks hooks_;
  std::atomic<int64_t> applied_{0};
  std::atomic<int> worker_id_{-1};
  std::mutex write_mu_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  std::thread heartbeat_;
  std::thread poller_;
  bool started_ = false;
};

// Tells the nodes about a change made from outside any of them (a command of the CLI on the
// cluster's database): the sync signal on the bus, then the same confirmation as a node's.
class OutsiderAnnouncer final : public ChangeAnnouncer {
 public:
  OutsiderAnnouncer(const core::Config& config, db::Pool& pool, Adapters adapters)
      : config_(config), pool_(pool), adapters_(std::move(adapters)) {}
  Status AnnounceAndConfirm(int64_t epoch) override;
  Status PublishPluginMessage(std::string_view plugin, const boost::json::value& message) override;

 private:
  const core::Config& config_;
  db::Pool& pool_;
  Adapters adapters_;
};

}  // namespace slipway::cluster
