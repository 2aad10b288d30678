#include "api/services_impl.h"

#include <chrono>
#include <optional>

#include "core/clock.h"
#include "core/logging.h"
#include "db/cluster_state.h"

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

Result<int64_t> ServicesImpl::CommitChange(const ChangeFn& change) {
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
  return epoch;
}

Status ServicesImpl::ApplyChange(const ChangeOptions& options, const ChangeFn& change) {
  auto started = std::chrono::steady_clock::now();
  std::optional<db::SchemaLockGuard> schema_lock;
  if (options.schema_lock) {
    RETURN_IF_ERROR(schema_lock_.Acquire(kSchemaLockTimeout));
    schema_lock.emplace(schema_lock_);
  }
  Result<int64_t> epoch = CommitChange(change);
  schema_lock.reset();
  if (!epoch.ok()) {
    core::log::Info("change refused",
                    {{"change", options.what}, {"error", epoch.status().message()}});
    return epoch.status();
  }
  core::log::Info(
      "change applied",
      {{"change", options.what}, {"epoch", *epoch}, {"ms", core::MillisSince(started)}});
  // Outside every lock: waiting for the other nodes must not hold up the next change here.
  return announcer_ == nullptr ? Status::Ok() : announcer_->AnnounceAndConfirm(*epoch);
}

void ServicesImpl::CollectionChanged(std::string_view collection) {
  for (const auto& fn : snapshot()->collection_changed) fn(collection);
}

}  // namespace slipway::api
