#include "ops/migration.h"

#include <algorithm>
#include <charconv>
#include <unordered_map>

#include "core/semver.h"
#include "data/values.h"
#include "db/catalog.h"
#include "db/system_tables.h"
#include "ops/ops_util.h"
#include "ops/row_io.h"

namespace slipway::ops {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr std::pair<MigrationRule, std::string_view> kRuleNames[] = {
    {MigrationRule::kSchemaOnly, "schema-only"},
    {MigrationRule::kOverwrite, "overwrite"},
    {MigrationRule::kSkip, "skip"},
    {MigrationRule::kUpsert, "upsert"},
    {MigrationRule::kInsertIgnore, "insert-ignore"}};

// Whether a rule matches the package's rows with those here by key.
bool MatchesByKey(MigrationRule rule) {
  return rule == MigrationRule::kOverwrite || rule == MigrationRule::kUpsert ||
         rule == MigrationRule::kInsertIgnore;
}

// A row's values in one string that two rows share exactly when every value is the same (the
// kind of each value, then its text with its length).
void AppendCanonical(std::string* out, const db::Value& v) {
  out->push_back(static_cast<char>('0' + v.index()));
  if (const bool* b = std::get_if<bool>(&v)) {
    out->push_back(*b ? 't' : 'f');
  } else if (const int64_t* i = std::get_if<int64_t>(&v)) {
    out->append(std::to_string(*i));
  } else if (const double* d = std::get_if<double>(&v)) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), *d);
    out->append(buf, end);
  } else if (const std::string* s = std::get_if<std::string>(&v)) {
    out->append(std::to_string(s->size()));
    out->push_back(':');
    out->append(*s);
  }
  out->push_back(';');
}

// Two 64-bit FNV-1a hashes with different offsets: a row's content in 16 bytes.
struct Digest {
  uint64_t a = 0, b = 0;
  bool operator==(const Digest&) const = default;
};
Digest DigestOf(std::string_view s) {
  uint64_t a = 0xcbf29ce484222325ULL, b = 0x84222325cbf29ce4ULL;
  for (unsigned char c : s) {
    a = (a ^ c) * 0x100000001b3ULL;
    b = (b ^ c) * 0x100000001b3ULL;
    b ^= b >> 29;
  }
  return {a, b};
}

// The rows of one table of the package compared with (and, applied, written to) the rows here.
class TableSync {
 public:
  struct Here {
    Digest digest;
    std::vector<db::Value> key;  // kept for rows an overwrite may delete
    bool seen = false;
  };

  TableSync(db::Connection& conn, std::string name, bool collection, MigrationRule rule, bool apply)
      : conn_(conn), apply_(apply) {
    counts_.table = std::move(name);
    counts_.collection = collection;
    counts_.rule = rule;
  }

  const MigrationDiff::Rows& counts() const { return counts_; }
  const std::string& name() const { return counts_.table; }
  const std::string& table() const { return table_; }
  bool inserted() const { return counts_.insert > 0; }

  // A collection: `next` is its definition after the migration, whose column fields the rows
  // are compared on; `exists` whether its table exists here yet.
  Status StartCollection(const data::Collection& next, bool exists) {
    table_ = next.table;
    for (const data::Field* f : next.ColumnFields()) {
      fields_.push_back(f);
      whats_.push_back(next.name + "." + f->name);
      columns_.push_back(f->column);
    }
    for (const data::Field* k : KeyFields(next)) {
      for (size_t i = 0; i < fields_.size(); ++i) {
        if (fields_[i] == k) key_index_.push_back(i);
      }
    }
    if (key_index_.empty()) {
      return FailedPrecondition("collection '" + next.name + "' has no key to match rows by");
    }
    if (!exists) return Status::Ok();
    // The rows here, through the columns the table has now (a field the migration adds is
    // null in every row here).
    ASSIGN_OR_RETURN(std::vector<std::string> present, db::ListColumns(conn_, table_));
    data::Collection view = next;
    std::erase_if(view.fields, [&](const data::Field& f) {
      return !f.has_column() ||
             std::find(present.begin(), present.end(), f.column) == present.end();
    });
    const RowJson render(view.ColumnFields());
    std::string line;
    json::parser parser;
    return ScanCollection(conn_, view, [&](const db::ResultSet& rs) -> Status {
      for (int r = 0; r < rs.row_count(); ++r) {
        line.clear();
        render.Append(&line, rs, r);
        boost::system::error_code ec;
        parser.reset();
        parser.write(line.data(), line.size(), ec);
        if (ec) return Internal("rendering a row of '" + counts_.table + "'");
        json::value v = parser.release();
        RETURN_IF_ERROR(AddHere(v.as_object()));
      }
      return Status::Ok();
    });
  }

  // A plugin's own table (it exists here).
  Status StartTable(const std::string& table) {
    table_ = table;
    ASSIGN_OR_RETURN(types_, db::ColumnTypes(conn_, table));
    ASSIGN_OR_RETURN(std::vector<std::string> keys, db::PrimaryKeyColumns(conn_, table));
    for (const auto& [column, type] : types_) columns_.push_back(column);
    for (const std::string& k : keys) {
      auto it = std::find(columns_.begin(), columns_.end(), k);
      key_index_.push_back(static_cast<size_t>(it - columns_.begin()));
    }
    if (key_index_.empty() && MatchesByKey(counts_.rule)) {
      return FailedPrecondition("table '" + table + "' has no primary key to match rows by");
    }
    ASSIGN_OR_RETURN(auto rs, conn_.Query("SELECT * FROM " + db::QuoteIdent(table)));
    std::string line;
    for (int r = 0; r < rs->row_count(); ++r) {
      line.clear();
      AppendTableRowJson(&line, *rs, r);
      json::value v = json::parse(line);
      RETURN_IF_ERROR(AddHere(v.as_object()));
    }
    return Status::Ok();
  }

  // Room for `rows` rows here and in the package (the package's count of the table).
  void Reserve(int64_t rows) { here_.reserve(static_cast<size_t>(std::max<int64_t>(rows, 0))); }

  // One row of the package.
  Status Row(const json::object& row, const std::string& entry) {
    std::vector<db::Value> values;
    values.reserve(columns_.size());
    RETURN_IF_ERROR(Values(row, &values, /*from_package=*/true, entry));
    std::string key, all;
    Canonical(values, &key, &all);
    auto it = here_.find(key);
    if (it != here_.end()) {
      if (it->second.seen) {
        return InvalidArgument("the package's rows of '" + counts_.table + "' have a key twice",
                               "BAD_PACKAGE");
      }
      it->second.seen = true;
      if (counts_.rule == MigrationRule::kInsertIgnore || it->second.digest == DigestOf(all)) {
        ++counts_.unchanged;
        return Status::Ok();
      }
      ++counts_.update;
      if (apply_) RETURN_IF_ERROR(Update(values));
      return Status::Ok();
    }
    here_.emplace(std::move(key), Here{{}, {}, true});
    ++counts_.insert;
    if (!apply_) return Status::Ok();
    if (!inserter_) inserter_ = std::make_unique<Inserter>(conn_, table_, columns_);
    return inserter_->Add(values);
  }

  // After the package's rows: an overwrite deletes what the package does not have (counted
  // now, deleted by DeleteUnseen once every table's inserts are done).
  Status Finish() {
    if (inserter_) RETURN_IF_ERROR(inserter_->Flush());
    if (counts_.rule != MigrationRule::kOverwrite) return Status::Ok();
    for (const auto& [key, h] : here_) counts_.remove += h.seen ? 0 : 1;
    return Status::Ok();
  }

  Status DeleteUnseen() {
    if (!apply_ || counts_.remove == 0) return Status::Ok();
    std::string sql = "DELETE FROM " + db::QuoteIdent(table_) + " WHERE " + KeyWhere(1);
    for (const auto& [key, h] : here_) {
      if (h.seen) continue;
      RETURN_IF_ERROR(conn_.Exec(sql, h.key).WithContext("deleting from '" + counts_.table + "'"));
    }
    return Status::Ok();
  }

 private:
  // The values of a row (the package's, or one here rendered the same way) for this
  // database, in column order.
  Status Values(const json::object& row, std::vector<db::Value>* out, bool from_package,
                const std::string& entry) {
    const db::Dialect dialect = conn_.dialect();
    size_t known = 0;
    if (!fields_.empty()) {
      for (size_t c = 0; c < fields_.size(); ++c) {
        const json::value* cell = row.if_contains(fields_[c]->name);
        known += cell != nullptr;
        if (cell == nullptr || cell->is_null()) {
          out->push_back(db::Null());
          continue;
        }
        auto value = data::ToDbValue(*fields_[c], *cell, dialect, whats_[c]);
        if (!value.ok()) {
          return value.status().WithContext(from_package ? "a row of the package (" + entry + ")"
                                                         : "a row here");
        }
        out->push_back(std::move(*value));
      }
    } else {
      for (const auto& [column, type] : types_) {
        const json::value* cell = row.if_contains(column);
        known += cell != nullptr;
        if (cell == nullptr) {
          out->push_back(db::Null());
          continue;
        }
        ASSIGN_OR_RETURN(db::Value v,
                         TableCell(*cell, type, dialect, "table '" + table_ + "." + column + "'"));
        out->push_back(std::move(v));
      }
    }
    if (from_package && known != row.size()) {
      for (const auto& [key, cell] : row) {
        const bool defined =
            fields_.empty() ? std::find(columns_.begin(), columns_.end(), key) != columns_.end()
                            : std::any_of(fields_.begin(), fields_.end(),
                                          [&](const data::Field* f) { return f->name == key; });
        if (!defined) {
          return InvalidArgument("the package's rows of '" + counts_.table + "' have a field '" +
                                     std::string(key) + "' that its schema does not define here",
                                 "BAD_PACKAGE");
        }
      }
    }
    return Status::Ok();
  }

  void Canonical(const std::vector<db::Value>& values, std::string* key, std::string* all) const {
    for (size_t k : key_index_) AppendCanonical(key, values[k]);
    for (const db::Value& v : values) AppendCanonical(all, v);
  }

  Status AddHere(const json::object& row) {
    std::vector<db::Value> values;
    values.reserve(columns_.size());
    RETURN_IF_ERROR(Values(row, &values, /*from_package=*/false, ""));
    std::string key, all;
    Canonical(values, &key, &all);
    Here h;
    h.digest = DigestOf(all);
    if (counts_.rule == MigrationRule::kOverwrite) {
      for (size_t k : key_index_) h.key.push_back(values[k]);
    }
    here_.emplace(std::move(key), std::move(h));
    return Status::Ok();
  }

  std::string KeyWhere(int first) const {
    std::string where;
    for (size_t i = 0; i < key_index_.size(); ++i) {
      where += (i ? " AND " : "") + db::QuoteIdent(columns_[key_index_[i]]) + " = $" +
               std::to_string(first + static_cast<int>(i));
    }
    return where;
  }

  Status Update(std::vector<db::Value>& values) {
    if (inserter_) RETURN_IF_ERROR(inserter_->Flush());  // a COPY in progress ends first
    if (update_sql_.empty()) {
      update_sql_ = "UPDATE " + db::QuoteIdent(table_) + " SET ";
      int p = 0;
      for (size_t c = 0; c < columns_.size(); ++c) {
        if (std::find(key_index_.begin(), key_index_.end(), c) != key_index_.end()) continue;
        if (p > 0) update_sql_ += ", ";
        ++p;
        update_sql_ += db::QuoteIdent(columns_[c]) + " = $" + std::to_string(p);
      }
      if (p == 0) return Status::Ok();  // nothing but the key: nothing to change
      update_sql_ += " WHERE " + KeyWhere(p + 1);
    }
    std::vector<db::Value> params;
    for (size_t c = 0; c < values.size(); ++c) {
      if (std::find(key_index_.begin(), key_index_.end(), c) == key_index_.end())
        params.push_back(values[c]);
    }
    for (size_t k : key_index_) params.push_back(values[k]);
    return conn_.Exec(update_sql_, params).WithContext("updating '" + counts_.table + "'");
  }

  db::Connection& conn_;
  const bool apply_;
  MigrationDiff::Rows counts_;
  std::string table_;
  std::vector<const data::Field*> fields_;  // a collection's column fields (empty: a table)
  std::vector<std::string> whats_;
  std::vector<std::pair<std::string, std::string>> types_;  // a plugin table's columns
  std::vector<std::string> columns_;
  std::vector<size_t> key_index_;
  std::unordered_map<std::string, Here> here_;
  std::unique_ptr<Inserter> inserter_;
  std::string update_sql_;
};

}  // namespace

std::string_view RuleName(MigrationRule rule) {
  for (const auto& [r, name] : kRuleNames) {
    if (r == rule) return name;
  }
  return "";
}

Result<MigrationRule> ParseRule(std::string_view name) {
  for (const auto& [r, n] : kRuleNames) {
    if (n == name) return r;
  }
  return InvalidArgument("'" + std::string(name) +
                             "' is not a migration rule (schema-only, overwrite, skip, upsert, "
                             "insert-ignore)",
                         "BAD_RULE");
}

bool RuleCarriesRows(MigrationRule rule) { return MatchesByKey(rule); }

Result<MigrationRules> ParseRules(const json::value& v) {
  MigrationRules rules;
  if (v.is_null()) return rules;
  if (!v.is_object()) return InvalidArgument("rules must be an object", "BAD_RULE");
  for (const auto& [key, value] : v.as_object()) {
    if (key == "userDefined") {
      if (value.is_null()) continue;
      if (!value.is_string()) return InvalidArgument("'userDefined' must name a rule", "BAD_RULE");
      ASSIGN_OR_RETURN(rules.user_defined, ParseRule(value.as_string()));
    } else if (key == "tables") {
      if (!value.is_object())
        return InvalidArgument("'tables' must map table names to rules", "BAD_RULE");
      for (const auto& [table, rule] : value.as_object()) {
        if (!rule.is_string()) {
          return InvalidArgument("the rule of '" + std::string(table) + "' must be a string",
                                 "BAD_RULE");
        }
        ASSIGN_OR_RETURN(MigrationRule r, ParseRule(rule.as_string()));
        rules.tables[std::string(table)] = r;
      }
    } else {
      return InvalidArgument(
          "rules have no '" + std::string(key) + "' (only 'userDefined' and 'tables')", "BAD_RULE");
    }
  }
  return rules;
}

json::object RulesToJson(const MigrationRules& rules) {
  json::object tables;
  for (const auto& [t, r] : rules.tables) tables[t] = RuleName(r);
  json::object o;
  o["userDefined"] =
      rules.user_defined ? json::value(RuleName(*rules.user_defined)) : json::value(nullptr);
  o["tables"] = std::move(tables);
  return o;
}

Result<std::vector<TableRule>> ResolveRules(db::Connection& conn, const data::Schema& schema,
                                            const MigrationRules& rules) {
  std::vector<TableRule> out;
  std::set<std::string> config_tables;
  for (const auto& [name, c] : schema.collections()) {
    if (c->cluster_config) config_tables.insert(c->table);
  }
  auto check = [&](TableRule& t) -> Status {
    auto given = rules.tables.find(t.name);
    if (given == rules.tables.end()) return Status::Ok();
    if (!t.allowed.empty() &&
        std::find(t.allowed.begin(), t.allowed.end(), given->second) == t.allowed.end()) {
      std::string list;
      for (MigrationRule r : t.allowed)
        list += (list.empty() ? "" : ", ") + std::string(RuleName(r));
      return InvalidArgument("'" + t.name + "' cannot be migrated with '" +
                                 std::string(RuleName(given->second)) + "' (it allows " + list +
                                 ")",
                             "RULE_NOT_ALLOWED");
    }
    t.rule = given->second;
    return Status::Ok();
  };
  for (const auto& [name, c] : schema.collections()) {
    TableRule t;
    t.name = name;
    if (const json::value* list = c->options.if_contains("migrationRules");
        list != nullptr && list->is_array()) {
      for (const json::value& r : list->as_array()) {
        if (!r.is_string()) continue;
        ASSIGN_OR_RETURN(MigrationRule rule, ParseRule(r.as_string()));
        t.allowed.push_back(rule);
      }
    }
    if (!t.allowed.empty()) {
      t.rule = t.allowed.front();
    } else if (c->origin == "user") {
      t.rule = rules.user_defined.value_or(MigrationRule::kSchemaOnly);
    } else {
      t.rule = c->cluster_config ? MigrationRule::kOverwrite : MigrationRule::kSchemaOnly;
    }
    RETURN_IF_ERROR(check(t));
    if (MatchesByKey(t.rule) && KeyFields(*c).empty()) {
      return InvalidArgument("'" + name + "' has no key to match rows by: '" +
                                 std::string(RuleName(t.rule)) + "' cannot work",
                             "RULE_NOT_ALLOWED");
    }
    out.push_back(std::move(t));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> tables, PluginTables(conn, schema));
  for (const std::string& table : tables) {
    TableRule t;
    t.name = table;
    t.collection = false;
    ASSIGN_OR_RETURN(std::vector<std::string> targets, db::ForeignKeyTargets(conn, table));
    const bool config =
        !targets.empty() && std::all_of(targets.begin(), targets.end(), [&](const std::string& p) {
          return config_tables.count(p) > 0;
        });
    t.rule = config ? MigrationRule::kOverwrite : MigrationRule::kSchemaOnly;
    RETURN_IF_ERROR(check(t));
    if (MatchesByKey(t.rule)) {
      ASSIGN_OR_RETURN(std::vector<std::string> keys, db::PrimaryKeyColumns(conn, table));
      if (keys.empty()) {
        return InvalidArgument("table '" + table + "' has no primary key: '" +
                                   std::string(RuleName(t.rule)) + "' cannot work",
                               "RULE_NOT_ALLOWED");
      }
    }
    out.push_back(std::move(t));
  }
  for (const auto& [name, rule] : rules.tables) {
    if (std::none_of(out.begin(), out.end(), [&](const TableRule& t) { return t.name == name; })) {
      return InvalidArgument(
          "the rules name '" + name + "', which is neither a collection nor a plugin's table here",
          "UNKNOWN_TABLE");
    }
  }
  return out;
}

std::string PackageFileName() { return TimestampedFileName("migration", ".slwmig"); }

Result<BackupSummary> ExportPackage(db::Connection& conn, const data::SchemaStore& store,
                                    const ExportOptions& options) {
  BackupOptions backup;
  backup.output = options.output;
  backup.password = options.password;
  backup.files = false;
  backup.note = options.title;
  backup.app_version = options.app_version;
  backup.progress = options.progress;
  backup.kind = "migration";
  backup.select = [&](db::Connection& c, const data::Schema& schema,
                      json::object* manifest) -> Result<std::set<std::string>> {
    ASSIGN_OR_RETURN(std::vector<TableRule> resolved, ResolveRules(c, schema, options.rules));
    json::object rules;
    std::set<std::string> with_rows;
    for (const TableRule& t : resolved) {
      rules[t.name] = RuleName(t.rule);
      if (RuleCarriesRows(t.rule)) with_rows.insert(t.name);
    }
    (*manifest)["rules"] = std::move(rules);
    (*manifest)["title"] = options.title;
    (*manifest)["givenRules"] = RulesToJson(options.rules);
    return with_rows;
  };
  return CreateBackup(conn, store, backup);
}

Result<PackageCheck> CheckPackage(const ImportRequest& request, const ReadProgress& progress) {
  ASSIGN_OR_RETURN(DumpContents dump,
                   ReadDump(request.path, request.password, "migration", "migration package",
                            "NOT_A_MIGRATION", "BAD_PACKAGE", progress));
  PackageCheck check;
  check.manifest = std::move(dump.manifest);
  check.archive_bytes = dump.archive_bytes;
  check.definitions = std::move(dump.schema);
  const json::value* rules = check.manifest.if_contains("rules");
  if (rules == nullptr || !rules->is_object()) {
    return InvalidArgument("the package's manifest has no rules", "BAD_PACKAGE");
  }
  for (const auto& [table, rule] : rules->as_object()) {
    if (!rule.is_string()) {
      return InvalidArgument("the package's rule for '" + std::string(table) + "' is not a name",
                             "BAD_PACKAGE");
    }
    ASSIGN_OR_RETURN(check.rules[std::string(table)], ParseRule(rule.as_string()));
  }
  return check;
}

namespace {

void Refuse(MigrationDiff* diff, std::string code, std::string message) {
  diff->refusals.push_back({std::move(code), std::move(message)});
}

// The plugins' part of the diff: the package's plugin states against this application's.
Status DiffPlugins(db::Connection& conn, const json::array& plugins, const MigrateOptions& options,
                   MigrationDiff* diff, std::set<std::string>* absent) {
  struct Here {
    std::string version;
    bool enabled = false;
    std::string options;
  };
  std::map<std::string, Here> here;
  ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT name, version, enabled, options FROM " +
                                       std::string(db::kPluginsTable)));
  for (int r = 0; r < rs->row_count(); ++r) {
    boost::system::error_code ec;
    json::value options_here =
        rs->IsNull(r, 3) ? json::value(nullptr) : json::parse(rs->Text(r, 3), ec);
    here[std::string(rs->Text(r, 0))] = {std::string(rs->Text(r, 1)), rs->Bool(r, 2),
                                         json::serialize(options_here)};
  }
  for (const json::value& v : plugins) {
    if (!v.is_object()) continue;
    const json::object& p = v.as_object();
    const std::string name = Param(p, "name"), version = Param(p, "version");
    const json::value* enabled_v = p.if_contains("enabled");
    const bool enabled = enabled_v != nullptr && enabled_v->is_bool() && enabled_v->as_bool();
    const json::value* settings = p.if_contains("options");
    const std::string settings_text = settings ? json::serialize(*settings) : "null";
    std::optional<std::string> loadable =
        options.plugin_version ? options.plugin_version(name) : std::nullopt;
    auto row = here.find(name);
    if (!loadable || row == here.end()) {
      if (enabled) {
        Refuse(diff, "PLUGIN_MISSING",
               "the package needs plugin '" + name + "' " + version + ", which is not added here");
      } else {
        absent->insert(name);
      }
      continue;
    }
    auto need = core::SemVer::Parse(version);
    auto have = core::SemVer::Parse(*loadable);
    if (enabled && need.ok() && have.ok() && *have < *need) {
      Refuse(diff, "PLUGIN_VERSION",
             "the package needs plugin '" + name + "' " + version + ", this node has " + *loadable);
      continue;
    }
    auto was = core::SemVer::Parse(row->second.version);
    if (enabled && !row->second.enabled) {
      diff->plugins.push_back({name, "enable", row->second.version, version});
    } else if (!enabled && row->second.enabled) {
      diff->plugins.push_back({name, "disable", row->second.version, row->second.version});
    } else if (enabled && was.ok() && need.ok() && *was < *need) {
      diff->plugins.push_back({name, "upgrade", row->second.version, version});
    } else if (settings_text != row->second.options) {
      diff->plugins.push_back({name, "settings", row->second.version, row->second.version});
    }
  }
  return Status::Ok();
}

// The package's definitions, except that a collection whose rule is `skip` keeps its definition
// here (or stays absent).
json::object Composed(const json::object& package, const json::object& here,
                      const std::map<std::string, MigrationRule>& rules) {
  auto skipped = [&](std::string_view name) {
    auto it = rules.find(std::string(name));
    return it != rules.end() && it->second == MigrationRule::kSkip;
  };
  auto list = [](const json::object& o, std::string_view key) -> json::array {
    const json::value* v = o.if_contains(key);
    return v != nullptr && v->is_array() ? v->as_array() : json::array();
  };
  auto name_of = [](const json::value& v, std::string_view key) -> std::string {
    return v.is_object() ? Param(v.as_object(), key) : std::string();
  };
  json::object out;
  for (const auto& [key, name_key] : {std::pair<const char*, const char*>{"collections", "name"},
                                      {"pluginFields", "collection"}}) {
    json::array merged;
    for (const json::value& v : list(package, key)) {
      if (!skipped(name_of(v, name_key))) merged.push_back(v);
    }
    for (const json::value& v : list(here, key)) {
      if (skipped(name_of(v, name_key))) merged.push_back(v);
    }
    out[key] = std::move(merged);
  }
  return out;
}

}  // namespace

Result<MigrateResult> Migrate(db::Connection& conn, const data::SchemaStore& store,
                              const ImportRequest& request, const PackageCheck& check,
                              const MigrateOptions& options) {
  MigrateResult result;
  MigrationDiff& diff = result.diff;
  diff.package = json::object{{"name", request.path.filename().string()},
                              {"title", Param(check.manifest, "title")},
                              {"appVersion", Param(check.manifest, "appVersion")},
                              {"dialect", Param(check.manifest, "dialect")},
                              {"createdAt", Param(check.manifest, "createdAt")}};

  // The versions: a package is applied by the version that made it.
  const std::string made_by = Param(check.manifest, "appVersion");
  auto theirs = core::SemVer::Parse(made_by);
  auto ours = core::SemVer::Parse(options.app_version);
  if (!theirs.ok() || !ours.ok()) {
    Refuse(&diff, "BAD_PACKAGE", "the package names no valid app version ('" + made_by + "')");
  } else if (*theirs > *ours) {
    Refuse(&diff, "APP_VERSION_NEWER",
           "the package was made by Slipway " + made_by + ", newer than this " +
               options.app_version + ": upgrade this environment first");
  } else if (*theirs < *ours) {
    Refuse(&diff, "APP_VERSION_MISMATCH",
           "the package was made by Slipway " + made_by + ", this is " + options.app_version +
               ": upgrade the environment it came from and export it again");
  }

  static const json::array kNone;
  const json::value* plugins_v = check.definitions.if_contains("plugins");
  const json::array& plugins =
      plugins_v != nullptr && plugins_v->is_array() ? plugins_v->as_array() : kNone;
  std::set<std::string> absent;
  RETURN_IF_ERROR(DiffPlugins(conn, plugins, options, &diff, &absent));

  // Every rule names a table the package knows.
  std::set<std::string> package_collections;
  for (const char* key : {"collections"}) {
    if (const json::value* v = check.definitions.if_contains(key); v && v->is_array()) {
      for (const json::value& c : v->as_array()) {
        if (c.is_object()) package_collections.insert(Param(c.as_object(), "name"));
      }
    }
  }
  if (const json::value* v = check.definitions.if_contains("codeCollections"); v && v->is_array()) {
    for (const json::value& c : v->as_array()) {
      if (c.is_string()) package_collections.insert(std::string(c.as_string()));
    }
  }
  std::set<std::string> package_tables;
  if (const json::value* v = check.manifest.if_contains("tableRowCounts"); v && v->is_object()) {
    for (const auto& [t, n] : v->as_object()) package_tables.insert(std::string(t));
  }

  if (options.apply && !diff.ok()) {
    return FailedPrecondition(diff.refusals.front().message, "MIGRATION_REFUSED");
  }
  if (options.apply && options.restore_plugins) {
    RETURN_IF_ERROR(options.restore_plugins(conn, plugins, absent)
                        .WithContext("bringing the plugins to the package's states"));
  }

  // The structure.
  ASSIGN_OR_RETURN(std::shared_ptr<const data::Schema> now, store.Load(conn));
  ASSIGN_OR_RETURN(json::object here_defs, store.Definitions(conn));
  std::vector<std::string> plugin_tables_here;
  { ASSIGN_OR_RETURN(plugin_tables_here, PluginTables(conn, *now)); }
  for (const auto& [table, rule] : check.rules) {
    const bool known = package_collections.count(table) > 0 || package_tables.count(table) > 0 ||
                       std::find(plugin_tables_here.begin(), plugin_tables_here.end(), table) !=
                           plugin_tables_here.end();
    if (!known) {
      Refuse(&diff, "UNKNOWN_TABLE",
             "the package's rules name '" + table +
                 "', which is neither a collection of the package nor a table here");
    } else if (MatchesByKey(rule) && package_collections.count(table) == 0 &&
               std::find(plugin_tables_here.begin(), plugin_tables_here.end(), table) ==
                   plugin_tables_here.end() &&
               !absent.count(table)) {
      Refuse(&diff, "UNKNOWN_TABLE",
             "the package has rows of table '" + table + "', which this application lacks");
    }
  }
  auto next = store.FromDefinitions(Composed(check.definitions, here_defs, check.rules));
  if (!next.ok()) {
    Refuse(&diff, "SCHEMA_INVALID",
           "the package's collections do not fit this application: " + next.status().message());
    if (options.apply) return FailedPrecondition(diff.refusals.back().message, "MIGRATION_REFUSED");
    return result;
  }
  data::SchemaSyncPlan plan = store.PlanSync(*now, **next);
  for (const std::string& r : plan.refusals) Refuse(&diff, "FIELD_CHANGE", r);
  diff.schema = plan.changes;
  // What a removal would lose.
  for (const data::SchemaChange& c : plan.changes) {
    using Kind = data::SchemaChange::Kind;
    if (c.kind != Kind::kDropCollection && !(c.kind == Kind::kDropField && !c.column.empty())) {
      continue;
    }
    if (c.kind == Kind::kDropField && (*next)->Find(c.collection) == nullptr) continue;
    const data::Collection* old = now->Find(c.collection);
    std::string sql = "SELECT count(*) FROM " + db::QuoteIdent(old->table);
    if (c.kind == Kind::kDropField) sql += " WHERE " + db::QuoteIdent(c.column) + " IS NOT NULL";
    ASSIGN_OR_RETURN(auto rs, conn.Query(sql));
    const int64_t n = rs->Int(0, 0);
    if (n == 0) continue;
    const std::string what =
        c.kind == Kind::kDropField ? c.collection + "." + c.field : c.collection;
    diff.losses[what] = n;
    if (!request.allow_data_loss) {
      Refuse(&diff, "DATA_LOSS",
             (c.kind == Kind::kDropField ? "field '" : "collection '") + what +
                 "' is not in the package and holds " + std::to_string(n) +
                 (c.kind == Kind::kDropField ? " values" : " rows") +
                 " here: import with allowDataLoss (--allow-data-loss) to drop it, the automatic "
                 "backup keeping them, or add it where the package comes from");
    }
  }
  if (options.apply && !diff.ok()) {
    return FailedPrecondition(diff.refusals.front().message, "MIGRATION_REFUSED");
  }
  std::shared_ptr<const data::Schema> target = *next;
  DeferredIndexes deferred;
  if (options.apply) {
    ASSIGN_OR_RETURN(data::SchemaStore::SyncResult synced, store.Sync(conn, *now, **next));
    target = synced.schema;
    result.removals = synced.removals;
    result.schema = synced.schema;
    // The tables this import creates are loaded as a restore loads them: their indexes and
    // foreign keys built once after the rows (no request can use them before the commit). Rows
    // come in any order (a package made on PostgreSQL is not sorted): references are checked
    // once all are in.
    std::vector<std::string> fresh;
    for (const data::SchemaChange& c : plan.changes) {
      auto rule = check.rules.find(c.collection);
      if (c.kind == data::SchemaChange::Kind::kAddCollection && rule != check.rules.end() &&
          MatchesByKey(rule->second)) {
        fresh.push_back(target->Find(c.collection)->table);
      }
    }
    RETURN_IF_ERROR(deferred.Begin(conn, fresh));
  }

  if (!options.apply && !options.rows) return result;

  // The rows, table by table in the package's order (parents first).
  int64_t total = 0, done = 0;
  for (const char* key : {"rowCounts", "tableRowCounts"}) {
    if (const json::value* v = check.manifest.if_contains(key); v && v->is_object()) {
      for (const auto& [t, n] : v->as_object()) total += n.is_int64() ? n.as_int64() : 0;
    }
  }
  std::vector<std::unique_ptr<TableSync>> synced;
  std::set<std::string> started;
  TableSync* current = nullptr;
  auto start = [&](const std::string& name, bool collection) -> Status {
    if (current != nullptr) RETURN_IF_ERROR(current->Finish());
    current = nullptr;
    auto rule = check.rules.find(name);
    if (rule == check.rules.end() || !MatchesByKey(rule->second)) {
      return InvalidArgument("the package has rows of '" + name + "' under no rule that takes rows",
                             "BAD_PACKAGE");
    }
    if (!started.insert(name).second) {
      return InvalidArgument("the package's rows of '" + name + "' are not in one run",
                             "BAD_PACKAGE");
    }
    auto sync = std::make_unique<TableSync>(conn, name, collection, rule->second, options.apply);
    if (const json::value* counts =
            check.manifest.if_contains(collection ? "rowCounts" : "tableRowCounts");
        counts != nullptr && counts->is_object()) {
      if (const json::value* n = counts->as_object().if_contains(name); n && n->is_int64()) {
        sync->Reserve(n->as_int64());
      }
    }
    if (collection) {
      const data::Collection* c = target->Find(name);
      if (c == nullptr) {
        return InvalidArgument(
            "the package has rows of collection '" + name + "', which its schema does not define",
            "BAD_PACKAGE");
      }
      ASSIGN_OR_RETURN(bool exists, db::TableExists(conn, c->table));
      RETURN_IF_ERROR(sync->StartCollection(*c, exists));
    } else {
      ASSIGN_OR_RETURN(bool exists, db::TableExists(conn, name));
      if (!exists) {
        return FailedPrecondition("the package has rows of table '" + name +
                                  "', which this application does not have");
      }
      RETURN_IF_ERROR(sync->StartTable(name));
    }
    current = sync.get();
    synced.push_back(std::move(sync));
    return Status::Ok();
  };

  std::string entry;
  LineSplitter lines;
  json::parser parser;
  auto row = [&](std::string_view line) -> Status {
    if (line.empty()) return Status::Ok();
    boost::system::error_code ec;
    parser.reset();
    parser.write(line.data(), line.size(), ec);
    if (ec)
      return InvalidArgument("package entry '" + entry + "': a row is not JSON", "BAD_PACKAGE");
    json::value v = parser.release();
    if (!v.is_object()) {
      return InvalidArgument("package entry '" + entry + "': a row is not an object",
                             "BAD_PACKAGE");
    }
    RETURN_IF_ERROR(current->Row(v.as_object(), entry));
    if (++done % 5000 == 0 && options.progress) {
      RETURN_IF_ERROR(options.progress(done, total, current->name()));
    }
    return Status::Ok();
  };
  auto visit = [&](const ArchiveEntry& e, std::string_view data) -> Status {
    if (e.name != entry) {
      RETURN_IF_ERROR(lines.EndEntry(entry, "BAD_PACKAGE"));
      entry = e.name;
      ASSIGN_OR_RETURN(std::optional<RowsEntry> parsed, ParseRowsEntry(entry, "BAD_PACKAGE"));
      if (!parsed) {
        if (current != nullptr) RETURN_IF_ERROR(current->Finish());
        current = nullptr;
        return Status::Ok();
      }
      const bool rows = parsed->collection;
      const std::string& name = parsed->table;
      if (current == nullptr || current->name() != name) RETURN_IF_ERROR(start(name, rows));
    }
    if (current == nullptr) return Status::Ok();
    return lines.Feed(data, row);
  };
  auto read = ReadArchiveAhead(request.path, request.password, visit);
  if (!read.ok()) return read.status().WithContext("reading " + request.path.filename().string());
  RETURN_IF_ERROR(lines.EndEntry(entry, "BAD_PACKAGE"));
  if (current != nullptr) RETURN_IF_ERROR(current->Finish());
  // Tables the package takes rows for but has none of: an overwrite empties them here.
  for (const auto& [name, rule] : check.rules) {
    if (rule != MigrationRule::kOverwrite || started.count(name)) continue;
    const bool collection = package_collections.count(name) > 0;
    if (collection ? target->Find(name) == nullptr
                   : std::find(plugin_tables_here.begin(), plugin_tables_here.end(), name) ==
                         plugin_tables_here.end()) {
      continue;
    }
    RETURN_IF_ERROR(start(name, collection));
    RETURN_IF_ERROR(current->Finish());
    current = nullptr;
  }
  // Deletions children first.
  if (options.apply) {
    std::vector<std::string> order;
    std::map<std::string, TableSync*> by_table;
    for (const auto& s : synced) {
      order.push_back(s->table());
      by_table[s->table()] = s.get();
    }
    ASSIGN_OR_RETURN(order, db::ParentsFirst(conn, std::move(order)));
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      RETURN_IF_ERROR(by_table[*it]->DeleteUnseen());
    }
    std::vector<std::string> inserted;
    for (const auto& s : synced) {
      if (s->inserted()) inserted.push_back(s->table());
    }
    RETURN_IF_ERROR(deferred.Finish(conn, order, inserted, "the migrated rows"));
  }
  for (const auto& s : synced) diff.rows.push_back(s->counts());
  if (options.progress) RETURN_IF_ERROR(options.progress(done, total, "done"));
  if (!options.apply) result.schema = target;
  return result;
}

// ---- the diff, for people and for programs

json::object MigrationDiff::ToJson() const {
  json::array plugins_out;
  for (const Plugin& p : plugins) {
    plugins_out.push_back(
        json::object{{"name", p.name}, {"change", p.change}, {"from", p.from}, {"to", p.to}});
  }
  json::array schema_out;
  for (const data::SchemaChange& c : schema) {
    json::object o{{"change", data::SchemaChangeKindName(c.kind)}, {"collection", c.collection}};
    if (!c.field.empty()) o["field"] = c.field;
    if (!c.previous_name.empty()) o["previousName"] = c.previous_name;
    if (!c.type.empty()) o["type"] = c.type;
    if (!c.target.empty()) o["target"] = c.target;
    if (!c.changed.empty()) {
      json::array keys;
      for (const std::string& k : c.changed) keys.push_back(json::value(k));
      o[c.kind == data::SchemaChange::Kind::kAddCollection ? "fields" : "changed"] =
          std::move(keys);
    }
    const std::string what = c.field.empty() ? c.collection : c.collection + "." + c.field;
    if (auto it = losses.find(what);
        it != losses.end() && (c.kind == data::SchemaChange::Kind::kDropField ||
                               c.kind == data::SchemaChange::Kind::kDropCollection)) {
      o["loses"] = it->second;
    }
    schema_out.push_back(std::move(o));
  }
  json::array rows_out;
  for (const Rows& r : rows) {
    rows_out.push_back(json::object{{"table", r.table},
                                    {"collection", r.collection},
                                    {"rule", RuleName(r.rule)},
                                    {"insert", r.insert},
                                    {"update", r.update},
                                    {"delete", r.remove},
                                    {"unchanged", r.unchanged}});
  }
  json::array refusals_out;
  for (const Refusal& r : refusals) {
    refusals_out.push_back(json::object{{"code", r.code}, {"message", r.message}});
  }
  return json::object{{"ok", ok()},
                      {"package", package},
                      {"plugins", std::move(plugins_out)},
                      {"schema", std::move(schema_out)},
                      {"rows", std::move(rows_out)},
                      {"refusals", std::move(refusals_out)}};
}

std::string MigrationDiff::ToText() const {
  std::string out;
  auto line = [&](std::string s) {
    out += s;
    out += '\n';
  };
  line("Package   " + Param(package, "name") + " (Slipway " + Param(package, "appVersion") + ", " +
       Param(package, "dialect") + ", made " + Param(package, "createdAt") + ")" +
       (Param(package, "title").empty() ? "" : ": " + Param(package, "title")));
  line("");
  line("Plugins");
  if (plugins.empty()) line("  no change");
  for (const Plugin& p : plugins) {
    std::string what = p.change == "upgrade" ? p.from + " -> " + p.to : p.to;
    char buf[256];
    std::snprintf(buf, sizeof(buf), "  %-9s %s %s", p.change.c_str(), p.name.c_str(), what.c_str());
    line(buf);
  }
  line("");
  line("Schema");
  if (schema.empty()) line("  no change");
  for (const data::SchemaChange& c : schema) {
    using Kind = data::SchemaChange::Kind;
    std::string s;
    const std::string rel = c.target.empty() ? c.type : c.type + " -> " + c.target;
    switch (c.kind) {
      case Kind::kAddCollection:
        s = "  + collection " + c.collection + " (" + std::to_string(c.changed.size()) + " fields)";
        break;
      case Kind::kDropCollection:
        s = "  - collection " + c.collection;
        break;
      case Kind::kAlterCollection: {
        std::string keys;
        for (const std::string& k : c.changed) keys += (keys.empty() ? "" : ", ") + k;
        s = "  ~ collection " + c.collection + ": " + keys;
        break;
      }
      case Kind::kAddField:
        s = "  + field " + c.collection + "." + c.field + " (" + rel + ")";
        break;
      case Kind::kDropField:
        s = "  - field " + c.collection + "." + c.field + " (" + rel + ")";
        break;
      case Kind::kAlterField: {
        std::string keys;
        for (const std::string& k : c.changed) keys += (keys.empty() ? "" : ", ") + k;
        s = "  ~ field " + c.collection + "." + c.field +
            (c.previous_name.empty() ? "" : " (was " + c.previous_name + ")") + ": " + keys;
        break;
      }
    }
    const std::string what = c.field.empty() ? c.collection : c.collection + "." + c.field;
    if (auto it = losses.find(what);
        it != losses.end() && (c.kind == Kind::kDropField || c.kind == Kind::kDropCollection)) {
      s += "  loses " + std::to_string(it->second) +
           (c.kind == Kind::kDropField ? " values" : " rows");
    }
    line(s);
  }
  line("");
  line("Rows");
  if (rows.empty()) line("  none taken (every table schema-only or skipped)");
  if (!rows.empty()) {
    char buf[256];
    std::snprintf(buf, sizeof(buf), "  %-24s %-13s %9s %9s %9s %9s", "table", "rule", "insert",
                  "update", "delete", "unchanged");
    line(buf);
    for (const Rows& r : rows) {
      std::snprintf(buf, sizeof(buf), "  %-24s %-13s %9lld %9lld %9lld %9lld", r.table.c_str(),
                    std::string(RuleName(r.rule)).c_str(), static_cast<long long>(r.insert),
                    static_cast<long long>(r.update), static_cast<long long>(r.remove),
                    static_cast<long long>(r.unchanged));
      line(buf);
    }
  }
  line("");
  if (refusals.empty()) {
    line("No refusals: the import can proceed.");
  } else {
    line("Refusals (nothing will change until they are resolved)");
    for (const Refusal& r : refusals) line("  ! " + r.code + ": " + r.message);
  }
  return out;
}

}  // namespace slipway::ops
