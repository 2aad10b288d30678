// SchemaStore: collection definitions at rest, and the changes that alter them.
//
// Collections made through the API live in slipway_collections / slipway_fields; collections a
// plugin defines in code (users, roles, ...) are passed in and may carry extra fields stored the
// same way. Load() builds an immutable Schema from both.
//
// Each change (CreateCollection, DestroyField, ...) runs in the caller's transaction: it checks
// the request, runs the DDL, writes the definitions and returns the next Schema, validated. It
// never commits; the caller bumps the epoch and commits, then publishes the Schema. A refused
// change has written nothing (the caller rolls back).
//
// Removals are two-phase, so that a request still holding the previous Schema never names a
// column or table that is gone: DestroyField and DestroyCollection take the field or collection
// out of the Schema and record its column or table in slipway_pending_drops (on PostgreSQL a
// NOT NULL column also loses that constraint at once, so that inserts through the new Schema,
// which leave it out, succeed); FinishRemovals drops them later, once every node has stopped
// using every Schema older than the removal (api/services.h says when). Additions need no second
// phase: the column or table exists when the change commits, before any node can use it. A
// column or table still waiting to be dropped cannot be created again (409 BEING_REMOVED).
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "data/ddl.h"
#include "data/schema.h"
#include "db/database.h"

namespace slipway::data {

// Collections defined in code by plugins; their tables are created by the plugins' migrations.
using CodeCollections = std::vector<Collection>;

// One difference between two schemas, as a migration (ops/migration.h) shows and applies it.
struct SchemaChange {
  enum class Kind {
    kAddCollection,
    kDropCollection,
    kAlterCollection,
    kAddField,
    kDropField,
    kAlterField
  };
  Kind kind;
  std::string collection;
  std::string field;          // fields: the name it will have (added, altered) or has (dropped)
  std::string previous_name;  // an altered field renamed: its name here
  std::string type;           // fields: the field type
  std::string target;         // relations: the collection they point at
  std::string column;         // a dropped field's column, a dropped collection's table
  std::vector<std::string> changed;  // altered: the definition keys that differ
  bool index_changed = false;        // altered: gains or loses `unique` or `index` (an index)
};
std::string_view SchemaChangeKindName(SchemaChange::Kind kind);  // "addCollection", ...

// What turning one schema into another takes: the changes, in the order they apply, and the
// differences Sync cannot make (a field's type or another structural property changing), each
// a sentence naming the field.
struct SchemaSyncPlan {
  std::vector<SchemaChange> changes;
  std::vector<std::string> refusals;
};

class SchemaStore {
 public:
  explicit SchemaStore(CodeCollections code) : code_(std::move(code)) {}

  Result<std::shared_ptr<const Schema>> Load(db::Connection& conn) const;

  // The stored definitions, in the shape backups and migration packages carry:
  //   {"collections": [{"name", "options", "fields": [{"name", "options", "sort"}]}],
  //    "pluginFields": [{"collection", "fields": [...]}]}
  // (collections made through the API, then fields added to plugins' collections).
  Result<boost::json::object> Definitions(db::Connection& conn) const;
  // The Schema such definitions describe together with this node's code collections,
  // validated. Fields added to a plugin's collection this node lacks are left out. Load() is
  // FromDefinitions(Definitions(conn)).
  Result<std::shared_ptr<const Schema>> FromDefinitions(const boost::json::object& defs) const;

  // A migration's structure (ops/migration.h): what makes `now` into `next` for the collections
  // made through the API and the fields added to plugins' collections. Fields are matched by
  // column (a renamed field keeps its column and data), relations by name.
  SchemaSyncPlan PlanSync(const Schema& now, const Schema& next) const;
  // Applies PlanSync's changes in the caller's transaction: new tables (parents first) and
  // columns, unique indexes gained or lost, removed columns and tables through the pending
  // drops (two-phase, as any removal), and the stored definitions of `next`. Refused
  // (FailedPrecondition, SCHEMA_CHANGE_REFUSED) when the plan has refusals. Returns the new
  // Schema, equal to `next`, and whether anything was removed (SnapshotUpdate::removals).
  struct SyncResult {
    std::shared_ptr<const Schema> schema;
    bool removals = false;
  };
  Result<SyncResult> Sync(db::Connection& conn, const Schema& now, const Schema& next) const;

  Result<std::shared_ptr<const Schema>> CreateCollection(db::Connection& conn, const Schema& now,
                                                         const boost::json::object& def) const;
  // Changes title and display options; structural keys (name, fields, autoGenId...) are refused.
  Result<std::shared_ptr<const Schema>> UpdateCollection(db::Connection& conn, const Schema& now,
                                                         std::string_view name,
                                                         const boost::json::object& values) const;
  // Drops the collection's table and definition, and, as NocoBase does, the relation fields of
  // other collections that point at it (with the foreign key columns those relations made).
  Result<std::shared_ptr<const Schema>> DestroyCollection(db::Connection& conn, const Schema& now,
                                                          std::string_view name) const;
  Result<std::shared_ptr<const Schema>> CreateField(db::Connection& conn, const Schema& now,
                                                    std::string_view collection,
                                                    const boost::json::object& def) const;
  // Display options, `unique`, and a rename (values.name); type changes are refused.
  Result<std::shared_ptr<const Schema>> UpdateField(db::Connection& conn, const Schema& now,
                                                    std::string_view collection,
                                                    std::string_view field,
                                                    const boost::json::object& values) const;
  Result<std::shared_ptr<const Schema>> DestroyField(db::Connection& conn, const Schema& now,
                                                     std::string_view collection,
                                                     std::string_view field) const;

  // A restore's change (ops/restore.h): every collection made through the API and every field
  // added to a plugin's collection is dropped at once (the cluster is gated: no request holds
  // the Schema that names them), and the definitions of `dump` (a backup's schema.json: its
  // "collections" and "pluginFields") take their place, with their tables (created parents
  // first; empty) and columns. Returns the new Schema, validated. In the caller's transaction.
  Result<std::shared_ptr<const Schema>> ReplaceAll(db::Connection& conn, const Schema& now,
                                                   const boost::json::object& dump) const;
  // The tables of the collections made through the API in `schema`, as ReplaceAll creates them
  // (parents first; empty), wherever the connection's search_path puts a new table, the stored
  // definitions untouched: a restore on PostgreSQL loads its rows into them in a schema of its
  // own before its change (ops/restore.h). Returns their names.
  Result<std::vector<std::string>> CreateUserTables(db::Connection& conn,
                                                    const Schema& schema) const;

  // Drops the columns and tables removed at an epoch up to `up_to_epoch` (rows of
  // slipway_pending_drops), in the caller's transaction; returns how many were done. Columns
  // before tables; one that `now` uses again, or that is already gone, is only forgotten.
  Result<int> FinishRemovals(db::Connection& conn, const Schema& now, int64_t up_to_epoch) const;

  // Indexes on PostgreSQL (schema_indexes.cc). A change to a table that holds rows leaves its
  // new indexes out of the transaction (ddl.h); the one who made the change builds them after
  // the commit, and the change is confirmed once they are valid (api/services.h).
  //
  // The indexes `next` asks for that the database lacks or holds invalid (a build cut short):
  // with `now`, only those of collections the change touched (not the same object in both) and
  // new since `now`; without it, those of every collection (a node's start finishes the builds
  // a crash cut short). Empty on SQLite, whose changes build their indexes in the transaction.
  Result<std::vector<IndexSpec>> UnbuiltIndexes(db::Connection& conn, const Schema* now,
                                                const Schema& next) const;
  // Builds `index` with CREATE INDEX CONCURRENTLY on `conn` (outside any transaction): writes
  // go on meanwhile. One node builds a given index at a time (an advisory lock; another waits
  // and finds it built). An invalid leftover of the same name is dropped first, and so is the
  // index of a build that fails; the error names who asked for the index and why it failed
  // (AlreadyExists UNIQUE_VIOLATION with the duplicated key for a unique index).
  Status BuildIndex(db::Connection& conn, const IndexSpec& index) const;
  // The change that gives up an index that could not be built: the field's `unique` or `index`
  // is cleared, or the collection's `indexes` entry removed. In the caller's transaction.
  Result<std::shared_ptr<const Schema>> ForgoIndex(db::Connection& conn, const Schema& now,
                                                   const IndexSpec& index) const;

  // The code-defined collections (for plugins' install migrations).
  const CodeCollections& code_collections() const { return code_; }

 private:
  bool IsCodeCollection(std::string_view name) const;

  // The field a request changes or removes (`verb`: "changed", "removed"), with its name for
  // messages. NotFound for an unknown collection or field; FailedPrecondition for a field that a
  // plugin defines.
  struct FieldTarget {
    const Collection* collection;
    const Field* field;
    std::string what;  // "field 'posts.title'"
  };
  Result<FieldTarget> EditableField(const Schema& now, std::string_view collection,
                                    std::string_view field, std::string_view verb) const;

  CodeCollections code_;
};

// Brings the table of a collection defined in code in step with its definition: creates it
// when missing, adds the columns of fields it lacks. Never drops or alters a column.
Status SyncTable(db::Connection& conn, const Collection& collection, const Schema& schema);

// The stored JSON of a field (its definition plus the bookkeeping keys), and back.
boost::json::object StoredField(const Field& f, std::string_view collection);
Result<Field> FieldFromStored(const boost::json::object& stored, std::string_view collection);

}  // namespace slipway::data
