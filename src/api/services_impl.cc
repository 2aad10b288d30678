#include "api/services_impl.h"

#include <chrono>
#include <optional>

#include "core/clock.h"
#include "core/logging.h"
#include "db/cluster_state.h"
#include "db/system_tables.h"

namespace slipway::api {

namespace {

constexpr auto kSchemaLockTimeout = std::chrono::seconds(60);

// SQLite applies PRAGMA foreign_keys only outside transactions; schema changes that rebuild a
// table need it off (and check the result with foreign_key_check before committing).
class ForeignKeysOff {
 public:
  explicit ForeignKeysOff(db::Connection& conn) : conn_(conn) {}
  Status Begin() { return conn_.ExecScript("PRAGMA foreign_keys=OFF"); }
  ~ForeignKeysOff() { conn_.ExecScript("PRAGMA foreign_keys=ON").IgnoreError(); }

 private:
  db::Connection& conn_;
};

}  // namespace

void ServicesImpl::Publish(std::shared_ptr<const Snapshot> next) {
  auto current = snapshots_.Get();
  if (current && current->schema && next->epoch < current->epoch) return;  // never go back
  snapshots_.Set(next);
  if (on_publish_) on_publish_(*next);
}

Status ServicesImpl::PublishSync(std::string_view plugin, const boost::json::value& message) {
  if (announcer_ == nullptr) return Status::Ok();  // a single node has nobody to tell
  return announcer_->PublishPluginMessage(plugin, message);
}

Result<int64_t> ServicesImpl::NextSnowflake() {
  if (worker_id_source_) {
    ASSIGN_OR_RETURN(int worker_id, worker_id_source_());
    // Another thread may switch the generator to a newer id between these two calls; that id was
    // just as freshly confirmed, so the id issued below is still under a valid lease.
    if (worker_id != snowflake_->worker_id()) RETURN_IF_ERROR(snowflake_->set_worker_id(worker_id));
  }
  return snowflake_->Next();
}

Status ServicesImpl::ReloadSnapshot() {
  std::lock_guard lock(change_mu_);
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  ASSIGN_OR_RETURN(auto next, loader_(*conn));
  Publish(std::move(next));
  return Status::Ok();
}

Result<ServicesImpl::Committed> ServicesImpl::CommitChange(const ChangeFn& change) {
  std::lock_guard lock(change_mu_);
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  const bool sqlite = conn->dialect() == db::Dialect::kSqlite;
  std::optional<ForeignKeysOff> fk_off;
  if (sqlite) {
    fk_off.emplace(*conn);
    RETURN_IF_ERROR(fk_off->Begin());
  }
  ASSIGN_OR_RETURN(db::Transaction tx, db::Transaction::Begin(*conn));
  // Bumping first takes the cluster row's lock, so the state read next is current even when
  // another node changes something at the same time.
  ASSIGN_OR_RETURN(int64_t epoch, db::BumpEpoch(*conn));
  ASSIGN_OR_RETURN(auto fresh, loader_(*conn));
  ASSIGN_OR_RETURN(SnapshotUpdate update, change(*conn, *fresh));
  if (sqlite) {
    ASSIGN_OR_RETURN(auto violations, conn->Query("PRAGMA foreign_key_check"));
    if (violations->row_count() > 0) {
      return FailedPrecondition("the change would leave records of '" +
                                std::string(violations->Text(0, 0)) +
                                "' pointing at missing records");
    }
  }
  RETURN_IF_ERROR(tx.Commit());
  std::shared_ptr<const Snapshot> next;
  if (update.reload) {
    ASSIGN_OR_RETURN(next, loader_(*conn));
  } else {
    auto patched = std::make_shared<Snapshot>(*fresh);
    if (update.schema) patched->schema = update.schema;
    if (update.acl) patched->acl = update.acl;
    patched->epoch = epoch;
    next = std::move(patched);
  }
  Publish(std::move(next));
  return Committed{epoch, update.removals};
}

Status ServicesImpl::ApplyChange(const ChangeOptions& options, const ChangeFn& change) {
  auto started = std::chrono::steady_clock::now();
  std::optional<db::SchemaLockGuard> schema_lock;
  if (options.schema_lock) {
    RETURN_IF_ERROR(schema_lock_.Acquire(options.lock_timeout.count() > 0 ? options.lock_timeout
                                                                          : kSchemaLockTimeout));
    schema_lock.emplace(schema_lock_);
  }
  Result<Committed> committed = CommitChange(change);
  schema_lock.reset();
  if (!committed.ok()) {
    core::log::Info("change refused",
                    {{"change", options.what}, {"error", committed.status().message()}});
    return committed.status();
  }
  const int64_t epoch = committed->epoch;
  core::log::Info("change applied",
                  {{"change", options.what}, {"epoch", epoch}, {"ms", core::MillisSince(started)}});
  // Outside every lock: waiting for the other nodes must not hold up the next change here.
  Status confirmed = announcer_ == nullptr ? Status::Ok() : announcer_->AnnounceAndConfirm(epoch);
  if (!confirmed.ok() || !committed->removals) return confirmed;
  return FinishRemovals(epoch, options.what);
}

Status ServicesImpl::FinishRemovals(int64_t epoch, const std::string& what) {
  auto started = std::chrono::steady_clock::now();
  auto left = [&](const std::string& why) {
    core::log::Warn("removal's drop postponed until every node has drained",
                    {{"change", what}, {"epoch", epoch}, {"why", why}});
    return Status::Ok();  // the removal stands; FinishPendingRemovals drops it later
  };
  if (!holds_.WaitUntilDrained(epoch, config_.cluster_confirm_timeout)) {
    return left("requests on this node still use an older snapshot");
  }
  if (announcer_ != nullptr) {
    Status drained = announcer_->WaitUntilDrained(epoch);
    if (!drained.ok()) return left(drained.message());
  }
  int dropped = 0;
  Result<Committed> done =
      CommitChange([&](db::Connection& conn, const Snapshot& now) -> Result<SnapshotUpdate> {
        ASSIGN_OR_RETURN(dropped, now.schema_store->FinishRemovals(conn, *now.schema, epoch));
        return SnapshotUpdate{};
      });
  if (!done.ok()) return left(done.status().message());
  core::log::Info("removal finished", {{"change", what},
                                       {"epoch", epoch},
                                       {"dropped", dropped},
                                       {"ms", core::MillisSince(started)}});
  return Status::Ok();
}

Status ServicesImpl::FinishPendingRemovals() {
  int64_t oldest_pending = 0;
  {
    ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
    ASSIGN_OR_RETURN(auto rs,
                     conn->Query("SELECT min(epoch) FROM " + std::string(db::kPendingDropsTable)));
    if (rs->row_count() == 0 || rs->IsNull(0, 0)) return Status::Ok();
    oldest_pending = rs->Int(0, 0);
  }
  int64_t floor = std::min(holds_.Oldest(), snapshots_.Get()->epoch);
  if (announcer_ != nullptr) {
    ASSIGN_OR_RETURN(int64_t cluster_floor, announcer_->DrainedFloor());
    floor = std::min(floor, cluster_floor);
  }
  if (floor < oldest_pending) return Status::Ok();
  int dropped = 0;
  ASSIGN_OR_RETURN(
      Committed finished,
      CommitChange([&](db::Connection& conn, const Snapshot& now) -> Result<SnapshotUpdate> {
        ASSIGN_OR_RETURN(dropped, now.schema_store->FinishRemovals(conn, *now.schema, floor));
        return SnapshotUpdate{};
      }));
  core::log::Info("postponed removals finished",
                  {{"dropped", dropped}, {"drained_to", floor}, {"epoch", finished.epoch}});
  return Status::Ok();
}

void ServicesImpl::CollectionChanged(std::string_view collection) {
  for (const auto& fn : snapshot()->collection_changed) fn(collection);
}

}  // namespace slipway::api
