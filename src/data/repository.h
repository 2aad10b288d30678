// Repository: records of one collection, read and written with NocoBase's semantics, rendered
// straight into a response body ({"data": ..., "meta": ...}).
//
// Reads issue one query for the rows (plus a count for paginated lists) and one batched query
// per appended relation, never one per row. Writes check every value against the schema before
// any SQL runs, so a refused request writes nothing; a write that needs several statements
// (association links, several records) runs in one transaction. Passwords are stored as Argon2id
// hashes and never read back. A Repository borrows its connection and schema for one request;
// it is not shared between threads.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "data/access.h"
#include "data/read_spec.h"
#include "data/schema.h"
#include "db/database.h"
#include "slipway/plugin.h"

namespace slipway::data {

// The record hooks plugins registered (slipway::PluginContext::OnRecord), as the repository
// runs them: inside the write's transaction, once per record.
class RecordHooks {
 public:
  virtual ~RecordHooks() = default;
  virtual bool Has(std::string_view collection, RecordEvent event) const = 0;
  // Runs every hook for change.collection and change.event, in registration order; the first
  // failure aborts the write.
  virtual Status Run(RecordChange& change) const = 0;
};

struct WriteContext {
  std::optional<int64_t> user_id;  // fills createdById / updatedById
  std::string role;
  std::function<Result<int64_t>()> next_snowflake;  // for snowflakeId fields; required if any exist
  const RecordHooks* hooks = nullptr;               // may be null
  // What the caller may read and write (access.h); null for no restriction.
  const RecordAccess* access = nullptr;
};

// What an association's add, remove, set and toggle do to the links of one source record.
enum class LinkChange { kAdd, kRemove, kSet, kToggle };

// The source record of an association: its collection, primary key, and the value its relation
// joins on (its source key; for a belongsTo, unused).
struct LinkSource {
  const Collection* collection = nullptr;
  db::Value primary_key;
  db::Value link;
};

// The target keys an association action names: one key, an object with the key, or a list of
// either (at most 1000), converted to the type of the key the relation links by.
Result<std::vector<db::Value>> LinkKeys(const Schema& schema, const Collection& source,
                                        const Field& rel, const boost::json::value& given,
                                        db::Dialect dialect);

// Changes which records `rel` links to `source`, with NocoBase's meaning for each relation:
// belongsToMany rows of its join table (add, remove, set, toggle); hasMany the targets' foreign
// keys (add, remove, set); hasOne and belongsTo the one record (set, remove). Keys of records
// that do not exist are refused (InvalidArgument) before anything changes; the caller runs it in
// a transaction.
Status ChangeLinks(db::Connection& conn, const Schema& schema, const LinkSource& source,
                   const Field& rel, const std::vector<db::Value>& keys, LinkChange change);

class Repository {
 public:
  Repository(const Schema& schema, const Collection& collection, db::Connection& conn,
             WriteContext ctx = {})
      : schema_(schema), c_(collection), conn_(conn), ctx_(std::move(ctx)) {}

  // Keeps every read and write of this repository to the targets that `rel` (a belongsToMany to
  // this collection) links to the source record whose source key is `source_link`.
  void RestrictToLinked(const Field& rel, db::Value source_link) {
    linked_rel_ = &rel;
    linked_source_ = std::move(source_link);
  }

  // `scope` is ANDed with the spec's filter: a permission scope or an association's key.
  Status List(const ReadSpec& spec, const boost::json::value& scope, std::string* body);
  // Without filterByTk or a filter, `first_of_scope` reads the first record of the scope (a
  // hasOne's one record); otherwise that is InvalidArgument.
  Status Get(const ReadSpec& spec, const boost::json::value& filter_by_tk,
             const boost::json::value& scope, std::string* body, bool first_of_scope = false);
  Status Count(const boost::json::value& filter, int64_t* count);

  // `values` is an object (one record) or an array of objects (several, in one transaction).
  // `fixed` values (an association's foreign key) override the client's.
  Status Create(const boost::json::value& values, const boost::json::object& fixed,
                const ReadSpec& out, std::string* body);
  // Updates what filterByTk and/or filter (ANDed with scope) match; at least one is required.
  // Body: {"data":[records]} as NocoBase answers.
  Status Update(const boost::json::value& filter_by_tk, const boost::json::value& filter,
                const boost::json::value& scope, const boost::json::object& values,
                const ReadSpec& out, std::string* body);
  // Body: {"data": <number of records destroyed>}.
  Status Destroy(const boost::json::value& filter_by_tk, const boost::json::value& filter,
                 const boost::json::value& scope, std::string* body);
  // Finds the record whose `filter_keys` equal those in `values`; creates it when none does
  // (firstOrCreate) or updates it with `values` (updateOrCreate).
  Status FirstOrCreate(const std::vector<std::string>& filter_keys,
                       const boost::json::object& values, const ReadSpec& out, std::string* body);
  Status UpdateOrCreate(const std::vector<std::string>& filter_keys,
                        const boost::json::object& values, const ReadSpec& out, std::string* body);

 private:
  // Begins a transaction into `*tx` unless one is open already: the caller's (which this work
  // then joins) or one begun here before.
  Status BeginUnlessOpen(std::optional<db::Transaction>* tx);

  struct Where {
    std::string joins;      // " LEFT JOIN ..." clauses
    std::string condition;  // "" for none
    // filterByTk or the filter narrowed the rows (the scope does not count): an update or destroy
    // without it would touch every record the caller may touch, and is refused.
    bool selective = false;
  };
  Result<Where> BuildWhere(const boost::json::value& filter_by_tk, const boost::json::value& filter,
                           const boost::json::value& scope, SqlParams* params);
  // With `sort_columns`, the sort keys' columns follow the spec's (a list's next cursor).
  Result<std::string> SelectSql(const ReadSpec& spec, const Where& where,
                                bool sort_columns = false) const;
  // `max_rows` (as an array; -1: all) leaves out the row a page without a count read to learn
  // whether a next page exists.
  Status RenderRows(const std::vector<const Field*>& columns,
                    const std::vector<AppendNode>& appends, const db::ResultSet& rs,
                    std::string* out, bool as_array, int max_rows = -1);
  // Whether a paginated list counts its rows (ReadSpec::count; NocoBase's rule for kAuto).
  Result<bool> CountsRows(const ReadSpec& spec);
  // The database's estimate of the table's rows (PostgreSQL's pg_class.reltuples once the table
  // was analyzed; SQLite's largest rowid); nullopt when it has none.
  Result<std::optional<int64_t>> EstimatedRows();
  Status InsertOne(const boost::json::object& values, const boost::json::object& fixed,
                   const ReadSpec& out, std::string* rendered);
  bool HasHook(RecordEvent event) const;
  Status RunHook(RecordEvent event, boost::json::object* values, const boost::json::object* before,
                 const boost::json::object* after);
  // Every visible column of the collection, first those of `out`, so that a result with these
  // columns renders `out` from its leading columns and hooks from all of them.
  std::vector<const Field*> AllColumns(const std::vector<const Field*>& first) const;
  // The records (all visible columns) whose keys are listed, keyed by the primary key's text.
  Result<std::map<std::string, boost::json::object>> RecordsByKey(const std::string& matching_sql,
                                                                  std::vector<db::Value> params,
                                                                  bool for_update);
  Result<std::vector<std::string>> FindKeysByValues(const std::vector<std::string>& keys,
                                                    const boost::json::object& values);

  const Schema& schema_;
  const Collection& c_;
  db::Connection& conn_;
  WriteContext ctx_;
  const Field* linked_rel_ = nullptr;
  db::Value linked_source_;
};

}  // namespace slipway::data
