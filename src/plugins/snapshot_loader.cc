#include "plugins/snapshot_loader.h"

#include <set>

#include "core/logging.h"
#include "db/cluster_state.h"
#include "plugins/plugin_runtime.h"

namespace slipway::plugins {

Result<std::shared_ptr<const api::Snapshot>> LoadSnapshot(PluginManager& plugins,
                                                          const api::ActionRegistry& core_actions,
                                                          const core::SemVer& binary,
                                                          db::Connection& conn) {
  // Version fencing first: a schema newer than this binary is never read as if it were ours.
  ASSIGN_OR_RETURN(db::ClusterRow cluster, db::ReadClusterRow(conn));
  auto schema_version = core::SemVer::Parse(cluster.schema_version);
  if (schema_version.ok() && binary < *schema_version) {
    return db::NewerSchemaError(cluster.schema_version, binary);
  }
  auto next = std::make_shared<api::Snapshot>();
  auto actions = std::make_shared<api::ActionRegistry>(core_actions);
  auto hooks = std::make_shared<api::RecordHookSet>();
  std::vector<data::Collection> code;
  api::AclLoader acl_loader;
  ASSIGN_OR_RETURN(auto rows, plugins.EnabledInOrder(conn));
  for (const PluginRow& row : rows) {
    auto rt = plugins.RuntimeFor(row, row.version);
    if (!rt.ok()) {
      // Serve without it, and say so (pm:list, the health check of a cluster node).
      next->load_errors.push_back(rt.status().message());
      core::log::Error("plugin not loaded",
                       {{"plugin", row.name}, {"error", rt.status().message()}});
      continue;
    }
    const PluginRuntime& p = **rt;
    next->plugin_keepalive.push_back(*rt);
    next->loaded_plugins.insert(row.name);
    if (!p.sync_handlers().empty()) next->sync_handlers[row.name] = p.sync_handlers();
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
  actions->ForEach([&](const api::Action& a) {
    if (a.access == api::Access::kConfigure) snippets.insert(a.snippet);
  });
  next->snippets.assign(snippets.begin(), snippets.end());
  next->schema_store = std::make_shared<const data::SchemaStore>(std::move(code));
  ASSIGN_OR_RETURN(next->schema, next->schema_store->Load(conn));
  if (acl_loader) {
    ASSIGN_OR_RETURN(next->acl, acl_loader(conn));
  } else {
    next->acl = std::make_shared<const api::AclPolicy>();
  }
  next->actions = std::move(actions);
  next->hooks = std::move(hooks);
  next->epoch = cluster.epoch;
  next->schema_version = cluster.schema_version;
  next->cluster_state = cluster.state;
  next->cluster_message = cluster.message;
  return std::shared_ptr<const api::Snapshot>(std::move(next));
}

void DeliverSyncMessage(const api::Snapshot& snap, std::string_view plugin,
                        const boost::json::value& message) {
  auto handlers = snap.sync_handlers.find(std::string(plugin));
  if (handlers == snap.sync_handlers.end()) return;
  for (const auto& handler : handlers->second) {
    Status s = GuardPlugin(plugin, "sync message", [&] {
      handler(message);
      return Status::Ok();
    });
    if (!s.ok()) core::log::Error("a plugin's sync handler failed", {{"error", s.message()}});
  }
}

}  // namespace slipway::plugins
