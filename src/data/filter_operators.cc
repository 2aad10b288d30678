#include "data/filter_operators.h"

#include <cmath>

#include "data/values.h"

namespace slipway::data::filter_internal {
namespace json = boost::json;

namespace {

// SQLite refuses LIKE patterns over 50,000 bytes when the statement runs; refuse long ones here,
// where the error names the filter.
constexpr size_t kMaxPatternBytes = 10'000;

struct OpName {
  std::string_view name;
  Op op;
};

constexpr OpName kOperators[] = {
    {"$eq", Op::kEq},
    {"$ne", Op::kNe},
    {"$is", Op::kIs},
    {"$not", Op::kNot},
    {"$in", Op::kIn},
    {"$notIn", Op::kNotIn},
    {"$gt", Op::kGt},
    {"$gte", Op::kGte},
    {"$lt", Op::kLt},
    {"$lte", Op::kLte},
    {"$between", Op::kBetween},
    {"$notBetween", Op::kNotBetween},
    {"$like", Op::kLike},
    {"$notLike", Op::kNotLike},
    {"$iLike", Op::kILike},
    {"$notILike", Op::kNotILike},
    {"$includes", Op::kIncludes},
    {"$notIncludes", Op::kNotIncludes},
    {"$startsWith", Op::kStartsWith},
    {"$notStartsWith", Op::kNotStartsWith},
    {"$endsWith", Op::kEndsWith},
    {"$notEndsWith", Op::kNotEndsWith},
    {"$endWith", Op::kEndsWith},  // NocoBase's own spelling
    {"$notEndWith", Op::kNotEndsWith},
    {"$empty", Op::kEmpty},
    {"$notEmpty", Op::kNotEmpty},
    {"$isTruly", Op::kIsTruly},
    {"$isFalsy", Op::kIsFalsy},
    {"$exists", Op::kExists},
    {"$notExists", Op::kNotExists},
};

// What a field's values are like, as far as operators care.
enum class Kind { kText, kNumber, kBoolean, kTemporal, kJson };

Kind KindOf(FieldType t) {
  if (IsTextual(t)) return Kind::kText;
  if (IsNumeric(t)) return Kind::kNumber;
  if (IsTemporal(t)) return Kind::kTemporal;
  if (t == FieldType::kBoolean) return Kind::kBoolean;
  return Kind::kJson;
}

bool Applies(Op op, Kind k) {
  switch (op) {
    case Op::kEq:
    case Op::kNe:
    case Op::kIn:
    case Op::kNotIn:
      return k != Kind::kJson;
    case Op::kIs:
    case Op::kNot:
    case Op::kEmpty:
    case Op::kNotEmpty:
      return true;
    case Op::kGt:
    case Op::kGte:
    case Op::kLt:
    case Op::kLte:
    case Op::kBetween:
    case Op::kNotBetween:
      return k == Kind::kText || k == Kind::kNumber || k == Kind::kTemporal;
    case Op::kLike:
    case Op::kNotLike:
    case Op::kILike:
    case Op::kNotILike:
    case Op::kIncludes:
    case Op::kNotIncludes:
    case Op::kStartsWith:
    case Op::kNotStartsWith:
    case Op::kEndsWith:
    case Op::kNotEndsWith:
      return k == Kind::kText;
    case Op::kIsTruly:
    case Op::kIsFalsy:
      return k == Kind::kBoolean;
    case Op::kExists:
    case Op::kNotExists:
      return false;  // relations only
  }
  return false;
}

// Values ToDbValue mishandles (undefined behaviour, found by fuzz/filter_fuzzer): it converts a
// double to int64 before checking its range (1e48), and epoch milliseconds to a date without
// one (9223372036854775807). Refused here until values.cc checks first.
std::string EscapeLike(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (char c : s) {
    if (c == '\\' || c == '%' || c == '_') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::optional<Op> FindOp(std::string_view name) {
  for (const OpName& o : kOperators) {
    if (o.name == name) return o.op;
  }
  return std::nullopt;
}

Status FilterError(std::string message) { return InvalidArgument("filter: " + message); }

namespace {

// At most `max` bytes of `s`, not splitting a UTF-8 sequence, with "..." when cut.
std::string Shortened(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end)) + "...";
}

}  // namespace

std::string Quoted(std::string_view s) { return "'" + Shortened(s, 100) + "'"; }

std::string Shown(const json::value& v) { return Shortened(json::serialize(v), 40); }

std::string JoinParts(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += separator;
    out += p;
  }
  return out;
}

bool IsTrue(const json::value& v) {
  return (v.is_bool() && v.as_bool()) || (v.is_string() && v.as_string() == "true");
}

Status ValueBinder::CountCondition() {
  if (++conditions_ > limits_.max_conditions) {
    return FilterError("more than " + std::to_string(limits_.max_conditions) +
                       " conditions (max_conditions)");
  }
  return Status::Ok();
}

Status ValueBinder::CountValue() {
  if (++values_ > limits_.max_values) {
    return FilterError("more than " + std::to_string(limits_.max_values) + " values (max_values)");
  }
  return Status::Ok();
}

Result<std::string> ValueBinder::BindValue(db::Value v) {
  RETURN_IF_ERROR(CountValue());
  return params_->Add(std::move(v));
}

Result<std::string> ValueBinder::Bind(const Field& f, const json::value& v,
                                      const std::string& what) {
  RETURN_IF_ERROR(CountValue());
  auto value = ToDbValue(f, v, dialect_, what);
  if (!value.ok()) return FilterError(value.status().message());
  return params_->Add(std::move(value).value());
}

Result<std::string> ValueBinder::BindList(const Field& f, const json::array& items,
                                          const std::string& what, std::string_view op) {
  if (items.size() > static_cast<size_t>(limits_.max_list)) {
    return FilterError("'" + std::string(op) + "' on " + Quoted(what) + " has more than " +
                       std::to_string(limits_.max_list) + " values (max_list)");
  }
  std::string list;
  for (const json::value& item : items) {
    ASSIGN_OR_RETURN(std::string ph, Bind(f, item, what));
    list += (list.empty() ? "" : ", ") + ph;
  }
  return list;
}

Result<std::string> ValueBinder::BindPattern(std::string text, const std::string& what,
                                             std::string_view op) {
  if (text.size() > kMaxPatternBytes) {
    return FilterError("'" + std::string(op) + "' on " + Quoted(what) +
                       ": the pattern is longer than " + std::to_string(kMaxPatternBytes) +
                       " bytes");
  }
  return BindValue(std::move(text));
}

namespace {

// The text of a LIKE pattern or of a value to search for: strings, and numbers and booleans as
// their text (as ToDbValue writes them into a text field).
Result<std::string> PatternText(const json::value& v, const std::string& what, std::string_view op,
                                db::Dialect dialect) {
  static const Field kTextField = [] {
    Field f;
    f.type = FieldType::kText;
    return f;
  }();
  if (v.is_null() || v.is_array() || v.is_object()) {
    return FilterError("'" + std::string(op) + "' on " + Quoted(what) + " needs a string, got " +
                       Shown(v));
  }
  auto value = ToDbValue(kTextField, v, dialect, what);
  if (!value.ok()) return FilterError(value.status().message());
  return std::get<std::string>(std::move(value).value());
}

// <column> [NOT] LIKE|ILIKE $N ESCAPE '\' -- `cast` compares the column's text on PostgreSQL.
std::string Like(const Field& f, const std::string& column, bool negative, bool insensitive,
                 bool cast, const std::string& placeholder, db::Dialect dialect) {
  const bool pg = dialect == db::Dialect::kPostgres;
  // PostgreSQL has no LIKE for uuid (or other non-text types): compare their text.
  bool text_column = f.type == FieldType::kString || f.type == FieldType::kText;
  std::string lhs = pg && (cast || !text_column) ? "CAST(" + column + " AS TEXT)" : column;
  std::string op = pg && insensitive ? "ILIKE" : "LIKE";
  return lhs + (negative ? " NOT " : " ") + op + " " + placeholder + " ESCAPE '\\'";
}

}  // namespace

Status CompileOperator(std::string_view name, const Field& f, const std::string& what,
                       const std::string& col, const json::value& v, ValueBinder* binder,
                       std::vector<std::string>* parts) {
  std::optional<Op> found = FindOp(name);
  if (!found) return FilterError("unknown operator '" + std::string(name) + "' on " + Quoted(what));
  const Op op = *found;
  if (!Applies(op, KindOf(f.type))) {
    return FilterError("'" + std::string(name) + "' does not apply to " +
                       std::string(FieldTypeName(f.type)) + " field " + Quoted(what));
  }
  RETURN_IF_ERROR(binder->CountCondition());
  const std::string op_name(name);
  auto needs = [&](std::string_view expected) {
    return FilterError("'" + op_name + "' on " + Quoted(what) + " needs " + std::string(expected) +
                       ", got " + Shown(v));
  };

  switch (op) {
    case Op::kEq:
    case Op::kNe: {
      const bool eq = op == Op::kEq;
      if (v.is_null()) {
        parts->push_back(col + (eq ? " IS NULL" : " IS NOT NULL"));
      } else if (v.is_array()) {
        ASSIGN_OR_RETURN(std::string list, binder->BindList(f, v.as_array(), what, name));
        if (list.empty()) {
          parts->push_back(eq ? "1 = 0" : "1 = 1");
        } else {
          parts->push_back(col + (eq ? " IN (" : " NOT IN (") + list + ")");
        }
      } else {
        ASSIGN_OR_RETURN(std::string ph, binder->Bind(f, v, what));
        parts->push_back(eq ? col + " = " + ph
                            : "(" + col + " <> " + ph + " OR " + col + " IS NULL)");
      }
      return Status::Ok();
    }
    case Op::kIs:
    case Op::kNot: {
      const char* is = op == Op::kIs ? " IS " : " IS NOT ";
      if (v.is_null() || (v.is_string() && v.as_string() == "null")) {
        parts->push_back(col + is + "NULL");
        return Status::Ok();
      }
      if (f.type == FieldType::kBoolean) {
        bool is_true = (v.is_bool() && v.as_bool()) || (v.is_string() && v.as_string() == "true");
        bool is_false =
            (v.is_bool() && !v.as_bool()) || (v.is_string() && v.as_string() == "false");
        if (is_true || is_false) {
          parts->push_back(col + is + (is_true ? "TRUE" : "FALSE"));
          return Status::Ok();
        }
        return needs("null, true or false");
      }
      return needs("null");
    }
    case Op::kIn:
    case Op::kNotIn: {
      if (!v.is_array()) return needs("an array");
      ASSIGN_OR_RETURN(std::string list, binder->BindList(f, v.as_array(), what, name));
      if (op == Op::kIn) {
        parts->push_back(list.empty() ? "1 = 0" : col + " IN (" + list + ")");
      } else {
        parts->push_back(
            list.empty() ? "1 = 1" : "(" + col + " NOT IN (" + list + ") OR " + col + " IS NULL)");
      }
      return Status::Ok();
    }
    case Op::kGt:
    case Op::kGte:
    case Op::kLt:
    case Op::kLte: {
      if (v.is_null()) return needs("a value");
      const char* sym = op == Op::kGt    ? " > "
                        : op == Op::kGte ? " >= "
                        : op == Op::kLt  ? " < "
                                         : " <= ";
      ASSIGN_OR_RETURN(std::string ph, binder->Bind(f, v, what));
      parts->push_back(col + sym + ph);
      return Status::Ok();
    }
    case Op::kBetween:
    case Op::kNotBetween: {
      if (!v.is_array() || v.as_array().size() != 2 || v.as_array()[0].is_null() ||
          v.as_array()[1].is_null()) {
        return needs("two values [from, to]");
      }
      ASSIGN_OR_RETURN(std::string from, binder->Bind(f, v.as_array()[0], what));
      ASSIGN_OR_RETURN(std::string to, binder->Bind(f, v.as_array()[1], what));
      parts->push_back(col + (op == Op::kBetween ? " BETWEEN " : " NOT BETWEEN ") + from + " AND " +
                       to);
      return Status::Ok();
    }
    case Op::kLike:
    case Op::kNotLike:
    case Op::kILike:
    case Op::kNotILike: {
      ASSIGN_OR_RETURN(std::string pattern, PatternText(v, what, name, binder->dialect()));
      size_t trailing = 0;
      while (trailing < pattern.size() && pattern[pattern.size() - 1 - trailing] == '\\') {
        ++trailing;
      }
      if (trailing % 2 == 1) {
        return FilterError("'" + op_name + "' on " + Quoted(what) +
                           ": the pattern ends with the escape character '\\'");
      }
      ASSIGN_OR_RETURN(std::string ph, binder->BindPattern(std::move(pattern), what, name));
      bool negative = op == Op::kNotLike || op == Op::kNotILike;
      bool insensitive = op == Op::kILike || op == Op::kNotILike;
      parts->push_back(Like(f, col, negative, insensitive, /*cast=*/false, ph, binder->dialect()));
      return Status::Ok();
    }
    case Op::kIncludes:
    case Op::kNotIncludes:
    case Op::kStartsWith:
    case Op::kNotStartsWith:
    case Op::kEndsWith:
    case Op::kNotEndsWith: {
      const bool negative =
          op == Op::kNotIncludes || op == Op::kNotStartsWith || op == Op::kNotEndsWith;
      if (v.is_null()) {
        parts->push_back(col + (negative ? " IS NOT NULL" : " IS NULL"));
        return Status::Ok();
      }
      const bool prefix = op != Op::kStartsWith && op != Op::kNotStartsWith;
      const bool suffix = op != Op::kEndsWith && op != Op::kNotEndsWith;
      std::vector<const json::value*> items;
      if (v.is_array()) {
        if (v.as_array().size() > static_cast<size_t>(binder->limits().max_list)) {
          return FilterError("'" + op_name + "' on " + Quoted(what) + " has more than " +
                             std::to_string(binder->limits().max_list) + " values (max_list)");
        }
        for (const json::value& item : v.as_array()) items.push_back(&item);
      } else {
        items.push_back(&v);
      }
      std::vector<std::string> terms;
      for (const json::value* item : items) {
        ASSIGN_OR_RETURN(std::string text, PatternText(*item, what, name, binder->dialect()));
        std::string pattern = (prefix ? "%" : "") + EscapeLike(text) + (suffix ? "%" : "");
        ASSIGN_OR_RETURN(std::string ph, binder->BindPattern(std::move(pattern), what, name));
        terms.push_back(
            Like(f, col, negative, /*insensitive=*/true, /*cast=*/true, ph, binder->dialect()));
      }
      if (terms.size() == 1) {
        parts->push_back(std::move(terms[0]));
      } else if (terms.size() > 1) {
        parts->push_back("(" + JoinParts(terms, negative ? " AND " : " OR ") + ")");
      }
      return Status::Ok();
    }
    case Op::kEmpty:
    case Op::kNotEmpty: {
      if (!IsTrue(v)) return needs("the value true");
      const bool empty = op == Op::kEmpty;
      if (f.type == FieldType::kString || f.type == FieldType::kText) {
        ASSIGN_OR_RETURN(std::string ph, binder->BindValue(std::string()));
        parts->push_back(empty ? "(" + col + " IS NULL OR " + col + " = " + ph + ")"
                               : "(" + col + " IS NOT NULL AND " + col + " <> " + ph + ")");
      } else {
        parts->push_back(col + (empty ? " IS NULL" : " IS NOT NULL"));
      }
      return Status::Ok();
    }
    case Op::kIsTruly:
    case Op::kIsFalsy: {
      if (!IsTrue(v)) return needs("the value true");
      ASSIGN_OR_RETURN(std::string ph, binder->BindValue(op == Op::kIsTruly));
      if (op == Op::kIsTruly) {
        parts->push_back(col + " = " + ph);
      } else {
        parts->push_back("(" + col + " = " + ph + " OR " + col + " IS NULL)");
      }
      return Status::Ok();
    }
    case Op::kExists:
    case Op::kNotExists:
      break;  // refused by Applies
  }
  return Internal("filter: unhandled operator " + op_name);
}

}  // namespace slipway::data::filter_internal
