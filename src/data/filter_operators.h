// One NocoBase operator applied to one column: the part of the filter compiler (filter.h) that
// knows what each operator means for each field type on each dialect, and binds its values.
// Internal to src/data/filter.cc; split out so that each half reads in one sitting.
//
// Errors are InvalidArgument prefixed "filter: " (FilterError). A ValueBinder belongs to one
// compilation on one thread.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/filter.h"
#include "data/schema.h"
#include "db/database.h"
#include "slipway/status.h"

namespace slipway::data::filter_internal {

enum class Op {
  kEq,
  kNe,
  kIs,
  kNot,
  kIn,
  kNotIn,
  kGt,
  kGte,
  kLt,
  kLte,
  kBetween,
  kNotBetween,
  kLike,
  kNotLike,
  kILike,
  kNotILike,
  kIncludes,
  kNotIncludes,
  kStartsWith,
  kNotStartsWith,
  kEndsWith,
  kNotEndsWith,
  kEmpty,
  kNotEmpty,
  kIsTruly,
  kIsFalsy,
  kExists,
  kNotExists,
};

std::optional<Op> FindOp(std::string_view name);

// InvalidArgument("filter: " + message).
Status FilterError(std::string message);
// For messages: 'text' and a JSON value, both cut short (at a UTF-8 boundary) when long.
std::string Quoted(std::string_view s);
std::string Shown(const boost::json::value& v);
std::string JoinParts(const std::vector<std::string>& parts, std::string_view separator);
// true or "true": what NocoBase's client sends for operators that take no value.
bool IsTrue(const boost::json::value& v);

// Binds one compilation's values into SqlParams and counts them, and its conditions, against
// the limits.
class ValueBinder {
 public:
  ValueBinder(db::Dialect dialect, SqlParams* params, const FilterLimits& limits)
      : dialect_(dialect), params_(params), limits_(limits) {}

  db::Dialect dialect() const { return dialect_; }
  const FilterLimits& limits() const { return limits_; }

  // Counts one condition against max_conditions.
  Status CountCondition();
  // A request value for field `f` (named `what`), converted by ToDbValue; returns "$N".
  Result<std::string> Bind(const Field& f, const boost::json::value& v, const std::string& what);
  // "$1, $2, ..." for a list ($in), at most max_list values; "" for an empty list.
  Result<std::string> BindList(const Field& f, const boost::json::array& items,
                               const std::string& what, std::string_view op);
  // A LIKE pattern, refused when longer than SQLite runs.
  Result<std::string> BindPattern(std::string text, const std::string& what, std::string_view op);
  // A value the compiler made itself ('' for $empty, true/false for $isTruly/$isFalsy).
  Result<std::string> BindValue(db::Value v);

 private:
  Status CountValue();

  const db::Dialect dialect_;
  SqlParams* const params_;
  const FilterLimits& limits_;
  int conditions_ = 0;
  int values_ = 0;
};

// Appends to `parts` what operator `name` with value `v` means for `column` (the quoted,
// qualified reference to field `f`; `what` is "collection.field" for messages). Each part can be
// ANDed without parentheses.
Status CompileOperator(std::string_view name, const Field& f, const std::string& what,
                       const std::string& column, const boost::json::value& v, ValueBinder* binder,
                       std::vector<std::string>* parts);

}  // namespace slipway::data::filter_internal
