// Helpers shared by the repository's read and write halves (not part of any interface).
#pragma once

#include <boost/json.hpp>
#include <charconv>
#include <string>
#include <vector>

#include "data/schema.h"
#include "db/database.h"

namespace slipway::data::repository_internal {

using db::QuoteIdent;

inline constexpr size_t kInChunk = 500;

inline std::string Qualified(const Field& f) { return "\"t\"." + QuoteIdent(f.column); }

inline std::string ColumnList(const std::vector<const Field*>& columns, bool qualified) {
  std::string out;
  for (const Field* f : columns) {
    if (!out.empty()) out += ", ";
    out += qualified ? Qualified(*f) : QuoteIdent(f->column);
  }
  return out;
}

inline bool IsManaged(const Field& f) {
  return f.system && (f.name == "createdAt" || f.name == "updatedAt" || f.name == "createdById" ||
                      f.name == "updatedById");
}

// A key read from a result cell, bound back as a parameter of the key field's type.
inline db::Value KeyValue(const Field& key, std::string_view text) {
  if (IsIntegral(key.type)) {
    int64_t n = 0;
    std::from_chars(text.data(), text.data() + text.size(), n);
    return n;
  }
  return std::string(text);
}

inline bool IsEmptyFilter(const boost::json::value& v) {
  return v.is_null() || (v.is_object() && v.as_object().empty());
}

// Writes row r of rs as a JSON object whose keys are `columns` (rs has them in that order).
void WriteRecord(std::string* out, const std::vector<const Field*>& columns,
                 const db::ResultSet& rs, int r);

inline std::string WithWhere(const std::string& condition) {
  return condition.empty() ? "" : " WHERE " + condition;
}

}  // namespace slipway::data::repository_internal
