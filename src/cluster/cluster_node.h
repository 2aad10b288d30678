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
//   WaitUntilDrained waits, the same way, until no node has a request in flight on an older
//   epoch (`drained_epoch`, written as soon as the last such request ends): a removal's drop.
// - Identity: each process has a random instance token. The row of a NODE_ID is taken only by
//   its instance or when its heartbeat is older than NODE_LIVE_TIMEOUT, so a second process with
//   the same NODE_ID waits at start for the first to go quiet (a crashed predecessor) and is
//   refused when it keeps heart-beating (a twin: FailedPrecondition NODE_ID_IN_USE).
// - Currency: a node serves only while it knows it is part of the cluster. Each heartbeat that
//   was written and found this node at the cluster's epoch (reloading first when behind) makes
//   it current for NODE_LIVE_TIMEOUT from the moment the heartbeat began; past that (a node
//   frozen, cut off from the database, or whose NODE_ID another process took) it answers 503
//   until a heartbeat gets through again (Hooks::current_until, Wake()).
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
  int64_t drained_epoch = 0;   // no request in flight on this node uses an older epoch
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
// The same for the drained epoch (CLUSTER_UNDRAINED).
Status WaitUntilDrained(db::Pool& pool, int64_t epoch, std::chrono::milliseconds live_timeout,
                        std::chrono::milliseconds timeout);
// The lowest drained epoch of the live, running nodes (INT64_MAX when there are none).
Result<int64_t> DrainedFloor(db::Pool& pool, std::chrono::milliseconds live_timeout);

class ClusterNode final : public ChangeAnnouncer {
 public:
  // `state` reports the node's lifecycle state for the registry; `reload` makes it apply the
  // current epoch (it returns the epoch it applied); `plugin_message` delivers a plugin's sync
  // message to the plugin.
  struct Hooks {
    std::function<std::string()> state;
    std::function<Result<int64_t>()> reload;
    std::function<void(std::string_view plugin, const boost::json::value& body)> plugin_message;
    // The oldest epoch a request in flight uses (INT64_MAX: none).
    std::function<int64_t()> oldest_held;
    // The node may serve until then (see "Currency" above).
    std::function<void(std::chrono::steady_clock::time_point)> current_until;
    // Every heartbeat, after the row is written (removals left to finish).
    std::function<void()> after_heartbeat;
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
  // A request ended; if no older epoch is in use any more, the registry is told soon (on the
  // heartbeat thread). Cheap; any thread.
  void Released(int64_t oldest_held);
  // Heartbeat now (a request found the node not current).
  void Wake();
  Status AnnounceAndConfirm(int64_t epoch) override;
  Status WaitUntilDrained(int64_t epoch) override;
  Result<int64_t> DrainedFloor() override;
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
  int64_t Drained() const;
  // One heartbeat: the row, then the epoch (reloading when behind); current when both held.
  void Heartbeat();
  // After a heartbeat that began at `began` was written: current when at the cluster's epoch.
  void UpdateCurrency(std::chrono::steady_clock::time_point began);
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
  const std::string instance_;  // random, this process's
  std::atomic<int64_t> applied_{0};
  std::atomic<int64_t> reported_drained_{0};
  std::atomic<bool> write_soon_{false};
  std::atomic<int> worker_id_{-1};
  std::mutex write_mu_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  bool heartbeat_failing_ = false;  // heartbeat thread only
  std::thread heartbeat_;
  std::thread poller_;
  std::atomic<bool> started_{false};  // read by Released() and Wake() on any thread
};

// Tells the nodes about a change made from outside any of them (a command of the CLI on the
// cluster's database): the sync signal on the bus, then the same confirmation as a node's.
class OutsiderAnnouncer final : public ChangeAnnouncer {
 public:
  OutsiderAnnouncer(const core::Config& config, db::Pool& pool, Adapters adapters)
      : config_(config), pool_(pool), adapters_(std::move(adapters)) {}
  Status AnnounceAndConfirm(int64_t epoch) override;
  Status WaitUntilDrained(int64_t epoch) override;
  Result<int64_t> DrainedFloor() override;
  Status PublishPluginMessage(std::string_view plugin, const boost::json::value& message) override;

 private:
  const core::Config& config_;
  db::Pool& pool_;
  Adapters adapters_;
};

}  // namespace slipway::cluster
