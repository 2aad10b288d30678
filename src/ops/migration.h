// Environment migration (issue 14): a package of an application's structure and chosen rows,
// made in one environment (development, staging) and applied to another (production), with a
// diff shown before anything changes.
//
// Rules, NocoBase's, one per table of the application:
//   schema-only    the structure, no rows
//   overwrite      the structure, and the rows made equal to the package's (rows it lacks are
//                  deleted, rows that differ updated, new ones inserted; matched by key)
//   skip           nothing: the table stays as it is here, structure and rows
//   upsert         the structure; the package's rows inserted or, where the key exists, updated
//   insert-ignore  the structure; the package's rows whose key does not exist here inserted
// Defaults come from the collections' metadata as NocoBase sets them: a collection's
// `migrationRules` option (the first is its default; the list is what it allows), otherwise
// configuration (collections whose records are cluster configuration, such as roles) is
// `overwrite` and everything else (users, tokens, business data) `schema-only`. A plugin's own
// table that is not a collection (role grants, role assignments, revoked tokens) follows what
// it refers to: `overwrite` when every table its foreign keys point at is configuration,
// `schema-only` otherwise. `upsert` and `insert-ignore` need a key to match rows by.
//
// A package is a backup archive (archive.h, backup.h) of kind "migration": dump/schema.json with
// every definition and the plugins, the rows of the tables whose rule carries rows, and in the
// manifest the rules, the app version and the dialect. No uploaded files.
//
// Migrate() computes the diff of a package against the database (collections and fields to add,
// alter or drop, rows to insert, update and delete per table, plugins to enable, upgrade or
// disable, and every refusal), and with `apply` makes exactly that change inside the caller's
// transaction: the one cluster-wide change under the schema lock (api/services.h). The diff a
// dry run shows and the change an import makes come from the same code.
#pragma once

#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "data/schema_store.h"
#include "db/database.h"
#include "ops/backup.h"
#include "ops/restore.h"
#include "slipway/status.h"

namespace slipway::ops {

enum class MigrationRule { kSchemaOnly, kOverwrite, kSkip, kUpsert, kInsertIgnore };
std::string_view RuleName(MigrationRule rule);
Result<MigrationRule> ParseRule(std::string_view name);
// Whether a package carries the rows of a table under `rule`.
bool RuleCarriesRows(MigrationRule rule);

// The rules an export is given: one for every collection made through the API
// ("userDefined"), and one for each named collection or plugin table ("tables"); a table
// named nowhere takes its default. JSON: {"userDefined": "schema-only", "tables": {"posts":
// "overwrite"}}.
struct MigrationRules {
  std::optional<MigrationRule> user_defined;
  std::map<std::string, MigrationRule> tables;
};
Result<MigrationRules> ParseRules(const boost::json::value& v);
boost::json::object RulesToJson(const MigrationRules& rules);

// A table of the application and the rule an export applies to it.
struct TableRule {
  std::string name;
  bool collection = true;  // false: a plugin's own table
  MigrationRule rule = MigrationRule::kSchemaOnly;
  std::vector<MigrationRule> allowed;  // empty: any
};
// Every collection and plugin table with its rule. InvalidArgument for a name that is neither
// (UNKNOWN_TABLE), a rule the table does not allow or cannot work with (RULE_NOT_ALLOWED).
Result<std::vector<TableRule>> ResolveRules(db::Connection& conn, const data::Schema& schema,
                                            const MigrationRules& rules);

struct ExportOptions {
  std::filesystem::path output;
  MigrationRules rules;
  std::string title;
  std::string app_version;
  std::string password;  // empty: not encrypted
  std::function<Status(int64_t done, int64_t total, std::string_view what)> progress;
};
// Writes a package from one consistent snapshot (as a backup does).
Result<BackupSummary> ExportPackage(db::Connection& conn, const data::SchemaStore& store,
                                    const ExportOptions& options);

// The default name of a package made now: migration_YYYYMMDD_HHMMSS_NNNN.slwmig.
std::string PackageFileName();

struct ImportRequest {
  std::filesystem::path path;
  std::string password;
  // Import even where fields or collections holding data here are dropped (their data is lost;
  // the automatic backup keeps it).
  bool allow_data_loss = false;
};

struct PackageCheck {
  boost::json::object manifest;
  boost::json::object definitions;  // dump/schema.json
  std::map<std::string, MigrationRule> rules;
  uint64_t archive_bytes = 0;
};
// Reads the whole package and checks it (archive.h: every checksum; the kind, the rules).
// InvalidArgument for a damaged, foreign or encrypted-with-another-password file, or for a
// backup (NOT_A_MIGRATION). Version and plugin mismatches are refusals of the diff.
Result<PackageCheck> CheckPackage(const ImportRequest& request, const ReadProgress& progress = {});

struct MigrationDiff {
  struct Plugin {
    std::string name, change, from, to;  // change: enable, disable, upgrade, settings
  };
  struct Rows {
    std::string table;
    bool collection = true;
    MigrationRule rule = MigrationRule::kSchemaOnly;
    int64_t insert = 0, update = 0, remove = 0, unchanged = 0;
  };
  struct Refusal {
    std::string code, message;
  };
  boost::json::object package;  // name, title, appVersion, dialect, createdAt
  std::vector<Plugin> plugins;
  std::vector<data::SchemaChange> schema;
  // Values (a dropped field's non-null values) or rows (a dropped collection's) that the import
  // loses, by "collection" or "collection.field".
  std::map<std::string, int64_t> losses;
  std::vector<Rows> rows;
  std::vector<Refusal> refusals;

  bool ok() const { return refusals.empty(); }
  boost::json::object ToJson() const;
  // For a terminal: sections Package, Plugins, Schema, Rows, Refusals.
  std::string ToText() const;
};

struct MigrateOptions {
  std::string app_version;
  PluginVersionFn plugin_version;
  // Brings the plugins to the package's states, inside the transaction (apply only). Wired by
  // the application, as for a restore.
  std::function<Status(db::Connection&, const boost::json::array& plugins,
                       const std::set<std::string>& disabled)>
      restore_plugins;
  bool apply = false;
  // Whether a diff that is not applied compares rows too (the import's own check before its
  // change leaves them to the change, which compares them under the lock anyway).
  bool rows = true;
  // Rows compared (or applied) of the package's total, with the table.
  std::function<Status(int64_t done, int64_t total, std::string_view what)> progress;
};

struct MigrateResult {
  MigrationDiff diff;
  std::shared_ptr<const data::Schema> schema;  // applied: the new Schema
  bool removals = false;                       // applied: a column or table was removed
};

// The diff of the package against the database as `conn` sees it. With `apply`, also the
// change, in the caller's transaction, refused before any write (FailedPrecondition,
// MIGRATION_REFUSED, naming the first refusal) when the diff has refusals.
Result<MigrateResult> Migrate(db::Connection& conn, const data::SchemaStore& store,
                              const ImportRequest& request, const PackageCheck& check,
                              const MigrateOptions& options);

}  // namespace slipway::ops
