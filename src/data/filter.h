// NocoBase filters compiled to SQL: the `filter` parameter of list, get, update, destroy and
// count, and the permission scopes that are ANDed with it.
//
// A filter is a JSON object in NocoBase's language:
//
//   {"title": "x"}                          implicit $eq
//   {"views": {"$gt": 10, "$lt": 20}}       several operators on one field: AND
//   {"$or": [{"a": 1}, {"b": {"$ne": 2}}]}  $and / $or take arrays of filters
//   {"author": {"name": {"$eq": "x"}}}      a belongsTo hop: LEFT JOIN "users" AS "t_author"
//   {"author.company.name": "x"}            dotted paths, any number of belongsTo hops
//   {"comments.body": {"$includes": "x"}}   a hasMany hop: EXISTS (SELECT 1 FROM "comments" ...)
//   {"author": {"$exists": true}}           relation present / absent
//
// Operators follow NocoBase (packages/core/database/src/operators), including its NULL handling:
// $ne and $notIn also match NULL, $empty on string and text fields matches NULL and ''. Where the
// dialects differ:
//   - $like/$iLike patterns are raw LIKE patterns with backslash as the escape character on
//     both dialects (PostgreSQL's default, made explicit for SQLite); SQLite's LIKE, and so $like,
//     is case-insensitive for ASCII where PostgreSQL's is not.
//   - $includes, $startsWith, $endsWith and their negations escape \ % _ in the value, and use
//     CAST(col AS TEXT) ILIKE on PostgreSQL, LIKE on SQLite.
// Empty groups follow Sequelize: {"$or": [{}, {"a": 1}]} is a=1, {"title": {}} and
// {"title": {"$includes": []}} add no condition, {"$and": []} adds none either; but an $or with no
// condition in it ({"$or": []}, {"$or": [{}]}) matches nothing, as in Sequelize ("Op.or: [] should
// return no data"). IN () is false, NOT IN () true.
// Values are converted with ToDbValue (values.h), exactly as for writes, so "5" matches an
// integer 5 and a filter given in bracket notation (every leaf a string) works. Operators that
// take no value ($empty, $notEmpty, $isTruly, $isFalsy, $exists, $notExists) need true (or
// "true"); $is and $not take null, true or false (also as strings).
//
// Identifiers come only from the Schema and are quoted; every value is a bound parameter ($N) in
// SqlParams, never part of the SQL text. The root table's alias is "t"; belongsTo hops are joined
// once each (aliases "t_author", "t_author_company", made unique within one call).
//
// Errors: InvalidArgument, prefixed "filter: ", naming the collection.field, the operator, the
// value or the limit that was wrong. On error `params` is left as it was before the call.
// Thread-safety: the functions are pure; SqlParams is a plain value owned by one request.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "data/access.h"
#include "data/schema.h"
#include "db/database.h"
#include "slipway/status.h"

namespace slipway::data {

// Collects the bound values of one statement; placeholders are $1, $2, ... in order of Add.
class SqlParams {
 public:
  // Appends a value and returns its placeholder ("$N").
  std::string Add(db::Value v);
  const std::vector<db::Value>& values() const { return values_; }
  size_t size() const { return values_.size(); }
  // Drops values added after the first `n` (undoes a failed compilation).
  void Truncate(size_t n) {
    if (n < values_.size()) values_.resize(n);
  }
  std::vector<db::Value> Take() { return std::move(values_); }

 private:
  std::vector<db::Value> values_;
};

// One belongsTo hop joined into the statement's FROM, e.g.
// LEFT JOIN "users" AS "t_author" ON "t_author"."id" = "t"."authorId".
struct Join {
  std::string alias;
  std::string sql;
};

struct CompiledFilter {
  std::string where;        // "" when the filter has no condition
  std::vector<Join> joins;  // to append after FROM <root table> AS "t", in order
};

// Bounds on what one filter may ask of the database; exceeding one is InvalidArgument naming it.
struct FilterLimits {
  int max_depth = 16;        // nesting of objects, groups and relation hops
  int max_conditions = 500;  // operator applications (each $in counts once)
  int max_list = 1000;       // values in one list ($in, $notIn, $includes: [...], ...)
  int max_values = 10000;    // bound values in total (SQLite allows 32766 per statement)
  int max_joins = 32;        // belongsTo joins in one FROM (SQLite allows 64 tables)
};

// Compiles `filter` (an object; null or {} mean no condition) for a query on `root`, whose
// table the caller selects from with the alias "t". Values are appended to `params`.
Result<CompiledFilter> CompileFilter(const boost::json::value& filter, const Schema& schema,
                                     const Collection& root, db::Dialect dialect, SqlParams* params,
                                     const FilterLimits& limits = {});

// Several filters over the same FROM (a request's filter and its permission scope), compiled in
// one go so that they share the joins: one condition per filter ("" when it has none), to be
// ANDed by the caller. With `access` (access.h), every field named must be one the caller may
// view (PermissionDenied otherwise), every relation hop needs `view` on its target, and the
// target's scope joins the condition. The root's own permission is the caller's to check; its
// field list applies when it grants `view`.
struct CompiledFilters {
  std::vector<std::string> wheres;  // parallel to the filters given
  std::vector<Join> joins;
};
Result<CompiledFilters> CompileFilters(const std::vector<const boost::json::value*>& filters,
                                       const Schema& schema, const Collection& root,
                                       db::Dialect dialect, SqlParams* params,
                                       const RecordAccess* access, const FilterLimits& limits = {});

// Parses the `filter` query parameter (JSON text). InvalidArgument "filter: malformed JSON at
// position N: <reason>" for a syntax error; text over 64 KiB or nested deeper than 32 levels is
// refused too.
Result<boost::json::value> ParseFilterJson(std::string_view text);

}  // namespace slipway::data
