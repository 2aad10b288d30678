#include "app/services_impl.h"

#include "core/logging.h"
#include "db/cluster_state.h"

namespace slipway::app {

Result<std::shared_ptr<const Snapshot>> ServicesImpl::Load(db::Connection& conn) const {
  auto next = std::make_shared<Snapshot>();
  ASSIGN_OR_RETURN(next->schema, schema_store_->Load(conn));
  if (plugins_.acl_loader()) {
    ASSIGN_OR_RETURN(next->acl, plugins_.acl_loader()(conn));
  } else {
    next->acl = std::make_shared<const AclPolicy>();
  }
  ASSIGN_OR_RETURN(db::ClusterRow row, db::ReadClusterRow(conn));
  next->epoch = row.epoch;
  next->schema_version = row.schema_version;
  return std::shared_ptr<const Snapshot>(std::move(next));
}

void ServicesImpl::Publish(std::shared_ptr<const Snapshot> next) {
  auto current = snapshots_.Get();
  if (current && current->schema && next->epoch < current->epoch) return;  // never go back
  snapshots_.Set(std::move(next));
}

Status ServicesImpl::ReloadSnapshot() {
  std::lock_guard lock(change_mu_);
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  ASSIGN_OR_RETURN(auto next, Load(*conn));
  Publish(std::move(next));
  return Status::Ok();
}

namespace {

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

Status ServicesImpl::ApplyChange(const ChangeFn& change) {
  std::lock_guard lock(change_mu_);
  auto started = std::chrono::steady_clock::now();
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
  ASSIGN_OR_RETURN(auto fresh, Load(*conn));
  ASSIGN_OR_RETURN(SnapshotUpdate update, change(*conn, *fresh));
  if (sqlite) {
    ASSIGN_OR_RETURN(auto violations, conn->Query("PRAGMA foreign_key_check"));
    if (violations->row_count() > 0) {
      return FailedPrecondition("the change would leave records of '" +
                                std::string(violations->Text(0, 0)) + "' pointing at missing records");
    }
  }
  RETURN_IF_ERROR(tx.Commit());
  auto next = std::make_shared<Snapshot>();
  next->schema = update.schema ? update.schema : fresh->schema;
  next->acl = update.acl ? update.acl : fresh->acl;
  next->epoch = epoch;
  next->schema_version = fresh->schema_version;
  Publish(std::move(next));
  core::log::Info("change applied",
                  {{"epoch", epoch},
                   {"ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count()}});
  return Status::Ok();
}

void ServicesImpl::CollectionChanged(std::string_view collection) {
  for (const auto& fn : plugins_.collection_changed()) fn(collection);
}

}  // namespace slipway::app
