#include "data/cursor.h"

#include "core/sodium.h"
#include "data/repository_internal.h"

namespace slipway::data {
namespace json = boost::json;
using repository_internal::Qualified;

namespace {

bool Nullable(const Field& f) { return f.allow_null && !f.primary_key; }

bool IsNull(const db::Value& v) { return std::holds_alternative<std::monostate>(v); }

}  // namespace

std::string SortSignature(const std::vector<SortKey>& sort) {
  std::string out;
  for (const SortKey& k : sort) {
    if (!out.empty()) out += ",";
    out += (k.descending ? "-" : "") + k.field->name;
  }
  return out;
}

std::string EncodeCursor(const std::vector<SortKey>& sort, const db::ResultSet& rs, int row,
                         int first_col) {
  json::array a;
  a.emplace_back(SortSignature(sort));
  for (size_t i = 0; i < sort.size(); ++i) {
    const int col = first_col + static_cast<int>(i);
    switch (rs.Kind(row, col)) {
      case db::CellKind::kNull:
        a.emplace_back(nullptr);
        break;
      case db::CellKind::kInteger:
        a.emplace_back(rs.Int(row, col));
        break;
      case db::CellKind::kReal:
        a.emplace_back(rs.Double(row, col));
        break;
      case db::CellKind::kBool:
        a.emplace_back(rs.Bool(row, col));
        break;
      default:
        a.emplace_back(rs.Text(row, col));
        break;
    }
  }
  return core::Base64UrlEncode(json::serialize(a));
}

Result<std::vector<db::Value>> DecodeCursor(std::string_view cursor,
                                            const std::vector<SortKey>& sort) {
  const std::string expected = SortSignature(sort);
  auto refuse = [&](std::string why) {
    return InvalidArgument("cursor: " + why + "; a cursor is the meta.nextCursor of a list");
  };
  std::optional<std::string> text = core::Base64UrlDecode(cursor);
  if (!text) return refuse("not a cursor");
  boost::system::error_code ec;
  json::value parsed = json::parse(*text, ec);
  if (ec || !parsed.is_array() || parsed.as_array().empty() || !parsed.as_array()[0].is_string()) {
    return refuse("not a cursor");
  }
  const json::array& a = parsed.as_array();
  if (a[0].as_string() != expected || a.size() != sort.size() + 1) {
    return refuse("made for the sort '" + std::string(a[0].as_string()) +
                  "', and this list sorts by '" + expected + "'");
  }
  std::vector<db::Value> out;
  for (size_t i = 1; i < a.size(); ++i) {
    const json::value& v = a[i];
    if (v.is_null()) {
      out.emplace_back(db::Null());
    } else if (v.is_bool()) {
      out.emplace_back(v.as_bool());
    } else if (v.is_int64()) {
      out.emplace_back(v.as_int64());
    } else if (v.is_double()) {
      out.emplace_back(v.as_double());
    } else if (v.is_string()) {
      out.emplace_back(std::string(v.as_string()));
    } else {
      return refuse("not a cursor");
    }
  }
  return out;
}

std::string AfterCursorSql(const std::vector<SortKey>& sort, const std::vector<db::Value>& values,
                           SqlParams* params) {
  // Strictly after in the key's order; "" when nothing is (NULL is last ascending).
  auto after = [&](const SortKey& k, const db::Value& v) -> std::string {
    const std::string col = Qualified(*k.field);
    if (IsNull(v)) return k.descending ? col + " IS NOT NULL" : "";
    if (k.descending) return col + " < " + params->Add(v);
    if (!Nullable(*k.field)) return col + " > " + params->Add(v);
    return "(" + col + " > " + params->Add(v) + " OR " + col + " IS NULL)";
  };
  auto equal = [&](const SortKey& k, const db::Value& v) -> std::string {
    const std::string col = Qualified(*k.field);
    return IsNull(v) ? col + " IS NULL" : col + " = " + params->Add(v);
  };
  std::string bound;
  if (!sort.empty() && !IsNull(values[0])) {
    const SortKey& first = sort[0];
    // Every record after the cursor has its first key on this side of the cursor's (NULLs,
    // first when descending, are before it): an index on the key seeks there.
    if (first.descending) {
      bound = Qualified(*first.field) + " <= " + params->Add(values[0]);
    } else if (!Nullable(*first.field)) {
      bound = Qualified(*first.field) + " >= " + params->Add(values[0]);
    }
  }
  std::string any;
  for (size_t i = 0; i < sort.size(); ++i) {
    std::string term = after(sort[i], values[i]);
    if (term.empty()) continue;
    for (size_t j = i; j-- > 0;) term = equal(sort[j], values[j]) + " AND " + term;
    any += (any.empty() ? "" : " OR ") + ("(" + term + ")");
  }
  if (any.empty()) any = "1 = 0";
  return bound.empty() ? "(" + any + ")" : "(" + bound + " AND (" + any + "))";
}

}  // namespace slipway::data
