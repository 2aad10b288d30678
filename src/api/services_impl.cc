#include "api/services_impl.h"

#include <chrono>
#include <optional>

#include "core/cancel.h"
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
  // When nothing changed since the snapshot this node published (it carries the epoch before
  // this change's), it is the state the change starts from: reading everything again would
  // make every change cost the size of the schema.
  std::shared_ptr<const Snapshot> fresh = snapshots_.Get();
  if (!fresh || !fresh->schema || fresh->epoch != epoch - 1) {
    ASSIGN_OR_RETURN(fresh, loader_(*conn));
  }
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
  Committed committed{epoch, update.removals, fresh->schema, next->schema};
  Publish(std::move(next));
  return committed;
}

Status ServicesImpl::ApplyChange(const ChangeOptions& options, const ChangeFn& change) {
  auto started = std::chrono::steady_clock::now();
  // A change runs to its end whoever asked: no statement limit, and a client that goes away
  // does not interrupt it (a migration, an index build on a large table take their time).
  core::CancelScope unlimited(nullptr);
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
  if (!confirmed.ok()) return confirmed;
  RETURN_IF_ERROR(BuildIndexes(*committed, options.what));
  if (!committed->removals) return Status::Ok();
  return FinishRemovals(epoch, options.what);
}

Status ServicesImpl::BuildIndexes(const Committed& committed, const std::string& what) {
  if (!committed.before || !committed.after || committed.before == committed.after) {
    return Status::Ok();
  }
  // Held for the whole build: a change published meanwhile may bring another store.
  std::shared_ptr<const data::SchemaStore> store = snapshots_.Get()->schema_store;
  if (store == nullptr) return Status::Ok();
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  ASSIGN_OR_RETURN(auto unbuilt,
                   store->UnbuiltIndexes(*conn, committed.before.get(), *committed.after));
  for (const data::IndexSpec& index : unbuilt) {
    auto started = std::chrono::steady_clock::now();
    Status built = store->BuildIndex(*conn, index);
    if (built.ok()) {
      core::log::Info("index built", {{"change", what},
                                      {"index", index.name},
                                      {"table", index.table},
                                      {"ms", core::MillisSince(started)}});
      continue;
    }
    // The change asked for an index the data does not allow (a unique one over duplicates):
    // it gives the index up, so that the definition says what the database enforces.
    core::log::Warn("index not built; the change gives it up",
                    {{"change", what}, {"index", index.name}, {"error", built.message()}});
    Result<Committed> forgone =
        CommitChange([&](db::Connection& c, const Snapshot& now) -> Result<SnapshotUpdate> {
          ASSIGN_OR_RETURN(auto next, now.schema_store->ForgoIndex(c, *now.schema, index));
          return SnapshotUpdate{next, nullptr};
        });
    if (!forgone.ok()) {
      core::log::Error("giving up an index failed",
                       {{"index", index.name}, {"error", forgone.status().message()}});
    } else if (announcer_ != nullptr) {
      announcer_->AnnounceAndConfirm(forgone->epoch).IgnoreError();
    }
    return Status(built.code(),
                  built.message() +
                      " (the rest of the change stands; the definition no longer "
                      "asks for this index)",
                  built.tag());
  }
  return Status::Ok();
}

Status ServicesImpl::BuildUnbuiltIndexes() {
  auto snapshot = snapshots_.Get();
  if (!snapshot || !snapshot->schema || !snapshot->schema_store) return Status::Ok();
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  ASSIGN_OR_RETURN(auto unbuilt,
                   snapshot->schema_store->UnbuiltIndexes(*conn, nullptr, *snapshot->schema));
  for (const data::IndexSpec& index : unbuilt) {
    auto started = std::chrono::steady_clock::now();
    Status built = snapshot->schema_store->BuildIndex(*conn, index);
    if (!built.ok()) {
      core::log::Error("index the schema names could not be built",
                       {{"index", index.name}, {"error", built.message()}});
      continue;
    }
    core::log::Info("index built", {{"change", "a change cut short"},
                                    {"index", index.name},
                                    {"table", index.table},
                                    {"ms", core::MillisSince(started)}});
  }
  return Status::Ok();
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
