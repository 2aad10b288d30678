#include "app/services_impl.h"

#include <set>

#include "app/cluster_node.h"
#include "app/plugin_manager.h"
#include "core/logging.h"
#include "db/cluster_state.h"

namespace slipway::app {

Result<std::shared_ptr<const Snapshot>> ServicesImpl::Load(db::Connection& conn) const {
  // Version fencing first: a schema newer than this binary is never read as if it were ours.
  ASSIGN_OR_RETURN(db::ClusterRow cluster, db::ReadClusterRow(conn));
  auto schema_version = core::SemVer::Parse(cluster.schema_version);
  if (binary_version_ != nullptr && schema_version.ok() && *binary_version_ < *schema_version) {
    return Installer::NewerSchemaError(cluster.schema_version, *binary_version_);
  }
  auto next = std::make_shared<Snapshot>();
  auto actions = std::make_shared<ActionRegistry>(*core_actions_);
  auto hooks = std::make_shared<RecordHookSet>();
  std::vector<data::Collection> code;
  AclLoader acl_loader;
  ASSIGN_OR_RETURN(auto rows, plugins_->EnabledInOrder(conn));
  for (const PluginRow& row : rows) {
    auto rt = plugins_->RuntimeFor(row, row.version);
    if (!rt.ok()) {
      // Serve without it, and say so (pm:list, the health check of a cluster node).
      next->load_errors.push_back(rt.status().message());
      core::log::Error("plugin not loaded",
                       {{"plugin", row.name}, {"error", rt.status().message()}});
      continue;
    }
    const PluginRuntime& p = **rt;
    next->plugins.push_back(*rt);
    for (const auto& c : p.collections()) code.push_back(c);
    for (const auto& a : p.actions()) actions->Add(a.resource, a.action, a.fn);
    for (const auto& h : p.hooks()) hooks->Add(h.collection, h.event, h.hook, row.name);
    for (const auto& fn : p.collection_changed()) next->collection_changed.push_back(fn);
    if (p.authenticator()) next->authenticator = p.authenticator();
    if (p.role_resolver()) next->role_resolver = p.role_resolver();
    if (p.acl_loader()) acl_loader = p.acl_loader();
    for (const auto& [collection, snippet] : p.governed()) next->governed[collection] = snippet;
    next->settings[row.name] = row.options;
  }
  std::set<std::string> snippets;
  for (const auto& [collection, snippet] : next->governed) snippets.insert(snippet);
  actions->ForEach([&](const Action& a) {
    if (a.access == Access::kConfigure) snippets.insert(a.snippet);
  });
  next->snippets.assign(snippets.begin(), snippets.end());
  next->schema_store = std::make_shared<const data::SchemaStore>(std::move(code));
  ASSIGN_OR_RETURN(next->schema, next->schema_store->Load(conn));
  if (acl_loader) {
    ASSIGN_OR_RETURN(next->acl, acl_loader(conn));
  } else {
    next->acl = std::make_shared<const AclPolicy>();
  }
  next->actions = std::move(actions);
  next->hooks = std::move(hooks);
  next->epoch = cluster.epoch;
  next->schema_version = cluster.schema_version;
  next->cluster_state = cluster.state;
  next->cluster_message = cluster.message;
  return std::shared_ptr<const Snapshot>(std::move(next));
}

void ServicesImpl::Publish(std::shared_ptr<const Snapshot> next) {
  auto current = snapshots_.Get();
  if (current && current->schema && next->epoch < current->epoch) return;  // never go back
  snapshots_.Set(next);
  if (on_publish_) on_publish_(*next);
}

Status ServicesImpl::AfterCommit() {
  RETURN_IF_ERROR(ReloadSnapshot());
  if (cluster_ == nullptr) return Status::Ok();
  return cluster_->AnnounceAndConfirm(snapshot()->epoch);
}

Status ServicesImpl::PublishSync(std::string_view plugin, const boost::json::value& message) {
  if (cluster_ == nullptr) return Status::Ok();  // a single node has nobody to tell
  return cluster_->PublishPluginMessage(plugin, message);
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
  auto started = std::chrono::steady_clock::now();
  int64_t epoch = 0;
  RETURN_IF_ERROR([&]() -> Status {
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
    ASSIGN_OR_RETURN(epoch, db::BumpEpoch(*conn));
    ASSIGN_OR_RETURN(auto fresh, Load(*conn));
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
    auto next = std::make_shared<Snapshot>(*fresh);
    if (update.schema) next->schema = update.schema;
    if (update.acl) next->acl = update.acl;
    next->epoch = epoch;
    Publish(std::move(next));
    return Status::Ok();
  }());
  core::log::Info(
      "change applied",
      {{"epoch", epoch},
       {"ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                  .count()}});
  // Outside the lock: waiting for the other nodes must not hold up the next change here.
  return cluster_ == nullptr ? Status::Ok() : cluster_->AnnounceAndConfirm(epoch);
}

void ServicesImpl::CollectionChanged(std::string_view collection) {
  for (const auto& fn : snapshot()->collection_changed) fn(collection);
}

}  // namespace slipway::app
