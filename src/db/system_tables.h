// The names of Slipway's own tables, in one place (DESIGN section 2).
#pragma once

#include <string_view>

namespace slipway::db {

inline constexpr std::string_view kClusterTable = "slipway_cluster";          // one row
inline constexpr std::string_view kMigrationsTable = "slipway_migrations";    // applied migrations
inline constexpr std::string_view kNodesTable = "slipway_nodes";              // node registry
inline constexpr std::string_view kPluginsTable = "slipway_plugins";          // plugin state
inline constexpr std::string_view kCollectionsTable = "slipway_collections";  // collection defs
inline constexpr std::string_view kFieldsTable = "slipway_fields";            // field defs
inline constexpr std::string_view kLocksTable = "slipway_locks";              // lease locks
inline constexpr std::string_view kWorkerIdsTable = "slipway_worker_ids";     // worker-id leases
// Columns and tables removed from the schema, dropped once no node uses them (two-phase removal).
inline constexpr std::string_view kTasksTable = "slipway_tasks";  // durable tasks
inline constexpr std::string_view kPendingDropsTable = "slipway_pending_drops";
// One row: the backup schedule, retention and options (ops/backup_manager.h).
inline constexpr std::string_view kBackupSettingsTable = "slipway_backup_settings";
// Saved migration rules and the log of imports (ops/migration_manager.h).
inline constexpr std::string_view kMigrationRulesTable = "slipway_migration_rules";
inline constexpr std::string_view kMigrationLogsTable = "slipway_migration_logs";

// User collections may not take a name with this prefix.
inline constexpr std::string_view kReservedPrefix = "slipway_";

}  // namespace slipway::db
