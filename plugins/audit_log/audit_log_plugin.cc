#include "audit_log_plugin.h"

#include <boost/json.hpp>

namespace slipway::plugins {
namespace {

namespace json = boost::json;

constexpr const char* kCollection = "auditLogs";

// Fields whose changes are bookkeeping, not what a person changed.
bool Ignored(std::string_view field) { return field == "updatedAt" || field == "updatedById"; }

std::string KeyText(const json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : json::serialize(v);
}

// create: every field set; update: only fields whose value changed; destroy: the record as it was.
json::array Changes(const RecordChange& change) {
  json::array out;
  if (change.event == RecordEvent::kAfterCreate && change.after != nullptr) {
    for (const auto& kv : *change.after) {
      if (!kv.value().is_null())
        out.push_back(json::object{{"field", kv.key()}, {"after", kv.value()}});
    }
  } else if (change.event == RecordEvent::kAfterUpdate && change.after != nullptr) {
    for (const auto& kv : *change.after) {
      if (Ignored(kv.key())) continue;
      const json::value* before = change.before ? change.before->if_contains(kv.key()) : nullptr;
      if (before != nullptr && *before == kv.value()) continue;
      out.push_back(json::object{{"field", kv.key()},
                                 {"before", before ? *before : json::value(nullptr)},
                                 {"after", kv.value()}});
    }
  } else if (change.event == RecordEvent::kAfterDestroy && change.before != nullptr) {
    for (const auto& kv : *change.before) {
      if (!kv.value().is_null())
        out.push_back(json::object{{"field", kv.key()}, {"before", kv.value()}});
    }
  }
  return out;
}

Status Record(RecordChange& change) {
  if (change.collection == kCollection) return Status::Ok();  // never log the log
  json::array changes = Changes(change);
  if (change.event == RecordEvent::kAfterUpdate && changes.empty()) return Status::Ok();
  const json::object* record = change.after != nullptr ? change.after : change.before;
  std::string record_id;
  if (record != nullptr) {
    if (const json::value* key = record->if_contains(change.primary_key)) record_id = KeyText(*key);
  }
  const char* type = change.event == RecordEvent::kAfterCreate   ? "create"
                     : change.event == RecordEvent::kAfterUpdate ? "update"
                                                                 : "destroy";
  bool pg = change.connection->dialect() == db::Dialect::kPostgres;
  // Both dialects write the instant as UTC with milliseconds, like every other date field.
  std::string now = pg ? "now()" : "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
  db::Value user = change.caller.user_id == 0 ? db::Null() : db::Value(change.caller.user_id);
  auto inserted = change.connection->Query(
      "INSERT INTO \"auditLogs\" (\"type\", \"collectionName\", \"recordId\", \"userId\", "
      "\"role\", "
      "\"changes\", \"createdAt\", \"updatedAt\") VALUES ($1, $2, $3, $4, $5, $6, " +
          now + ", " + now + ")",
      {std::string(type), std::string(change.collection), record_id, user, change.caller.role,
       json::serialize(changes)});
  return inserted.ok() ? Status::Ok() : inserted.status();
}

class AuditLogPlugin final : public slipway::Plugin {
 public:
  std::string_view name() const override { return "audit-log"; }
  std::string_view version() const override { return "builtin"; }

  Status Load(PluginContext& ctx) override {
    RETURN_IF_ERROR(ctx.AddCollection(json::parse(R"({
      "name": "auditLogs", "title": "Audit logs", "createdBy": false, "updatedBy": false,
      "migrationRules": ["schema-only", "skip"],
      "fields": [
        {"name": "type", "type": "string", "interface": "select"},
        {"name": "collectionName", "type": "string", "interface": "input"},
        {"name": "recordId", "type": "string", "interface": "input"},
        {"name": "userId", "type": "bigInt", "interface": "integer"},
        {"name": "role", "type": "string", "interface": "input"},
        {"name": "changes", "type": "json", "interface": "json"}
      ]})")
                                          .as_object()));
    for (RecordEvent e :
         {RecordEvent::kAfterCreate, RecordEvent::kAfterUpdate, RecordEvent::kAfterDestroy}) {
      ctx.OnRecord("*", e, Record);
    }
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<slipway::Plugin> MakeAuditLogPlugin() { return std::make_unique<AuditLogPlugin>(); }

}  // namespace slipway::plugins
