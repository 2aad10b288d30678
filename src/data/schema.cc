#include "data/schema.h"

#include <algorithm>
#include <cctype>

#include "data/values.h"
#include "db/system_tables.h"

namespace slipway::data {
namespace json = boost::json;

const Field* Collection::FindField(std::string_view field_name) const {
  for (const Field& f : fields) {
    if (f.name == field_name) return &f;
  }
  return nullptr;
}

std::vector<const Field*> Collection::ColumnFields() const {
  std::vector<const Field*> out;
  for (const Field& f : fields) {
    if (f.has_column()) out.push_back(&f);
  }
  return out;
}

Status ValidateIdentifier(std::string_view kind, std::string_view name) {
  auto bad = [&](std::string why) {
    return InvalidArgument(std::string(kind) + " name '" + std::string(name) + "' " + why);
  };
  if (name.empty()) return InvalidArgument(std::string(kind) + " name is required");
  if (name.size() > 63) return bad("is longer than 63 characters");
  char c0 = name[0];
  if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || c0 == '_')) {
    return bad("must start with a letter or underscore");
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
      return bad("may contain only letters, digits and underscores");
    }
  }
  return Status::Ok();
}

namespace {

Result<std::string> OptString(const json::object& def, std::string_view key,
                              std::string_view what) {
  auto it = def.find(key);
  if (it == def.end() || it->value().is_null()) return std::string();
  if (!it->value().is_string()) {
    return InvalidArgument(std::string(what) + ": '" + std::string(key) + "' must be a string");
  }
  return std::string(it->value().as_string());
}

Result<bool> OptBool(const json::object& def, std::string_view key, bool fallback,
                     std::string_view what) {
  auto it = def.find(key);
  if (it == def.end() || it->value().is_null()) return fallback;
  if (!it->value().is_bool()) {
    return InvalidArgument(std::string(what) + ": '" + std::string(key) +
                           "' must be true or false");
  }
  return it->value().as_bool();
}

Result<int> OptInt(const json::object& def, std::string_view key, int fallback, int min, int max,
                   std::string_view what) {
  auto it = def.find(key);
  if (it == def.end() || it->value().is_null()) return fallback;
  if (!it->value().is_int64() || it->value().as_int64() < min || it->value().as_int64() > max) {
    return InvalidArgument(std::string(what) + ": '" + std::string(key) +
                           "' must be a whole number from " + std::to_string(min) + " to " +
                           std::to_string(max));
  }
  return static_cast<int>(it->value().as_int64());
}

// A collection's name made singular the simple English way NocoBase's defaults use.
std::string Singular(std::string_view name) {
  std::string base(name);
  if (base.size() > 3 && base.compare(base.size() - 3, 3, "ies") == 0) {
    base = base.substr(0, base.size() - 3) + "y";
  } else if (base.size() > 1 && base.back() == 's') {
    base.pop_back();
  }
  return base;
}

// NocoBase's default foreign key for a hasMany or hasOne: the source's name made singular, plus
// "Id".
std::string DefaultHasManyForeignKey(std::string_view source) { return Singular(source) + "Id"; }

// Sequelize's default key of a belongsToMany's join table: the singular collection name and the
// key it points at, in camel case ("posts", "id" -> "postId").
std::string JoinKeyName(std::string_view collection, std::string_view key) {
  std::string out = Singular(collection);
  if (!key.empty()) {
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(key[0])));
    out += key.substr(1);
  }
  return out;
}

Field MakeSystemField(std::string name, FieldType type, std::string interface) {
  Field f;
  f.name = name;
  f.column = std::move(name);
  f.type = type;
  f.system = true;
  f.interface = std::move(interface);
  return f;
}

}  // namespace

Result<Field> ParseFieldDefinition(const json::object& def, std::string_view collection) {
  Field f;
  ASSIGN_OR_RETURN(f.name, OptString(def, "name", "field"));
  std::string what = "field '" + std::string(collection) + "." + f.name + "'";
  RETURN_IF_ERROR(ValidateIdentifier("field", f.name));
  ASSIGN_OR_RETURN(std::string type, OptString(def, "type", what));
  if (type.empty()) return InvalidArgument(what + ": 'type' is required");
  json::object given = def;
  if (type == "attachment") {
    // The file manager's field: a belongsToMany to its attachments (as NocoBase's attachment
    // interface makes it).
    type = "belongsToMany";
    given["type"] = type;
    if (!given.contains("target")) given["target"] = "attachments";
    if (!given.contains("interface")) given["interface"] = "attachment";
  }
  auto parsed = ParseFieldType(type);
  if (!parsed) {
    return InvalidArgument(what + ": unknown type '" + type +
                           "' (string, text, integer, bigInt, float, double, decimal, boolean, "
                           "date, datetimeNoTz, dateOnly, time, json, uuid, snowflakeId, password, "
                           "belongsTo, hasMany, hasOne, belongsToMany, attachment)");
  }
  f.type = *parsed;
  ASSIGN_OR_RETURN(f.interface, OptString(given, "interface", what));
  ASSIGN_OR_RETURN(f.primary_key, OptBool(given, "primaryKey", false, what));
  ASSIGN_OR_RETURN(f.auto_increment, OptBool(given, "autoIncrement", false, what));
  ASSIGN_OR_RETURN(f.unique, OptBool(given, "unique", false, what));
  ASSIGN_OR_RETURN(f.index, OptBool(given, "index", false, what));
  ASSIGN_OR_RETURN(f.allow_null, OptBool(given, "allowNull", !f.primary_key, what));
  ASSIGN_OR_RETURN(f.length, OptInt(given, "length", 255, 1, 10485760, what));
  ASSIGN_OR_RETURN(f.precision, OptInt(given, "precision", 20, 1, 1000, what));
  ASSIGN_OR_RETURN(f.scale, OptInt(given, "scale", 2, 0, 1000, what));
  if (f.scale > f.precision) return InvalidArgument(what + ": 'scale' is larger than 'precision'");
  if (auto it = given.find("defaultValue"); it != given.end() && !it->value().is_null()) {
    RETURN_IF_ERROR(
        CheckStorable(it->value(), std::string(collection) + "." + f.name + " (defaultValue)"));
    f.default_value = it->value();
  }
  if (f.auto_increment && !(f.type == FieldType::kInteger || f.type == FieldType::kBigInt)) {
    return InvalidArgument(what + ": 'autoIncrement' needs an integer or bigInt field");
  }
  if (f.primary_key &&
      (IsRelation(f.type) || f.type == FieldType::kJson || f.type == FieldType::kPassword)) {
    return InvalidArgument(what + ": a " + type + " field cannot be the primary key");
  }

  if (IsRelation(f.type)) {
    ASSIGN_OR_RETURN(f.target, OptString(given, "target", what));
    if (f.target.empty()) return InvalidArgument(what + ": a " + type + " needs 'target'");
    RETURN_IF_ERROR(ValidateIdentifier("target collection", f.target));
    ASSIGN_OR_RETURN(std::string target_key, OptString(given, "targetKey", what));
    if (!target_key.empty()) f.target_key = target_key;
    ASSIGN_OR_RETURN(std::string source_key, OptString(given, "sourceKey", what));
    if (!source_key.empty()) f.source_key = source_key;
    ASSIGN_OR_RETURN(f.foreign_key, OptString(given, "foreignKey", what));
    if (f.foreign_key.empty()) {
      f.foreign_key = f.type == FieldType::kBelongsTo       ? f.name + "Id"
                      : f.type == FieldType::kBelongsToMany ? JoinKeyName(collection, f.source_key)
                                                            : DefaultHasManyForeignKey(collection);
    }
    RETURN_IF_ERROR(ValidateIdentifier("foreign key", f.foreign_key));
    if (f.type == FieldType::kBelongsToMany) {
      ASSIGN_OR_RETURN(f.other_key, OptString(given, "otherKey", what));
      if (f.other_key.empty()) f.other_key = JoinKeyName(f.target, f.target_key);
      RETURN_IF_ERROR(ValidateIdentifier("other key", f.other_key));
      if (f.other_key == f.foreign_key) {
        return InvalidArgument(what + ": 'foreignKey' and 'otherKey' are both '" + f.foreign_key +
                               "'; a relation of a collection to itself needs them named");
      }
      ASSIGN_OR_RETURN(f.through, OptString(given, "through", what));
      if (f.through.empty()) f.through = DefaultThroughName(collection, f.target);
      RETURN_IF_ERROR(ValidateIdentifier("through collection", f.through));
      if (f.through == f.target || f.through == collection) {
        return InvalidArgument(what + ": 'through' cannot be one of the related collections");
      }
      f.on_delete = "CASCADE";  // join rows go with either record
    }
    ASSIGN_OR_RETURN(std::string on_delete, OptString(given, "onDelete", what));
    if (!on_delete.empty()) {
      if (on_delete != "SET NULL" && on_delete != "CASCADE" && on_delete != "RESTRICT") {
        return InvalidArgument(what + ": 'onDelete' must be SET NULL, CASCADE or RESTRICT");
      }
      f.on_delete = on_delete;
    }
    if (f.unique || f.index || f.primary_key || f.default_value) {
      return InvalidArgument(what +
                             ": relations take no unique, index, primaryKey or defaultValue");
    }
  } else {
    f.column = f.name;
  }
  f.options = std::move(given);
  return f;
}

Result<Collection> ParseCollectionDefinition(const json::object& def, bool users_exists) {
  Collection c;
  ASSIGN_OR_RETURN(c.name, OptString(def, "name", "collection"));
  RETURN_IF_ERROR(ValidateIdentifier("collection", c.name));
  if (c.name.rfind(db::kReservedPrefix, 0) == 0) {
    return InvalidArgument("collection name '" + c.name + "' uses the reserved prefix '" +
                           std::string(db::kReservedPrefix) + "'");
  }
  std::string what = "collection '" + c.name + "'";
  c.table = c.name;
  ASSIGN_OR_RETURN(c.title, OptString(def, "title", what));
  if (c.title.empty()) c.title = c.name;
  ASSIGN_OR_RETURN(bool auto_gen_id, OptBool(def, "autoGenId", true, what));
  ASSIGN_OR_RETURN(c.timestamps, OptBool(def, "timestamps", true, what));
  ASSIGN_OR_RETURN(bool created_at, OptBool(def, "createdAt", c.timestamps, what));
  ASSIGN_OR_RETURN(bool updated_at, OptBool(def, "updatedAt", c.timestamps, what));
  ASSIGN_OR_RETURN(bool created_by, OptBool(def, "createdBy", true, what));
  ASSIGN_OR_RETURN(bool updated_by, OptBool(def, "updatedBy", true, what));
  c.timestamps = created_at || updated_at;
  c.created_by = created_by || updated_by;

  std::vector<Field> given;
  if (auto it = def.find("fields"); it != def.end() && !it->value().is_null()) {
    if (!it->value().is_array()) return InvalidArgument(what + ": 'fields' must be an array");
    for (const json::value& v : it->value().as_array()) {
      if (!v.is_object()) return InvalidArgument(what + ": every field must be an object");
      ASSIGN_OR_RETURN(Field f, ParseFieldDefinition(v.as_object(), c.name));
      given.push_back(std::move(f));
    }
  }
  const Field* given_pk = nullptr;
  for (const Field& f : given) {
    if (f.primary_key) {
      if (given_pk) return InvalidArgument(what + ": more than one primary key");
      given_pk = &f;
    }
  }
  if (given_pk == nullptr && auto_gen_id) {
    Field id = MakeSystemField("id", FieldType::kBigInt, "id");
    id.primary_key = true;
    id.auto_increment = true;
    id.allow_null = false;
    c.fields.push_back(std::move(id));
  } else if (given_pk == nullptr) {
    return InvalidArgument(what + ": with autoGenId false one field needs primaryKey true");
  }
  for (Field& f : given) {
    if (c.FindField(f.name))
      return InvalidArgument(what + ": field '" + f.name + "' is defined twice");
    if (f.primary_key) c.primary_key = f.name;
    c.fields.push_back(std::move(f));
  }
  auto add_default = [&](Field f) {
    if (!c.FindField(f.name)) c.fields.push_back(std::move(f));
  };
  if (created_at) add_default(MakeSystemField("createdAt", FieldType::kDate, "createdAt"));
  if (updated_at) add_default(MakeSystemField("updatedAt", FieldType::kDate, "updatedAt"));
  if (created_by) {
    Field id = MakeSystemField("createdById", FieldType::kBigInt, "");
    id.foreign_key_of = users_exists ? "createdBy" : "";
    add_default(std::move(id));
  }
  if (updated_by) {
    Field id = MakeSystemField("updatedById", FieldType::kBigInt, "");
    id.foreign_key_of = users_exists ? "updatedBy" : "";
    add_default(std::move(id));
  }
  if (users_exists) {
    for (const char* rel : {"createdBy", "updatedBy"}) {
      if ((std::string_view(rel) == "createdBy" && !created_by) ||
          (std::string_view(rel) == "updatedBy" && !updated_by)) {
        continue;
      }
      Field r;
      r.name = rel;
      r.type = FieldType::kBelongsTo;
      r.target = "users";
      r.foreign_key = std::string(rel) + "Id";
      r.system = true;
      r.interface = rel;
      add_default(std::move(r));
    }
  }
  // Each belongsTo's foreign key is a column of this collection: add it when not declared.
  std::vector<Field> keys;
  for (const Field& f : c.fields) {
    if (f.type != FieldType::kBelongsTo) continue;
    auto existing = std::find_if(c.fields.begin(), c.fields.end(),
                                 [&](const Field& k) { return k.name == f.foreign_key; });
    if (existing != c.fields.end()) {
      if (!existing->has_column()) {
        return InvalidArgument(what + ": foreign key '" + f.foreign_key + "' of '" + f.name +
                               "' names a relation");
      }
      existing->foreign_key_of = f.name;
      continue;
    }
    Field fk = MakeSystemField(f.foreign_key, FieldType::kBigInt, "");
    fk.system = false;
    fk.foreign_key_of = f.name;
    keys.push_back(std::move(fk));
  }
  for (Field& k : keys) c.fields.push_back(std::move(k));

  c.options = def;
  c.options.erase("fields");
  return c;
}

json::object FieldToJson(const Field& f, std::string_view collection) {
  json::object o = f.options;
  o["name"] = f.name;
  o["type"] = FieldTypeName(f.type);
  o["collectionName"] = collection;
  if (!f.interface.empty()) o["interface"] = f.interface;
  if (f.primary_key) o["primaryKey"] = true;
  if (f.auto_increment) o["autoIncrement"] = true;
  if (f.unique) o["unique"] = true;
  if (f.index) o["index"] = true;
  if (!f.allow_null) o["allowNull"] = false;
  if (IsRelation(f.type)) {
    o["target"] = f.target;
    o["foreignKey"] = f.foreign_key;
    if (f.type == FieldType::kBelongsTo) {
      o["targetKey"] = f.target_key;
    } else {
      o["sourceKey"] = f.source_key;
    }
    if (f.type == FieldType::kBelongsToMany) {
      o["targetKey"] = f.target_key;
      o["otherKey"] = f.other_key;
      o["through"] = f.through;
    }
    o["onDelete"] = f.on_delete;
  }
  if (!f.foreign_key_of.empty()) o["isForeignKey"] = true;
  return o;
}

std::string DefaultThroughName(std::string_view source, std::string_view target) {
  std::string a = Folded(source), b = Folded(target);
  if (b < a) std::swap(a, b);
  // Sequelize's camelize of "a_b": the letter after each underscore in upper case.
  std::string joined = a + "_" + b, out;
  bool upper = false;
  for (char ch : joined) {
    if (ch == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch;
    upper = false;
  }
  return out;
}

json::object CollectionToJson(const Collection& c, bool with_fields) {
  json::object o = c.options;
  o["name"] = c.name;
  o["title"] = c.title;
  o["origin"] = c.origin;
  o["filterTargetKey"] = c.primary_key;
  if (c.is_through) o["isThrough"] = true;
  if (with_fields) {
    json::array fields;
    for (const Field& f : c.fields) fields.push_back(FieldToJson(f, c.name));
    o["fields"] = std::move(fields);
  }
  return o;
}

std::string Folded(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

const Collection* Schema::Find(std::string_view name) const {
  auto it = collections_.find(std::string(name));
  return it == collections_.end() ? nullptr : it->second.get();
}

Status Schema::Validate() const {
  for (const auto& [name, c] : collections_) {
    for (const Field& f : c->fields) {
      if (!IsRelation(f.type)) continue;
      std::string what = "relation '" + name + "." + f.name + "'";
      const Collection* target = Find(f.target);
      if (target == nullptr) {
        return InvalidArgument(what + ": target collection '" + f.target + "' does not exist");
      }
      if (f.type == FieldType::kBelongsTo || f.type == FieldType::kBelongsToMany) {
        const Field* key = target->FindField(f.target_key);
        if (key == nullptr || !key->has_column()) {
          return InvalidArgument(what + ": target key '" + f.target + "." + f.target_key +
                                 "' does not exist");
        }
      }
      if (f.type == FieldType::kBelongsToMany) {
        const Collection* through = Find(f.through);
        if (through == nullptr || !through->is_through) {
          return InvalidArgument(what + ": join collection '" + f.through + "' does not exist");
        }
        const Field* fk = through->FindField(f.foreign_key);
        const Field* ok = through->FindField(f.other_key);
        if (fk == nullptr || !fk->has_column() || ok == nullptr || !ok->has_column()) {
          return InvalidArgument(what + ": join collection '" + f.through + "' lacks '" +
                                 f.foreign_key + "' or '" + f.other_key + "'");
        }
      }
      if (f.type != FieldType::kBelongsTo) {
        const Field* key = c->FindField(f.source_key);
        if (key == nullptr || !key->has_column()) {
          return InvalidArgument(what + ": source key '" + name + "." + f.source_key +
                                 "' does not exist");
        }
      }
    }
  }
  return Status::Ok();
}

std::vector<std::pair<const Collection*, const Field*>> Schema::RelationsInvolving(
    std::string_view collection) const {
  std::vector<std::pair<const Collection*, const Field*>> out;
  for (const auto& [name, c] : collections_) {
    for (const Field& f : c->fields) {
      if (IsRelation(f.type) && f.target == collection && name != collection) {
        out.emplace_back(c.get(), &f);
      }
    }
  }
  return out;
}

std::vector<std::pair<const Collection*, const Field*>> Schema::UnenforcedReferencesTo(
    std::string_view collection) const {
  std::vector<std::pair<const Collection*, const Field*>> out;
  for (const auto& [name, c] : collections_) {
    for (const Field& f : c->fields) {
      if (f.type == FieldType::kBelongsTo && !f.enforced() && f.target == collection) {
        out.emplace_back(c.get(), &f);
      }
    }
  }
  return out;
}

}  // namespace slipway::data
