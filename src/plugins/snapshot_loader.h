// Assembles the snapshot a request reads (api/snapshot.h) from the database: the enabled plugins
// in load order contribute their collections, actions, record hooks, authentication, role
// resolution, permission policy and governed collections; the schema and the policy are read
// from the tables. Refuses a database newer than the binary (version fencing).
#pragma once

#include <memory>

#include "api/action_registry.h"
#include "api/snapshot.h"
#include "core/semver.h"
#include "db/database.h"
#include "plugins/plugin_manager.h"

namespace slipway::plugins {

// `core_actions` are the actions of the core (collections, pm, cluster, app); a plugin's action
// of the same name replaces one. FailedPrecondition (APP_OUTDATED) when the database's schema is
// newer than `binary`. A plugin that cannot be loaded on this node is left out and named in
// Snapshot::load_errors.
Result<std::shared_ptr<const api::Snapshot>> LoadSnapshot(PluginManager& plugins,
                                                          const api::ActionRegistry& core_actions,
                                                          const core::SemVer& binary,
                                                          db::Connection& conn);

// Hands a message another node published for `plugin` to that plugin's sync handlers in `snap`,
// one after the other on the calling thread (the sync bus's). A handler that fails or throws is
// logged and the next one still runs; a plugin that is not enabled here gets nothing.
void DeliverSyncMessage(const api::Snapshot& snap, std::string_view plugin,
                        const boost::json::value& message);

}  // namespace slipway::plugins
