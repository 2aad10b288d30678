// RecordAccess: what the caller's role may do with the records of each collection, as the data
// layer enforces it on every path into a collection: the collection's own list, get and writes,
// and also appended relations, dotted filter paths and sorts, and writes that link records of
// another collection. One check for all of them, so that a relation is never a way around the
// permission of its target (a forbidden collection is neither returned nor usable as an oracle).
//
// A null RecordAccess* means "no restriction" (the system itself, the root role).
//
// What each path requires (docs/permissions.md says it for users):
//   - columns returned, filtered on or sorted by: the collection's `view` permission and its
//     field list; a forbidden field asked for in `fields` is left out, one in a filter or a sort
//     is refused (PermissionDenied);
//   - appends: the target's `view` permission; a forbidden relation is left out (NocoBase does
//     the same), an allowed one returns only the target's permitted fields and rows (its scope);
//   - filters through a relation: the target's `view` permission, else PermissionDenied; the
//     target's scope joins the condition, so only rows the caller may see can match;
//   - writes: the fields of the `create` / `update` permission; setting a belongsTo needs `view`
//     on the target, setting a hasMany (which rewrites the target rows' keys) needs `update` on
//     every target row.
// Thread-safety: implementations are immutable and shared by one request.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "data/schema.h"

namespace slipway::data {

struct Permission {
  bool allowed = false;
  // Null: every record. Else a filter ANDed with every read or write of the collection (e.g. only
  // the records the caller created).
  boost::json::value scope;
  // Nullopt: every field. Else the fields this permission covers.
  std::optional<std::set<std::string>> fields;

  bool AllowsField(std::string_view name) const {
    return !fields || fields->count(std::string(name)) > 0;
  }
  static Permission All() { return Permission{true, nullptr, std::nullopt}; }
};

class RecordAccess {
 public:
  virtual ~RecordAccess() = default;
  // `action` is one of "view", "create", "update", "destroy".
  virtual Permission Check(const Collection& collection, std::string_view action) const = 0;
  // Names the caller in refusals ("role 'member'").
  virtual std::string Who() const = 0;
};

// PermissionDenied with NocoBase's code, e.g. "No permissions: role 'member' may not view
// 'secrets'".
Status NoPermission(const RecordAccess& access, std::string_view what);

}  // namespace slipway::data
