// ServicesImpl: the Services of a running application (or of a CLI command acting on its
// database): the pool, the current snapshot, and the one path of cluster-wide changes
// (services.h). It does not know how a snapshot is assembled (the plugin manager does: a loader
// is given) nor how other nodes are told (a cluster::ChangeAnnouncer is given).
//
// Thread-safe: snapshot() is lock-free; changes and reloads are serialised on this node.
#pragma once

#include <functional>
#include <memory>
#include <mutex>

#include "api/services.h"
#include "cluster/announcer.h"
#include "core/ids.h"
#include "db/schema_lock.h"

namespace slipway::api {

// Reads the snapshot the database describes (on the given connection, maybe inside a change's
// transaction).
using SnapshotLoader = std::function<Result<std::shared_ptr<const Snapshot>>(db::Connection&)>;

class ServicesImpl final : public Services {
 public:
  ServicesImpl(const core::Config& config, db::Pool& pool, db::SchemaLock& schema_lock,
               std::unique_ptr<core::SnowflakeGenerator> snowflake)
      : config_(config), pool_(pool), schema_lock_(schema_lock), snowflake_(std::move(snowflake)) {}

  // Set once, before the first snapshot is built.
  void SetLoader(SnapshotLoader loader) { loader_ = std::move(loader); }
  // Called after every published snapshot (from the thread that published it).
  void OnPublish(std::function<void(const Snapshot&)> fn) { on_publish_ = std::move(fn); }
  // Who tells the other nodes about a change; null: nobody to tell (a single node in a test).
  void SetAnnouncer(cluster::ChangeAnnouncer* announcer) { announcer_ = announcer; }

  const core::Config& config() const override { return config_; }
  db::Pool& pool() override { return pool_; }
  // An id under the worker id the source answers now (see SetWorkerIdSource).
  Result<int64_t> NextSnowflake() override;
  // Asked before every Snowflake id for the worker id to issue it under (the cluster's lease:
  // cluster::ClusterNode::WorkerIdForIssuing); its failure (Unavailable: no valid lease) is the
  // create's. Unset: the generator's own worker id (a single process, a test). Set once, before
  // requests are served.
  void SetWorkerIdSource(std::function<Result<int>()> source) {
    worker_id_source_ = std::move(source);
  }
  std::shared_ptr<const Snapshot> snapshot() const override { return snapshots_.Get(); }
  std::shared_ptr<void> HoldEpoch(int64_t epoch) override { return holds_.Hold(epoch); }
  using Services::ApplyChange;
  Status ApplyChange(const ChangeOptions& options, const ChangeFn& change) override;
  void CollectionChanged(std::string_view collection) override;
  Status ReloadSnapshot() override;
  Status PublishSync(std::string_view plugin, const boost::json::value& message) override;

  // The oldest epoch a request in flight on this node uses (INT64_MAX: none in flight).
  int64_t OldestEpochHeld() const { return holds_.Oldest(); }
  // Called when a request lets go of its epoch (quick; any thread). Set before serving.
  void OnEpochReleased(std::function<void(int64_t oldest)> fn) { holds_.OnReleased(std::move(fn)); }
  // Drops the columns and tables of removals whose second phase did not run (a node that did
  // not drain in time, a crash between the phases) once the whole cluster has drained past them.
  // Cheap when there is nothing to do (one query).
  Status FinishPendingRemovals();
  // Builds the indexes the schema names that the database lacks or holds invalid: those of a
  // change whose node stopped before it built them (a node's start calls it).
  Status BuildUnbuiltIndexes();

 private:
  // Step 10 of a change (services.h) for the removal committed at `epoch`.
  Status FinishRemovals(int64_t epoch, const std::string& what);
  struct Committed {
    int64_t epoch = 0;
    bool removals = false;  // SnapshotUpdate::removals: step 10 follows
    // The schema the change started from and the one it published (step 9 compares them).
    std::shared_ptr<const data::Schema> before, after;
  };
  // Step 9 of a change: the indexes it left to be built outside its transaction.
  Status BuildIndexes(const Committed& committed, const std::string& what);
  // Steps 2 to 7 of a change (services.h), under change_mu_.
  Result<Committed> CommitChange(const ChangeFn& change);
  void Publish(std::shared_ptr<const Snapshot> next);

  const core::Config& config_;
  db::Pool& pool_;
  db::SchemaLock& schema_lock_;
  std::unique_ptr<core::SnowflakeGenerator> snowflake_;
  std::function<Result<int>()> worker_id_source_;
  SnapshotLoader loader_;
  std::function<void(const Snapshot&)> on_publish_;
  cluster::ChangeAnnouncer* announcer_ = nullptr;
  SnapshotHolder snapshots_;
  EpochHolds holds_;
  std::mutex change_mu_;  // one change (or reload) at a time on this node
};

}  // namespace slipway::api
