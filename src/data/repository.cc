#include "data/repository.h"

#include <charconv>
#include <map>
#include <unordered_map>

#include "core/json_writer.h"
#include "data/cursor.h"
#include "data/repository_internal.h"
#include "data/values.h"
#include "db/catalog.h"

namespace slipway::data {
namespace json = boost::json;
using db::QuoteIdent;
using namespace repository_internal;

Result<Repository::Where> Repository::BuildWhere(const json::value& filter_by_tk,
                                                 const json::value& filter,
                                                 const json::value& scope, SqlParams* params) {
  Where where;
  std::vector<std::string> conditions;
  if (!filter_by_tk.is_null()) {
    const Field* pk = c_.PrimaryKey();
    if (pk == nullptr) return InvalidArgument("collection '" + c_.name + "' has no primary key");
    std::string what = c_.name + "." + pk->name;
    if (filter_by_tk.is_array()) {
      const json::array& keys = filter_by_tk.as_array();
      if (keys.empty()) return InvalidArgument("filterByTk: the list is empty");
      if (keys.size() > 1000) return InvalidArgument("filterByTk: more than 1000 keys");
      std::string list;
      for (const json::value& k : keys) {
        auto v = ToDbValue(*pk, k, conn_.dialect(), what);
        if (!v.ok()) return InvalidArgument("filterByTk: " + v.status().message());
        list += (list.empty() ? "" : ", ") + params->Add(std::move(v).value());
      }
      conditions.push_back(Qualified(*pk) + " IN (" + list + ")");
    } else {
      auto v = ToDbValue(*pk, filter_by_tk, conn_.dialect(), what);
      if (!v.ok()) return InvalidArgument("filterByTk: " + v.status().message());
      conditions.push_back(Qualified(*pk) + " = " + params->Add(std::move(v).value()));
    }
    where.selective = true;
  }
  if (linked_rel_ != nullptr) {
    const Collection* through = schema_.Find(linked_rel_->through);
    const Field* fk = through ? through->FindField(linked_rel_->foreign_key) : nullptr;
    const Field* ok = through ? through->FindField(linked_rel_->other_key) : nullptr;
    const Field* tk = c_.FindField(linked_rel_->target_key);
    if (fk == nullptr || ok == nullptr || tk == nullptr) {
      return Internal("relation '" + linked_rel_->name + "' is incomplete");
    }
    conditions.push_back(Qualified(*tk) + " IN (SELECT \"j\"." + QuoteIdent(ok->column) + " FROM " +
                         QuoteIdent(through->table) + " AS \"j\" WHERE \"j\"." +
                         QuoteIdent(fk->column) + " = " + params->Add(linked_source_) + ")");
  }
  // The request's filter is checked against the caller's permissions; the scope is ours.
  ASSIGN_OR_RETURN(CompiledFilters compiled, CompileFilters({&filter, &scope}, schema_, c_,
                                                            conn_.dialect(), params, ctx_.access));
  for (const Join& j : compiled.joins) where.joins += " " + j.sql;
  if (!compiled.wheres[0].empty()) where.selective = true;
  for (const std::string& w : compiled.wheres) {
    if (!w.empty()) conditions.push_back("(" + w + ")");
  }
  for (const std::string& c : conditions) {
    where.condition += (where.condition.empty() ? "" : " AND ") + c;
  }
  return where;
}

Result<std::string> Repository::SelectSql(const ReadSpec& spec, const Where& where,
                                          bool sort_columns) const {
  std::string columns = ColumnList(spec.columns, true);
  if (sort_columns) {
    for (const SortKey& k : spec.sort) columns += ", " + Qualified(*k.field);
  }
  std::string sql = "SELECT " + columns + " FROM " + QuoteIdent(c_.table) + " AS \"t\"" +
                    where.joins + WithWhere(where.condition);
  if (!spec.sort.empty()) {
    sql += " ORDER BY ";
    bool first = true;
    for (const SortKey& k : spec.sort) {
      if (!first) sql += ", ";
      first = false;
      sql += Qualified(*k.field) + (k.descending ? " DESC" : " ASC");
      // PostgreSQL's NULL order, so both dialects page identically.
      if (conn_.dialect() == db::Dialect::kSqlite)
        sql += k.descending ? " NULLS FIRST" : " NULLS LAST";
    }
  }
  return sql;
}

namespace {

// An appended relation, loaded for every row of a result at once and keyed by the text of the
// column that joins it.
struct LoadedAppend {
  const AppendNode* node;
  int key_col;
  std::unordered_map<std::string, std::string> one;                // belongsTo, hasOne
  std::unordered_map<std::string, std::vector<std::string>> many;  // hasMany, belongsToMany
};

Result<std::vector<LoadedAppend>> LoadAppends(db::Connection& conn, const Schema& schema,
                                              const std::vector<const Field*>& columns,
                                              const std::vector<AppendNode>& appends,
                                              const db::ResultSet& rs);

void WriteRow(std::string* out, const std::vector<const Field*>& columns,
              const std::vector<LoadedAppend>& loaded, const db::ResultSet& rs, int r) {
  WriteRecord(out, columns, rs, r);
  if (loaded.empty()) return;
  out->pop_back();  // reopen the object for the appended relations
  for (const LoadedAppend& l : loaded) {
    out->push_back(',');
    core::AppendJsonString(out, l.node->relation->name);
    out->push_back(':');
    bool null_key = rs.IsNull(r, l.key_col);
    std::string key = null_key ? std::string() : std::string(rs.Text(r, l.key_col));
    if (!IsToMany(l.node->relation->type)) {
      auto it = null_key ? l.one.end() : l.one.find(key);
      out->append(it == l.one.end() ? std::string_view("null") : std::string_view(it->second));
    } else {
      out->push_back('[');
      auto it = null_key ? l.many.end() : l.many.find(key);
      if (it != l.many.end()) {
        for (size_t j = 0; j < it->second.size(); ++j) {
          if (j > 0) out->push_back(',');
          out->append(it->second[j]);
        }
      }
      out->push_back(']');
    }
  }
  out->push_back('}');
}

Result<std::vector<LoadedAppend>> LoadAppends(db::Connection& conn, const Schema& schema,
                                              const std::vector<const Field*>& columns,
                                              const std::vector<AppendNode>& appends,
                                              const db::ResultSet& rs) {
  std::vector<LoadedAppend> loaded;
  for (const AppendNode& node : appends) {
    const Field& rel = *node.relation;
    const std::string& source_col = rel.local_key();
    int key_col = -1;
    for (size_t i = 0; i < columns.size(); ++i) {
      if (columns[i]->name == source_col) key_col = static_cast<int>(i);
    }
    if (key_col < 0) return Internal("append '" + rel.name + "' lacks its key column");
    const Collection& target = *node.target;
    // The rows are matched to their source by a column of the target, or for a belongsToMany by
    // the join table's foreign key, selected after the target's columns.
    const bool joined = rel.type == FieldType::kBelongsToMany;
    const Collection* through = joined ? schema.Find(rel.through) : nullptr;
    const Field* match =
        joined ? (through ? through->FindField(rel.foreign_key) : nullptr)
               : target.FindField(rel.type == FieldType::kBelongsTo ? rel.target_key
                                                                    : rel.foreign_key);
    const Field* other = through ? through->FindField(rel.other_key) : nullptr;
    const Field* target_key = target.FindField(rel.target_key);
    if (match == nullptr || (joined && (other == nullptr || target_key == nullptr))) {
      return Internal("append '" + rel.name + "' lacks its keys");
    }

    std::vector<std::string> keys;
    std::unordered_map<std::string, bool> seen;
    for (int r = 0; r < rs.row_count(); ++r) {
      if (rs.IsNull(r, key_col)) continue;
      std::string k(rs.Text(r, key_col));
      if (seen.emplace(k, true).second) keys.push_back(std::move(k));
    }
    // The target's columns the caller may view, plus the matching key and the keys its own
    // appends need.
    std::vector<const Field*> target_columns = node.columns;
    auto ensure = [&](const Field* f) {
      if (f == nullptr) return;
      for (const Field* have : target_columns) {
        if (have == f) return;
      }
      target_columns.push_back(f);
    };
    if (!joined) ensure(match);
    for (const AppendNode& child : node.children) {
      ensure(target.FindField(child.relation->local_key()));
    }
    int match_col = joined ? static_cast<int>(target_columns.size()) : -1;
    for (size_t i = 0; !joined && i < target_columns.size(); ++i) {
      if (target_columns[i] == match) match_col = static_cast<int>(i);
    }
    const std::string match_sql = joined ? "\"j\"." + QuoteIdent(match->column) : Qualified(*match);

    LoadedAppend l{&node, key_col, {}, {}};
    for (size_t start = 0; start < keys.size(); start += kInChunk) {
      SqlParams params;
      std::string list;
      for (size_t i = start; i < std::min(keys.size(), start + kInChunk); ++i) {
        list += (list.empty() ? "" : ", ") + params.Add(KeyValue(*match, keys[i]));
      }
      std::string sql = "SELECT " + ColumnList(target_columns, true) +
                        (joined ? ", " + match_sql : std::string()) + " FROM " +
                        QuoteIdent(target.table) + " AS \"t\"";
      if (joined) {
        sql += " JOIN " + QuoteIdent(through->table) + " AS \"j\" ON \"j\"." +
               QuoteIdent(other->column) + " = " + Qualified(*target_key);
      }
      sql += " WHERE " + match_sql + " IN (" + list + ")";
      if (!node.scope.is_null()) {  // only the target rows the caller may view
        ASSIGN_OR_RETURN(CompiledFilter visible,
                         CompileFilter(node.scope, schema, target, conn.dialect(), &params));
        if (!visible.joins.empty())
          return Internal("the permission scope of '" + target.name + "' joins relations");
        if (!visible.where.empty()) sql += " AND (" + visible.where + ")";
      }
      if (const Field* tpk = target.PrimaryKey()) sql += " ORDER BY " + Qualified(*tpk);
      std::vector<db::Value> values = params.Take();
      ASSIGN_OR_RETURN(auto target_rs, conn.Query(sql, values));
      ASSIGN_OR_RETURN(auto nested,
                       LoadAppends(conn, schema, target_columns, node.children, *target_rs));
      for (int r = 0; r < target_rs->row_count(); ++r) {
        std::string row;
        WriteRow(&row, target_columns, nested, *target_rs, r);
        std::string k(target_rs->Text(r, match_col));
        if (!IsToMany(rel.type)) {
          l.one.emplace(std::move(k), std::move(row));
        } else {
          l.many[k].push_back(std::move(row));
        }
      }
    }
    loaded.push_back(std::move(l));
  }
  return loaded;
}

}  // namespace

void repository_internal::WriteRecord(std::string* out, const std::vector<const Field*>& columns,
                                      const db::ResultSet& rs, int r) {
  out->push_back('{');
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) out->push_back(',');
    core::AppendJsonString(out, columns[i]->name);
    out->push_back(':');
    AppendCellJson(out, *columns[i], rs, r, static_cast<int>(i));
  }
  out->push_back('}');
}

Status Repository::RenderRows(const std::vector<const Field*>& columns,
                              const std::vector<AppendNode>& appends, const db::ResultSet& rs,
                              std::string* out, bool as_array, int max_rows) {
  ASSIGN_OR_RETURN(auto loaded, LoadAppends(conn_, schema_, columns, appends, rs));
  if (as_array) {
    out->push_back('[');
    const int n = max_rows >= 0 ? std::min(max_rows, rs.row_count()) : rs.row_count();
    for (int r = 0; r < n; ++r) {
      if (r > 0) out->push_back(',');
      WriteRow(out, columns, loaded, rs, r);
    }
    out->push_back(']');
  } else if (rs.row_count() > 0) {
    WriteRow(out, columns, loaded, rs, 0);
  } else {
    out->append("null");
  }
  return Status::Ok();
}

Result<std::optional<int64_t>> Repository::EstimatedRows() {
  return db::EstimatedRows(conn_, c_.table);
}

Result<bool> Repository::CountsRows(const ReadSpec& spec) {
  if (!spec.paginate) return false;
  if (spec.count != CountMode::kAuto) return spec.count == CountMode::kExact;
  // NocoBase's collection option: no count at all, hasNext instead.
  if (const json::value* simple = c_.options.if_contains("simplePaginate");
      simple != nullptr && simple->is_bool()) {
    return !simple->as_bool();
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> estimate, EstimatedRows());
  return !estimate || *estimate <= spec.exact_count_limit;
}

Status Repository::List(const ReadSpec& spec, const json::value& scope, std::string* body) {
  SqlParams params;
  ASSIGN_OR_RETURN(Where where, BuildWhere(nullptr, spec.filter, scope, &params));
  // A count counts what the filter matches, wherever the cursor is.
  const std::string count_sql = "SELECT count(*) FROM " + QuoteIdent(c_.table) + " AS \"t\"" +
                                where.joins + WithWhere(where.condition);
  const std::vector<db::Value> count_values = params.values();
  const bool by_cursor = spec.paginate && spec.cursor.has_value();
  if (by_cursor && !spec.cursor->empty()) {
    ASSIGN_OR_RETURN(std::vector<db::Value> after, DecodeCursor(*spec.cursor, spec.sort));
    std::string condition = AfterCursorSql(spec.sort, after, &params);
    where.condition = where.condition.empty() ? condition : where.condition + " AND " + condition;
  }
  // The sort keys' values follow the record's columns: the next page's cursor.
  ASSIGN_OR_RETURN(std::string sql, SelectSql(spec, where, spec.paginate));
  int64_t count = 0;
  std::vector<db::Value> values = params.Take();
  ASSIGN_OR_RETURN(const bool counted_list,
                   by_cursor ? Result<bool>(spec.count == CountMode::kExact) : CountsRows(spec));
  if (spec.paginate && counted_list) {
    ASSIGN_OR_RETURN(auto counted, conn_.Query(count_sql, count_values));
    count = counted->Int(0, 0);
  }
  const int64_t offset = spec.paginate && !by_cursor ? (spec.page - 1) * spec.page_size : 0;
  std::unique_ptr<db::ResultSet> rows;
  // Without a count, one row more than the page says whether there is a next one.
  const bool counts_pages = counted_list && !by_cursor;
  int64_t limit = !spec.paginate ? kMaxUnpaginatedRows + 1
                  : counts_pages ? spec.page_size
                                 : spec.page_size + 1;
  bool has_next = counts_pages && count > offset + spec.page_size;
  if (!spec.paginate || !counts_pages || count > offset) {
    size_t n = values.size();
    sql += " LIMIT $" + std::to_string(n + 1) + " OFFSET $" + std::to_string(n + 2);
    values.emplace_back(limit);
    values.emplace_back(offset);
    ASSIGN_OR_RETURN(rows, conn_.Query(sql, values));
    if (!spec.paginate && rows->row_count() > kMaxUnpaginatedRows) {
      return InvalidArgument("paginate=false would return more than " +
                             std::to_string(kMaxUnpaginatedRows) +
                             " records; use page and pageSize");
    }
    if (spec.paginate && !counts_pages && rows->row_count() > spec.page_size) has_next = true;
  }
  const int shown = rows ? std::min(rows->row_count(), static_cast<int>(spec.page_size)) : 0;
  body->append("{\"data\":");
  if (rows) {
    RETURN_IF_ERROR(
        RenderRows(spec.columns, spec.appends, *rows, body, true, spec.paginate ? shown : -1));
  } else {
    body->append("[]");
  }
  if (spec.paginate) {
    body->append(",\"meta\":{");
    if (counted_list) {
      body->append("\"count\":" + std::to_string(count) + ",");
    }
    if (!by_cursor) body->append("\"page\":" + std::to_string(spec.page) + ",");
    body->append("\"pageSize\":" + std::to_string(spec.page_size));
    if (counts_pages) {
      body->append(",\"totalPage\":" +
                   std::to_string((count + spec.page_size - 1) / spec.page_size));
    } else {
      // NocoBase's simple pagination: no count, whether a next page exists.
      body->append(std::string(",\"hasNext\":") + (has_next ? "true" : "false"));
    }
    if (has_next && shown > 0 && !spec.sort.empty()) {
      body->append(",\"nextCursor\":");
      core::AppendJsonString(
          body, EncodeCursor(spec.sort, *rows, shown - 1, static_cast<int>(spec.columns.size())));
    }
    body->push_back('}');
  }
  body->push_back('}');
  return Status::Ok();
}

Status Repository::Get(const ReadSpec& spec, const json::value& filter_by_tk,
                       const json::value& scope, std::string* body, bool first_of_scope) {
  if (filter_by_tk.is_array()) return InvalidArgument("filterByTk: get takes one key, not a list");
  if (filter_by_tk.is_null() && IsEmptyFilter(spec.filter) && !first_of_scope) {
    return InvalidArgument("get needs filterByTk or filter");
  }
  SqlParams params;
  ASSIGN_OR_RETURN(Where where, BuildWhere(filter_by_tk, spec.filter, scope, &params));
  ASSIGN_OR_RETURN(std::string sql, SelectSql(spec, where));
  sql += " LIMIT 1";
  std::vector<db::Value> values = params.Take();
  ASSIGN_OR_RETURN(auto rows, conn_.Query(sql, values));
  body->append("{\"data\":");
  RETURN_IF_ERROR(RenderRows(spec.columns, spec.appends, *rows, body, false));
  body->push_back('}');
  return Status::Ok();
}

Status Repository::Count(const json::value& filter, int64_t* count) {
  SqlParams params;
  ASSIGN_OR_RETURN(Where where, BuildWhere(nullptr, filter, nullptr, &params));
  std::vector<db::Value> values = params.Take();
  ASSIGN_OR_RETURN(auto rs, conn_.Query("SELECT count(*) FROM " + QuoteIdent(c_.table) +
                                            " AS \"t\"" + where.joins + WithWhere(where.condition),
                                        values));
  *count = rs->Int(0, 0);
  return Status::Ok();
}

}  // namespace slipway::data
