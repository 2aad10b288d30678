#include "data/filter.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "data/filter_operators.h"

namespace slipway::data {
namespace json = boost::json;
using db::QuoteIdent;
using filter_internal::CompileOperator;
using filter_internal::FilterError;
using filter_internal::FindOp;
using filter_internal::IsTrue;
using filter_internal::JoinParts;
using filter_internal::Op;
using filter_internal::Quoted;
using filter_internal::Shown;
using filter_internal::ValueBinder;

std::string SqlParams::Add(db::Value v) {
  values_.push_back(std::move(v));
  return "$" + std::to_string(values_.size());
}

namespace {

constexpr size_t kMaxFilterJsonBytes = 64 * 1024;
constexpr int kMaxFilterJsonDepth = 32;

// One FROM clause: the statement's own or an EXISTS subquery's. belongsTo hops made from its
// tables are joined here, once per relation path.
struct From {
  std::vector<Join> joins;
  std::vector<std::string> join_paths;  // parallel to joins
  std::map<std::string, std::string> alias_by_path;
};

// The table a condition is about: a FROM's base table or one joined to it.
struct Scope {
  const Collection* collection;
  std::string alias;
  std::string path;  // relation path from the FROM's base table ("" for the base itself)
  From* from;
};

// "<alias>"."<column>"
std::string Column(const Scope& scope, const Field& f) {
  return QuoteIdent(scope.alias) + "." + QuoteIdent(f.column);
}

using Parts = std::vector<std::string>;  // conditions to AND; each safe to AND without parens
using Entry = std::pair<std::string_view, const json::value*>;

class Compiler {
 public:
  Compiler(const Schema& schema, const Collection& root, db::Dialect dialect, SqlParams* params,
           const FilterLimits& limits, const RecordAccess* access)
      : schema_(schema),
        root_(root),
        limits_(limits),
        binder_(dialect, params, limits),
        access_(access) {}

  // A filter object (or null) in `scope`.
  Status Object(const json::value& filter, const Scope& scope, int depth, Parts* parts);

 private:
  Status Entries(const std::vector<Entry>& entries, const Scope& scope, int depth, Parts* parts);
  Status Logic(bool is_or, const json::value& v, const Scope& scope, int depth, Parts* parts);
  Status Scalar(const Scope& scope, const Field& f, std::string_view rest, const json::value& v,
                int depth, Parts* parts);
  Status Exists(const Scope& scope, const Field& relation, bool positive, const json::value& v,
                Parts* parts);
  Status BelongsTo(const Scope& scope, const Field& relation, const std::vector<Entry>& entries,
                   int depth, Parts* parts);
  Result<std::string> HasMany(const Scope& scope, const Field& relation,
                              const std::vector<Entry>& entries, int depth);

  Result<Scope> JoinBelongsTo(const Scope& scope, const Field& relation);
  // "SELECT 1 FROM <target> AS <alias><joins> WHERE <alias>.<fk> = <scope>.<source key>"
  Result<std::string> HasManySelect(const Scope& scope, const Field& relation,
                                    const std::string& alias, const From& from);
  Result<const Collection*> Target(const Scope& scope, const Field& relation);
  std::string NewAlias(std::string candidate);

  // Permissions (access.h). The view permission a condition on `c` needs: for the root
  // collection its field list when it grants view (the caller checked the root's permission),
  // for a relation's target its view permission.
  const Permission& ViewOf(const Collection& c, bool as_root);
  Status CheckField(const Scope& scope, const Field& f);
  // The target of a relation hop: refused unless the caller may view it.
  Result<const Collection*> ViewableTarget(const Scope& scope, const Field& relation);
  // The condition that keeps `target` (a relation's target under its alias) to the rows the
  // caller may view; "" when it may view all of them.
  Result<std::string> ScopeCondition(const Scope& target);

  const Schema& schema_;
  const Collection& root_;
  const FilterLimits& limits_;
  ValueBinder binder_;
  const RecordAccess* access_;
  std::map<std::pair<const Collection*, bool>, Permission> permissions_;
  bool unchecked_ = false;  // compiling a permission scope, which may name any field
  std::set<std::string> aliases_{"t"};
};

const Permission& Compiler::ViewOf(const Collection& c, bool as_root) {
  static const Permission kAll = Permission::All();
  if (access_ == nullptr || unchecked_) return kAll;
  auto key = std::make_pair(&c, as_root);
  auto it = permissions_.find(key);
  if (it != permissions_.end()) return it->second;
  Permission p = access_->Check(c, "view");
  if (as_root) {
    // The root's permission (and its scope) is the caller's to apply; only its fields matter.
    p = p.allowed ? Permission{true, nullptr, std::move(p.fields)} : Permission::All();
  }
  return permissions_.emplace(key, std::move(p)).first->second;
}

Status Compiler::CheckField(const Scope& scope, const Field& f) {
  const Permission& p = ViewOf(*scope.collection, scope.collection == &root_ && scope.alias == "t");
  if (p.AllowsField(f.name)) return Status::Ok();
  return NoPermission(*access_, "filter on '" + scope.collection->name + "." + f.name + "'");
}

Result<const Collection*> Compiler::ViewableTarget(const Scope& scope, const Field& relation) {
  ASSIGN_OR_RETURN(const Collection* target, Target(scope, relation));
  if (!ViewOf(*target, false).allowed) {
    return NoPermission(*access_, "view '" + target->name + "' (through '" +
                                      scope.collection->name + "." + relation.name + "')");
  }
  return target;
}

Result<std::string> Compiler::ScopeCondition(const Scope& target) {
  const Permission& p = ViewOf(*target.collection, false);
  if (p.scope.is_null()) return std::string();
  From own;
  Scope in_scope{target.collection, target.alias, "", &own};
  Parts parts;
  unchecked_ = true;
  Status s = Object(p.scope, in_scope, 1, &parts);
  unchecked_ = false;
  RETURN_IF_ERROR(s);
  if (!own.joins.empty()) {
    return Internal("the permission scope of '" + target.collection->name +
                    "' must not go through relations");
  }
  return JoinParts(parts, " AND ");
}

Status Compiler::Object(const json::value& filter, const Scope& scope, int depth, Parts* parts) {
  if (filter.is_null()) return Status::Ok();
  if (!filter.is_object()) {
    return FilterError("a filter must be a JSON object, got " + Shown(filter));
  }
  std::vector<Entry> entries;
  for (const auto& kv : filter.as_object()) entries.emplace_back(kv.key(), &kv.value());
  return Entries(entries, scope, depth, parts);
}

Status Compiler::Entries(const std::vector<Entry>& entries, const Scope& scope, int depth,
                         Parts* parts) {
  if (depth > limits_.max_depth) {
    return FilterError("nested deeper than " + std::to_string(limits_.max_depth) +
                       " levels (max_depth)");
  }
  // Conditions on one hasMany within one object are about the same target row, as NocoBase's
  // single join makes them: they share one EXISTS, placed where the relation first appears.
  struct Group {
    const Field* relation;
    std::vector<Entry> entries;
    size_t slot;
  };
  std::vector<Group> groups;
  for (const auto& [key, value] : entries) {
    if (!key.empty() && key[0] == '$') {
      if (key == "$and" || key == "$or") {
        RETURN_IF_ERROR(Logic(key == "$or", *value, scope, depth, parts));
        continue;
      }
      if (FindOp(key)) {
        return FilterError("operator '" + std::string(key) + "' needs a field of '" +
                           scope.collection->name + "' before it");
      }
      return FilterError("unknown operator '" + std::string(key) + "'");
    }
    size_t dot = key.find('.');
    std::string_view name = key.substr(0, dot);
    std::string_view rest =
        dot == std::string_view::npos ? std::string_view() : key.substr(dot + 1);
    if (dot != std::string_view::npos && rest.empty()) {
      return FilterError("unknown field " +
                         Quoted(scope.collection->name + "." + std::string(key)));
    }
    std::string what = scope.collection->name + "." + std::string(name);
    const Field* f = scope.collection->FindField(name);
    if (f == nullptr) return FilterError("unknown field " + Quoted(what));
    if (f->hidden()) return FilterError(Quoted(what) + " cannot be filtered");
    RETURN_IF_ERROR(CheckField(scope, *f));
    if (!IsRelation(f->type)) {
      RETURN_IF_ERROR(Scalar(scope, *f, rest, *value, depth, parts));
      continue;
    }
    // A relation: $exists / $notExists on the relation itself, everything else ($and, $or and
    // fields) about its target.
    std::vector<Entry> inner;
    if (rest.empty()) {
      if (!value->is_object()) {
        return FilterError(Quoted(what) +
                           " is a relation: filter on its fields, or use $exists / $notExists");
      }
      for (const auto& kv : value->as_object()) inner.emplace_back(kv.key(), &kv.value());
    } else {
      inner.emplace_back(rest, value);
    }
    std::vector<Entry> about_target;
    for (const Entry& e : inner) {
      std::string_view k = e.first;
      if (k.empty() || k[0] != '$' || k == "$and" || k == "$or") {
        about_target.push_back(e);
        continue;
      }
      std::optional<Op> op = FindOp(k);
      if (op == Op::kExists || op == Op::kNotExists) {
        RETURN_IF_ERROR(Exists(scope, *f, op == Op::kExists, *e.second, parts));
      } else if (op) {
        return FilterError("'" + std::string(k) + "' does not apply to relation " + Quoted(what) +
                           " (filter on its fields, or use $exists / $notExists)");
      } else {
        return FilterError("unknown operator '" + std::string(k) + "' on " + Quoted(what));
      }
    }
    if (about_target.empty()) continue;
    if (f->type == FieldType::kBelongsTo) {
      RETURN_IF_ERROR(BelongsTo(scope, *f, about_target, depth + 1, parts));
      continue;
    }
    auto group =
        std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return g.relation == f; });
    if (group == groups.end()) {
      groups.push_back(Group{f, {}, parts->size()});
      parts->emplace_back();  // the slot, filled below
      group = groups.end() - 1;
    }
    group->entries.insert(group->entries.end(), about_target.begin(), about_target.end());
  }
  for (Group& g : groups) {
    ASSIGN_OR_RETURN((*parts)[g.slot], HasMany(scope, *g.relation, g.entries, depth + 1));
  }
  // Groups whose conditions all turned out empty leave no condition (latest slot first, so the
  // earlier slots keep their positions).
  for (auto g = groups.rbegin(); g != groups.rend(); ++g) {
    if ((*parts)[g->slot].empty()) parts->erase(parts->begin() + static_cast<long>(g->slot));
  }
  return Status::Ok();
}

Status Compiler::Logic(bool is_or, const json::value& v, const Scope& scope, int depth,
                       Parts* parts) {
  const char* name = is_or ? "$or" : "$and";
  std::vector<const json::value*> items;
  if (v.is_array()) {
    for (const json::value& item : v.as_array()) items.push_back(&item);
  } else if (!is_or && v.is_object()) {
    items.push_back(&v);
  } else {
    return FilterError(std::string("'") + name + "' needs an array of filters");
  }
  Parts alternatives;
  for (const json::value* item : items) {
    if (!item->is_object() && !item->is_null()) {
      return FilterError(std::string("'") + name + "' needs an array of filter objects, got " +
                         Shown(*item));
    }
    Parts item_parts;
    RETURN_IF_ERROR(Object(*item, scope, depth + 1, &item_parts));
    if (item_parts.empty()) continue;  // Sequelize drops empty groups
    if (!is_or) {
      for (std::string& p : item_parts) parts->push_back(std::move(p));
    } else if (item_parts.size() == 1) {
      alternatives.push_back(std::move(item_parts[0]));
    } else {
      alternatives.push_back("(" + JoinParts(item_parts, " AND ") + ")");
    }
  }
  if (alternatives.size() == 1) {
    parts->push_back(std::move(alternatives[0]));
  } else if (alternatives.size() > 1) {
    parts->push_back("(" + JoinParts(alternatives, " OR ") + ")");
  } else if (is_or) {
    parts->push_back("1 = 0");  // an $or with nothing in it matches nothing (Sequelize)
  }
  return Status::Ok();
}

Status Compiler::Scalar(const Scope& scope, const Field& f, std::string_view rest,
                        const json::value& v, int depth, Parts* parts) {
  std::string what = scope.collection->name + "." + f.name;
  if (!rest.empty()) {
    // {"title.$eq": "x"} is {"title": {"$eq": "x"}}.
    if (rest[0] != '$') {
      return FilterError(Quoted(what) + " is not a relation (in '" + f.name + "." +
                         std::string(rest) + "')");
    }
    return CompileOperator(rest, f, what, Column(scope, f), v, &binder_, parts);
  }
  if (!v.is_object()) return CompileOperator("$eq", f, what, Column(scope, f), v, &binder_, parts);
  if (depth + 1 > limits_.max_depth) {
    return FilterError("nested deeper than " + std::to_string(limits_.max_depth) +
                       " levels (max_depth)");
  }
  for (const auto& kv : v.as_object()) {
    if (kv.key().empty() || kv.key()[0] != '$') {
      return FilterError(Quoted(what) + " is not a relation: '" + std::string(kv.key()) +
                         "' is not an operator");
    }
    RETURN_IF_ERROR(
        CompileOperator(kv.key(), f, what, Column(scope, f), kv.value(), &binder_, parts));
  }
  return Status::Ok();
}

Result<const Collection*> Compiler::Target(const Scope& scope, const Field& relation) {
  const Collection* target = schema_.Find(relation.target);
  if (target == nullptr) {
    return Internal("filter: relation '" + scope.collection->name + "." + relation.name +
                    "' targets the unknown collection '" + relation.target + "'");
  }
  return target;
}

// The column of `field_name` in `c`; a key named by a relation is always a column, so a missing
// field falls back to the name itself (which also came from the schema).
std::string KeyColumn(const Collection& c, std::string_view field_name) {
  const Field* f = c.FindField(field_name);
  return f != nullptr && f->has_column() ? f->column : std::string(field_name);
}

std::string Compiler::NewAlias(std::string candidate) {
  // PostgreSQL truncates identifiers at 63 bytes, which could make two aliases one.
  if (candidate.size() > 60) candidate.resize(50);
  std::string alias = candidate;
  for (int n = 2; aliases_.count(alias) > 0; ++n) alias = candidate + "_" + std::to_string(n);
  aliases_.insert(alias);
  return alias;
}

Result<Scope> Compiler::JoinBelongsTo(const Scope& scope, const Field& relation) {
  ASSIGN_OR_RETURN(const Collection* target, ViewableTarget(scope, relation));
  std::string path = scope.path.empty() ? relation.name : scope.path + "." + relation.name;
  From* from = scope.from;
  if (auto it = from->alias_by_path.find(path); it != from->alias_by_path.end()) {
    return Scope{target, it->second, path, from};
  }
  if (static_cast<int>(from->joins.size()) >= limits_.max_joins) {
    return FilterError("joins more than " + std::to_string(limits_.max_joins) +
                       " relations (max_joins)");
  }
  std::string alias = NewAlias(scope.alias + "_" + relation.name);
  std::string sql = "LEFT JOIN " + QuoteIdent(target->table) + " AS " + QuoteIdent(alias) + " ON " +
                    QuoteIdent(alias) + "." + QuoteIdent(KeyColumn(*target, relation.target_key)) +
                    " = " + QuoteIdent(scope.alias) + "." +
                    QuoteIdent(KeyColumn(*scope.collection, relation.foreign_key));
  ASSIGN_OR_RETURN(std::string visible, ScopeCondition(Scope{target, alias, path, from}));
  if (!visible.empty()) sql += " AND " + visible;  // rows the caller may not view do not join
  from->joins.push_back(Join{alias, std::move(sql)});
  from->join_paths.push_back(path);
  from->alias_by_path.emplace(path, alias);
  return Scope{target, std::move(alias), std::move(path), from};
}

Status Compiler::BelongsTo(const Scope& scope, const Field& relation,
                           const std::vector<Entry>& entries, int depth, Parts* parts) {
  From* from = scope.from;
  const size_t joins_before = from->joins.size();
  const size_t parts_before = parts->size();
  ASSIGN_OR_RETURN(Scope target, JoinBelongsTo(scope, relation));
  RETURN_IF_ERROR(Entries(entries, target, depth, parts));
  if (parts->size() == parts_before) {
    // No condition came of it ({"author": {"name": {}}}): drop the joins made for nothing.
    for (size_t i = joins_before; i < from->joins.size(); ++i) {
      from->alias_by_path.erase(from->join_paths[i]);
      aliases_.erase(from->joins[i].alias);
    }
    from->joins.resize(joins_before);
    from->join_paths.resize(joins_before);
  }
  return Status::Ok();
}

Result<std::string> Compiler::HasManySelect(const Scope& scope, const Field& relation,
                                            const std::string& alias, const From& from) {
  ASSIGN_OR_RETURN(const Collection* target, ViewableTarget(scope, relation));
  std::string sql = "SELECT 1 FROM " + QuoteIdent(target->table) + " AS " + QuoteIdent(alias);
  std::string source_key =
      QuoteIdent(scope.alias) + "." + QuoteIdent(KeyColumn(*scope.collection, relation.source_key));
  std::string link;  // the condition that ties a target row to the source row
  if (relation.type == FieldType::kBelongsToMany) {
    const Collection* through = schema_.Find(relation.through);
    if (through == nullptr) {
      return Internal("filter: relation '" + relation.name + "' lacks its join collection");
    }
    std::string j = QuoteIdent(NewAlias(alias + "_j"));
    sql += " JOIN " + QuoteIdent(through->table) + " AS " + j + " ON " + j + "." +
           QuoteIdent(KeyColumn(*through, relation.other_key)) + " = " + QuoteIdent(alias) + "." +
           QuoteIdent(KeyColumn(*target, relation.target_key));
    link = j + "." + QuoteIdent(KeyColumn(*through, relation.foreign_key)) + " = " + source_key;
  } else {
    link = QuoteIdent(alias) + "." + QuoteIdent(KeyColumn(*target, relation.foreign_key)) + " = " +
           source_key;
  }
  for (const Join& j : from.joins) sql += " " + j.sql;
  sql += " WHERE " + link;
  From own;
  ASSIGN_OR_RETURN(std::string visible, ScopeCondition(Scope{target, alias, "", &own}));
  if (!visible.empty()) sql += " AND " + visible;
  return sql;
}

Result<std::string> Compiler::HasMany(const Scope& scope, const Field& relation,
                                      const std::vector<Entry>& entries, int depth) {
  ASSIGN_OR_RETURN(const Collection* target, ViewableTarget(scope, relation));
  From from;
  Scope inner{target, NewAlias(scope.alias + "_" + relation.name), "", &from};
  Parts parts;
  RETURN_IF_ERROR(Entries(entries, inner, depth, &parts));
  if (parts.empty()) return std::string();
  RETURN_IF_ERROR(binder_.CountCondition());
  ASSIGN_OR_RETURN(std::string select, HasManySelect(scope, relation, inner.alias, from));
  return "EXISTS (" + select + " AND " + JoinParts(parts, " AND ") + ")";
}

Status Compiler::Exists(const Scope& scope, const Field& relation, bool positive,
                        const json::value& v, Parts* parts) {
  std::string what = scope.collection->name + "." + relation.name;
  const char* op = positive ? "$exists" : "$notExists";
  if (!IsTrue(v)) {
    return FilterError(std::string("'") + op + "' on " + Quoted(what) +
                       " needs the value true, got " + Shown(v));
  }
  RETURN_IF_ERROR(binder_.CountCondition());
  if (relation.type == FieldType::kBelongsTo) {
    parts->push_back(QuoteIdent(scope.alias) + "." +
                     QuoteIdent(KeyColumn(*scope.collection, relation.foreign_key)) +
                     (positive ? " IS NOT NULL" : " IS NULL"));
    return Status::Ok();
  }
  From from;
  std::string alias = NewAlias(scope.alias + "_" + relation.name);
  ASSIGN_OR_RETURN(std::string select, HasManySelect(scope, relation, alias, from));
  parts->push_back((positive ? "EXISTS (" : "NOT EXISTS (") + select + ")");
  return Status::Ok();
}

}  // namespace

Result<CompiledFilters> CompileFilters(const std::vector<const json::value*>& filters,
                                       const Schema& schema, const Collection& root,
                                       db::Dialect dialect, SqlParams* params,
                                       const RecordAccess* access, const FilterLimits& limits) {
  const size_t params_before = params->size();
  From from;
  Compiler compiler(schema, root, dialect, params, limits, access);
  CompiledFilters out;
  for (const json::value* filter : filters) {
    Parts parts;
    Status status = compiler.Object(*filter, Scope{&root, "t", "", &from}, 1, &parts);
    if (!status.ok()) {
      params->Truncate(params_before);
      return status;
    }
    out.wheres.push_back(JoinParts(parts, " AND "));
  }
  out.joins = std::move(from.joins);
  return out;
}

Result<CompiledFilter> CompileFilter(const json::value& filter, const Schema& schema,
                                     const Collection& root, db::Dialect dialect, SqlParams* params,
                                     const FilterLimits& limits) {
  ASSIGN_OR_RETURN(CompiledFilters compiled,
                   CompileFilters({&filter}, schema, root, dialect, params, nullptr, limits));
  return CompiledFilter{std::move(compiled.wheres[0]), std::move(compiled.joins)};
}

Result<json::value> ParseFilterJson(std::string_view text) {
  if (text.size() > kMaxFilterJsonBytes) {
    return FilterError("longer than " + std::to_string(kMaxFilterJsonBytes) + " bytes");
  }
  json::parse_options options;
  options.max_depth = kMaxFilterJsonDepth;
  json::stream_parser parser({}, options);
  boost::system::error_code ec;
  size_t consumed = parser.write_some(text.data(), text.size(), ec);
  if (!ec && consumed < text.size()) ec = json::error::extra_data;
  if (!ec) parser.finish(ec);
  if (ec) {
    return FilterError("malformed JSON at position " + std::to_string(consumed) + ": " +
                       ec.message());
  }
  return parser.release();
}

}  // namespace slipway::data
