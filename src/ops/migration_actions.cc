// The migration API (migration_manager.h): NocoBase's migrations, migrationRules and
// migrationLogs resources, plus migrations:check (the dry run) and migrations:upload.
#include "api/action_registry.h"
#include "core/clock.h"
#include "db/system_tables.h"
#include "http/error_response.h"
#include "http/upload_sink.h"
#include "ops/migration_manager.h"

namespace slipway::ops {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const std::string kRulesTable(db::kMigrationRulesTable);
const std::string kLogsTable(db::kMigrationLogsTable);

json::value ParsedOrNull(const db::ResultSet& rs, int r, int c) {
  if (rs.IsNull(r, c)) return nullptr;
  boost::system::error_code ec;
  json::value v = json::parse(rs.Text(r, c), ec);
  return ec ? json::value(nullptr) : v;
}

json::value IsoOrNull(const db::ResultSet& rs, int r, int c) {
  if (rs.IsNull(r, c)) return nullptr;
  return json::value(core::UtcText(static_cast<std::time_t>(rs.Int(r, c) / 1000)));
}

// The id of a record (filterByTk): a positive integer.
Result<int64_t> IdArg(const api::ActionRequest& req, std::string_view what) {
  const json::value* v = Arg(req, "filterByTk");
  if (v == nullptr) v = Arg(req, "id");
  if (v != nullptr) {
    if (v->is_int64() && v->as_int64() > 0) return v->as_int64();
    if (v->is_string()) {
      try {
        size_t used = 0;
        int64_t id = std::stoll(std::string(v->as_string()), &used);
        if (used == v->as_string().size() && id > 0) return id;
      } catch (const std::exception&) {
      }
    }
  }
  return InvalidArgument(std::string(what) + ": filterByTk must be the id of the record");
}

json::object RulesRow(const db::ResultSet& rs, int r) {
  return json::object{{"id", rs.Int(r, 0)},
                      {"name", rs.Text(r, 1)},
                      {"rules", ParsedOrNull(rs, r, 2)},
                      {"createdAt", IsoOrNull(rs, r, 3)},
                      {"updatedAt", IsoOrNull(rs, r, 4)}};
}

json::object LogRow(const db::ResultSet& rs, int r, bool with_diff) {
  json::object o{
      {"id", rs.Int(r, 0)},
      {"taskId", rs.Text(r, 1)},
      {"package", rs.Text(r, 2)},
      {"status", rs.Text(r, 3)},
      {"createdById", rs.IsNull(r, 4) ? json::value(nullptr) : json::value(rs.Int(r, 4))},
      {"nodeId", rs.Text(r, 5)},
      {"backup", rs.Text(r, 6)},
      {"error", rs.Text(r, 8)},
      {"startedAt", IsoOrNull(rs, r, 9)},
      {"finishedAt", IsoOrNull(rs, r, 10)},
      {"ms", rs.IsNull(r, 11) ? json::value(nullptr) : json::value(rs.Int(r, 11))}};
  if (with_diff) o["diff"] = ParsedOrNull(rs, r, 7);
  return o;
}

constexpr const char* kLogColumns =
    "id, task_id, package, status, created_by, node_id, backup, diff, error, started_ms, "
    "finished_ms, ms";

}  // namespace

void MigrationManager::RegisterActions(api::ActionRegistry& r) {
  // ---- packages

  r.Add("migrations", "list",
        ConfigureAction(
            [this](api::ActionRequest&) -> Result<http::Response> {
              ASSIGN_OR_RETURN(json::array out,
                               ArchiveListing(tasks_, kExportTask, PackageFolder(packages_dir())));
              return http::DataResponse(out);
            },
            true));

  r.Add("migrations", "create",
        ConfigureAction(
            [this](api::ActionRequest& req) -> Result<http::Response> {
              json::object params{{"name", PackageFileName()}};
              if (const json::value* t = Arg(req, "title"); t && t->is_string()) {
                params["title"] = *t;
              }
              if (const json::value* p = Arg(req, "password"); p && p->is_string()) {
                params["password"] = *p;
              }
              // Saved rules by id, or rules given inline; checked now against this schema.
              MigrationRules rules;
              if (const json::value* id = Arg(req, "ruleId"); id && !id->is_null()) {
                if (!id->is_int64()) return InvalidArgument("ruleId must be the id of saved rules");
                ASSIGN_OR_RETURN(rules, SavedRules(id->as_int64()));
              } else if (const json::value* given = Arg(req, "rules")) {
                ASSIGN_OR_RETURN(rules, ParseRules(*given));
              }
              {
                auto snap = services_.snapshot();
                if (!snap->schema) return FailedPrecondition("the application is not installed");
                ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
                RETURN_IF_ERROR(ResolveRules(*conn, *snap->schema, rules).status());
              }
              params["rules"] = RulesToJson(rules);
              return QueueArchiveTask(tasks_, kExportTask, params, req, wake_);
            },
            false));

  auto name_arg = [this](api::ActionRequest& req) -> Result<fs::path> {
    const json::value* n = Arg(req, "filterByTk");
    if (n == nullptr) n = Arg(req, "name");
    return PackagePath(n ? Str(*n) : std::string());
  };

  r.Add("migrations", "get",
        ConfigureAction(
            [name_arg](api::ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(fs::path path, name_arg(req));
              ImportRequest request{path, Arg(req, "password") ? Str(*Arg(req, "password")) : ""};
              ASSIGN_OR_RETURN(PackageCheck check, CheckPackage(request));
              json::object o{{"name", path.filename().string()}, {"size", check.archive_bytes}};
              for (const char* key : {"title", "appVersion", "dialect", "createdAt", "rules",
                                      "rowCounts", "tableRowCounts", "plugins"}) {
                if (const json::value* v = check.manifest.if_contains(key)) o[key] = *v;
              }
              return http::DataResponse(o);
            },
            true));

  r.Add("migrations", "download",
        ConfigureAction(
            [name_arg](api::ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(fs::path path, name_arg(req));
              return FileDownload(path);
            },
            true));

  r.Add("migrations", "destroy",
        ConfigureAction(
            [this, name_arg](api::ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(fs::path path, name_arg(req));
              const std::string name = path.filename().string();
              ASSIGN_OR_RETURN(auto imports, tasks_.List(std::string(kImportTask), 50));
              for (const TaskRecord& t : imports) {
                if (!t.finished() && Param(t.params, "name") == name) {
                  return FailedPrecondition("package '" + name + "' is being imported (task " +
                                                t.id + "); it can be removed once that ends",
                                            "MIGRATION_IN_USE");
                }
              }
              std::error_code ec;
              if (!fs::remove(path, ec) || ec) {
                return Internal("removing package '" + name + "': " + ec.message());
              }
              return http::DataResponse(json::object{{"status", "ok"}});
            },
            false));

  api::Action upload = ConfigureAction(
      [this](api::ActionRequest& req) -> Result<http::Response> {
        ASSIGN_OR_RETURN(http::UploadedPart part,
                         http::FindUploadedPart(req.http, "migrations:upload", "file"));
        std::string name = PackageFileName();
        // The uploaded package keeps its name when it is a valid one not taken yet.
        const std::string given = part.sink->files()[part.index].filename;
        std::error_code ec;
        if (PackageFolder(packages_dir()).CheckName(given).ok() &&
            !fs::exists(packages_dir() / given, ec)) {
          name = given;
        }
        RETURN_IF_ERROR(part.sink->Claim(part.index, packages_dir() / name));
        return http::DataResponse(json::object{{"name", name}});
      },
      false);
  upload.plan_body = ArchiveUploadPlan(packages_dir());
  r.Add("migrations", "upload", std::move(upload));

  auto request_of = [name_arg](api::ActionRequest& req) -> Result<ImportRequest> {
    ImportRequest request;
    ASSIGN_OR_RETURN(request.path, name_arg(req));
    if (const json::value* p = Arg(req, "password"); p && p->is_string()) {
      request.password = std::string(p->as_string());
    }
    if (const json::value* a = Arg(req, "allowDataLoss")) {
      request.allow_data_loss = (a->is_bool() && a->as_bool()) || Str(*a) == "true";
    }
    return request;
  };

  r.Add("migrations", "check",
        ConfigureAction(
            [this, request_of](api::ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(ImportRequest request, request_of(req));
              ASSIGN_OR_RETURN(MigrationDiff diff, Check(request));
              return http::DataResponse(diff.ToJson());
            },
            true));

  r.Add("migrations", "execute",
        ConfigureAction(
            [this, request_of](api::ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(ImportRequest request, request_of(req));
              // One import at a time, and none while a restore replaces everything.
              for (std::string_view kind : {kImportTask, kRestoreTask}) {
                ASSIGN_OR_RETURN(auto running, tasks_.List(std::string(kind), 20));
                for (const TaskRecord& t : running) {
                  if (t.finished()) continue;
                  return FailedPrecondition(
                      std::string(kind == kImportTask ? "an import" : "a restore") +
                          " is under way (task " + t.id + ", " +
                          std::string(TaskStateName(t.state)) + "); ask again once it ends",
                      "MIGRATION_IN_PROGRESS");
                }
              }
              json::object params{{"name", request.path.filename().string()},
                                  {"allowDataLoss", request.allow_data_loss}};
              if (!request.password.empty()) params["password"] = request.password;
              if (const json::value* s = Arg(req, "skipBackup")) {
                params["skipBackup"] = (s->is_bool() && s->as_bool()) || Str(*s) == "true";
              }
              ASSIGN_OR_RETURN(TaskRecord t, tasks_.Enqueue(std::string(kImportTask), params,
                                                            req.user ? std::optional(req.user->id)
                                                                     : std::nullopt));
              if (wake_) wake_();
              http::Response resp = http::DataResponse(json::object{
                  {"taskId", t.id}, {"name", params.at("name")}, {"inProgress", true}});
              resp.status = 202;
              return resp;
            },
            false));

  // ---- saved rules

  r.Add("migrationRules", "list",
        ConfigureAction(
            [this](api::ActionRequest&) -> Result<http::Response> {
              ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
              ASSIGN_OR_RETURN(auto rs,
                               conn->Query("SELECT id, name, rules, created_ms, updated_ms FROM " +
                                           kRulesTable + " ORDER BY id"));
              json::array out;
              for (int i = 0; i < rs->row_count(); ++i) out.push_back(RulesRow(*rs, i));
              return http::DataResponse(out);
            },
            true));

  r.Add("migrationRules", "get",
        ConfigureAction(
            [this](api::ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(int64_t id, IdArg(req, "migrationRules:get"));
              ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
              ASSIGN_OR_RETURN(auto rs,
                               conn->Query("SELECT id, name, rules, created_ms, updated_ms FROM " +
                                               kRulesTable + " WHERE id = $1",
                                           {id}));
              if (rs->row_count() == 0) {
                return NotFound("migration rules " + std::to_string(id) + " not found",
                                "RULES_NOT_FOUND");
              }
              return http::DataResponse(RulesRow(*rs, 0));
            },
            true));

  // {name, rules}: the rules checked against this application's collections and tables.
  auto checked_values = [this](api::ActionRequest& req, bool all)
      -> Result<std::pair<std::optional<std::string>, std::optional<MigrationRules>>> {
    std::optional<std::string> name;
    std::optional<MigrationRules> rules;
    if (const json::value* n = Arg(req, "name")) {
      if (!n->is_string() || n->as_string().empty() || n->as_string().size() > 200) {
        return InvalidArgument("migrationRules: 'name' must be a non-empty string");
      }
      name = std::string(n->as_string());
    }
    if (const json::value* given = Arg(req, "rules")) {
      ASSIGN_OR_RETURN(rules, ParseRules(*given));
      auto snap = services_.snapshot();
      if (!snap->schema) return FailedPrecondition("the application is not installed");
      ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
      RETURN_IF_ERROR(ResolveRules(*conn, *snap->schema, *rules).status());
    }
    if (all && (!name || !rules)) {
      return InvalidArgument("migrationRules:create takes a 'name' and 'rules'");
    }
    return std::make_pair(name, rules);
  };

  r.Add("migrationRules", "create",
        ConfigureAction(
            [this, checked_values](api::ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(auto values, checked_values(req, true));
              ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
              const int64_t now = NowMillis();
              auto made =
                  conn->Query("INSERT INTO " + kRulesTable +
                                  " (name, rules, created_ms, updated_ms) VALUES ($1, $2, "
                                  "$3, $3) RETURNING id, name, rules, created_ms, "
                                  "updated_ms",
                              {*values.first, json::serialize(RulesToJson(*values.second)), now});
              if (!made.ok()) {
                if (made.status().code() == StatusCode::kAlreadyExists) {
                  return AlreadyExists(
                      "migration rules named '" + *values.first + "' exist already", "RULES_EXIST");
                }
                return made.status();
              }
              return http::DataResponse(RulesRow(**made, 0));
            },
            false));

  r.Add("migrationRules", "update",
        ConfigureAction(
            [this, checked_values](api::ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(int64_t id, IdArg(req, "migrationRules:update"));
              ASSIGN_OR_RETURN(auto values, checked_values(req, false));
              ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
              std::string sql = "UPDATE " + kRulesTable + " SET updated_ms = $2";
              std::vector<db::Value> args{id, NowMillis()};
              if (values.first) {
                args.push_back(*values.first);
                sql += ", name = $" + std::to_string(args.size());
              }
              if (values.second) {
                args.push_back(json::serialize(RulesToJson(*values.second)));
                sql += ", rules = $" + std::to_string(args.size());
              }
              auto updated = conn->Query(
                  sql + " WHERE id = $1 RETURNING id, name, rules, created_ms, updated_ms", args);
              if (!updated.ok()) {
                if (updated.status().code() == StatusCode::kAlreadyExists) {
                  return AlreadyExists("migration rules with that name exist already",
                                       "RULES_EXIST");
                }
                return updated.status();
              }
              if ((*updated)->row_count() == 0) {
                return NotFound("migration rules " + std::to_string(id) + " not found",
                                "RULES_NOT_FOUND");
              }
              return http::DataResponse(RulesRow(**updated, 0));
            },
            false));

  r.Add("migrationRules", "destroy",
        ConfigureAction(
            [this](api::ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(int64_t id, IdArg(req, "migrationRules:destroy"));
              ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
              ASSIGN_OR_RETURN(auto rs,
                               conn->Query("DELETE FROM " + kRulesTable + " WHERE id = $1", {id}));
              if (rs->affected_rows() == 0) {
                return NotFound("migration rules " + std::to_string(id) + " not found",
                                "RULES_NOT_FOUND");
              }
              return http::DataResponse(json::object{{"status", "ok"}});
            },
            false));

  // ---- the import log

  r.Add("migrationLogs", "list",
        ConfigureAction(
            [this](api::ActionRequest&) -> Result<http::Response> {
              ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
              ASSIGN_OR_RETURN(auto rs,
                               conn->Query("SELECT " + std::string(kLogColumns) + " FROM " +
                                           kLogsTable + " ORDER BY id DESC LIMIT 200"));
              json::array out;
              for (int i = 0; i < rs->row_count(); ++i) out.push_back(LogRow(*rs, i, false));
              return http::DataResponse(out);
            },
            true));

  r.Add("migrationLogs", "get",
        ConfigureAction(
            [this](api::ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(int64_t id, IdArg(req, "migrationLogs:get"));
              ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
              ASSIGN_OR_RETURN(auto rs, conn->Query("SELECT " + std::string(kLogColumns) +
                                                        " FROM " + kLogsTable + " WHERE id = $1",
                                                    {id}));
              if (rs->row_count() == 0) {
                return NotFound("migration log " + std::to_string(id) + " not found",
                                "LOG_NOT_FOUND");
              }
              return http::DataResponse(LogRow(*rs, 0, true));
            },
            true));
}

}  // namespace slipway::ops
