// ReadSpec: what a list or get reads, built from NocoBase's action parameters and checked
// against the schema before any SQL is made.
//
//   fields=id,title | fields[]=id     the columns to return (default: all but hidden ones)
//   except=body                       columns to leave out
//   appends=author,comments.author    relations to embed, nested with dots
//   sort=-createdAt,title             order; the primary key breaks ties
//   page=2&pageSize=20                pagination (pageSize at most kMaxPageSize)
//   paginate=false                    every matching row (at most kMaxUnpaginatedRows)
//   count=exact | count=none          a page with its total count, or with hasNext only (the
//                                     default: the collection's simplePaginate, else a count
//                                     unless the table is estimated past the limit)
//   cursor=<meta.nextCursor>          the page after the one that gave the cursor, by the values
//                                     of its last record's sort keys (cursor.h); `cursor=` (empty)
//                                     starts at the first record. Without a count unless
//                                     count=exact.
//   filter={...} | filter[a][$eq]=1   see filter.h
//
// Every name is resolved in the schema; an unknown one is InvalidArgument naming it.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "data/access.h"
#include "data/filter.h"
#include "data/schema.h"

namespace slipway::data {

inline constexpr int64_t kMaxPageSize = 1000;
inline constexpr int64_t kMaxUnpaginatedRows = 10000;

struct SortKey {
  const Field* field;
  bool descending;
};

struct AppendNode {
  const Field* relation;  // belongsTo or hasMany of the parent collection
  const Collection* target;
  std::vector<const Field*> columns;  // the target's fields to return (the caller may view)
  boost::json::value scope;           // the target rows the caller may view (null: all)
  std::vector<AppendNode> children;
};

// How a paginated list counts: NocoBase's choice (an exact count, unless the collection says
// `simplePaginate` or its table is estimated past the limit: then `hasNext`), or what the
// request asks with `count=exact` or `count=none`.
enum class CountMode { kAuto, kExact, kNone };

// page, pageSize, paginate and count as NocoBase reads them.
struct Pagination {
  int64_t page = 1;
  int64_t page_size = 20;
  bool paginate = true;
  CountMode count = CountMode::kAuto;
  std::optional<std::string> cursor;  // keyset pagination ("" : from the first record)
};

struct ReadSpec {
  const Collection* collection = nullptr;
  std::vector<const Field*> columns;  // in output order; includes keys appends need
  std::vector<SortKey> sort;
  std::vector<AppendNode> appends;
  boost::json::value filter;  // the filter as given (null for none), compiled per query
  int64_t page = 1;
  int64_t page_size = 20;
  bool paginate = true;
  CountMode count = CountMode::kAuto;
  std::optional<std::string> cursor;  // Pagination::cursor
  // kAuto: a table the database estimates past this many rows is not counted.
  int64_t exact_count_limit = 300'000;
};

// Builds the spec for `collection` from `params` (the parsed query string merged with action
// parameters). `filter` may be an object or JSON text. With `access` (access.h) the spec holds
// only what the caller may view: fields outside its `view` permission are left out, so are
// appended relations whose target it may not view; sorting by such a field is PermissionDenied.
// A caller without `view` on the collection itself (create-only) gets its primary key back.
Result<ReadSpec> BuildReadSpec(const Schema& schema, const Collection& collection,
                               const boost::json::object& params,
                               const RecordAccess* access = nullptr);

// Reads page (1..1e9), pageSize (1..kMaxPageSize), paginate ("false" turns it off), count and
// cursor (which excludes page and paginate=false).
Result<Pagination> PaginationParams(const boost::json::object& params);

// Reads a list parameter given as an array of strings or as comma-separated text.
Result<std::vector<std::string>> ListParam(const boost::json::object& params, std::string_view key);

// Reads the `filter` parameter: an object, JSON text, or absent (null).
Result<boost::json::value> FilterParam(const boost::json::object& params);

}  // namespace slipway::data
