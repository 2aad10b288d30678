#include "ops/task_store.h"

#include "core/ids.h"
#include "db/sql.h"
#include "db/system_tables.h"

namespace slipway::ops {
namespace json = boost::json;

namespace {

const std::string kTasks(db::kTasksTable);
constexpr const char* kColumns =
    "id, kind, state, params, progress, result, error, node_id, lease_until_ms, "
    "cancel_requested, created_by, created_ms, started_ms, finished_ms";

Result<TaskState> ParseState(std::string_view s) {
  if (s == "queued") return TaskState::kQueued;
  if (s == "running") return TaskState::kRunning;
  if (s == "succeeded") return TaskState::kSucceeded;
  if (s == "failed") return TaskState::kFailed;
  if (s == "cancelled") return TaskState::kCancelled;
  return Internal("task state '" + std::string(s) + "' is unknown");
}

json::value ParseJson(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? json::value(nullptr) : v;
}

json::object ProgressJson(const TaskProgress& p) {
  return {{"done", p.done}, {"total", p.total}, {"unit", p.unit}, {"message", p.message}};
}

Result<TaskRecord> RowToTask(const db::ResultSet& rs, int r) {
  TaskRecord t;
  t.id = std::string(rs.Text(r, 0));
  t.kind = std::string(rs.Text(r, 1));
  ASSIGN_OR_RETURN(t.state, ParseState(rs.Text(r, 2)));
  json::value params = ParseJson(rs.Text(r, 3));
  if (params.is_object()) t.params = std::move(params.as_object());
  json::value progress = ParseJson(rs.Text(r, 4));
  if (progress.is_object()) {
    const json::object& p = progress.as_object();
    if (auto* v = p.if_contains("done"); v && v->is_int64()) t.progress.done = v->as_int64();
    if (auto* v = p.if_contains("total"); v && v->is_int64()) t.progress.total = v->as_int64();
    if (auto* v = p.if_contains("unit"); v && v->is_string()) t.progress.unit = v->as_string();
    if (auto* v = p.if_contains("message"); v && v->is_string())
      t.progress.message = v->as_string();
  }
  if (!rs.IsNull(r, 5)) t.result = ParseJson(rs.Text(r, 5));
  t.error = std::string(rs.Text(r, 6));
  t.node_id = std::string(rs.Text(r, 7));
  t.lease_until_ms = rs.Int(r, 8);
  t.cancel_requested = rs.Bool(r, 9);
  if (!rs.IsNull(r, 10)) t.created_by = rs.Int(r, 10);
  t.created_ms = rs.Int(r, 11);
  if (!rs.IsNull(r, 12)) t.started_ms = rs.Int(r, 12);
  if (!rs.IsNull(r, 13)) t.finished_ms = rs.Int(r, 13);
  return t;
}

Status CheckKind(const std::string& kind) {
  bool valid = !kind.empty() && kind.size() <= 64;
  for (char c : kind) {
    valid = valid && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-' || c == '.');
  }
  return valid ? Status::Ok() : InvalidArgument("task kind '" + kind + "' is not valid");
}

Status Lost(const std::string& id, const std::string& node_id) {
  return FailedPrecondition("task " + id + " is no longer held by node '" + node_id +
                                "' (its lease expired or it was finished elsewhere)",
                            std::string(kTaskLost));
}

// The statement that fails running tasks whose lease expired (all, or one by id).
std::string FailExpiredSql(db::Dialect dialect, bool one) {
  const std::string now = db::SqlNowMillis(dialect);
  return "UPDATE " + kTasks +
         " SET state = 'failed', error = 'node ''' || node_id || ''' stopped renewing its "
         "lease (it stopped or lost the database)', finished_ms = " +
         now + ", updated_ms = " + now + " WHERE state = 'running' AND lease_until_ms < " + now +
         (one ? " AND id = $1" : "");
}

}  // namespace

std::string_view TaskStateName(TaskState s) {
  switch (s) {
    case TaskState::kQueued:
      return "queued";
    case TaskState::kRunning:
      return "running";
    case TaskState::kSucceeded:
      return "succeeded";
    case TaskState::kFailed:
      return "failed";
    case TaskState::kCancelled:
      return "cancelled";
  }
  return "failed";
}

json::object TaskRecord::ToJson() const {
  json::object shown = params;
  // A password given to a task (an encrypted backup's) is never shown back.
  if (shown.contains("password")) shown["password"] = "******";
  json::object o{{"id", id},
                 {"kind", kind},
                 {"state", TaskStateName(state)},
                 {"params", std::move(shown)},
                 {"progress", ProgressJson(progress)},
                 {"result", result},
                 {"error", error.empty() ? json::value(nullptr) : json::value(error)},
                 {"nodeId", node_id.empty() ? json::value(nullptr) : json::value(node_id)},
                 {"cancelRequested", cancel_requested},
                 {"createdAt", created_ms}};
  o["createdBy"] = created_by ? json::value(*created_by) : json::value(nullptr);
  o["startedAt"] = started_ms ? json::value(*started_ms) : json::value(nullptr);
  o["finishedAt"] = finished_ms ? json::value(*finished_ms) : json::value(nullptr);
  return o;
}

Result<TaskRecord> TaskStore::Enqueue(const std::string& kind, const json::object& params,
                                      std::optional<int64_t> created_by) {
  RETURN_IF_ERROR(CheckKind(kind));
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  const std::string now = db::SqlNowMillis(conn->dialect());
  ASSIGN_OR_RETURN(auto rs,
                   conn->Query("INSERT INTO " + kTasks +
                                   " (id, kind, state, params, progress, created_by, created_ms, "
                                   "updated_ms) VALUES ($1, $2, 'queued', $3, $4, $5, " +
                                   now + ", " + now + ") RETURNING " + kColumns,
                               {core::NewUuidV4(), kind, json::serialize(params),
                                json::serialize(ProgressJson({})),
                                created_by ? db::Value(*created_by) : db::Null()}));
  return RowToTask(*rs, 0);
}

Result<TaskRecord> TaskStore::Start(const std::string& kind, const json::object& params,
                                    std::optional<int64_t> created_by, const std::string& node_id,
                                    std::chrono::milliseconds lease) {
  RETURN_IF_ERROR(CheckKind(kind));
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  const std::string now = db::SqlNowMillis(conn->dialect());
  ASSIGN_OR_RETURN(
      auto rs,
      conn->Query(
          "INSERT INTO " + kTasks +
              " (id, kind, state, params, progress, created_by, node_id, lease_until_ms, "
              "started_ms, created_ms, updated_ms) VALUES ($1, $2, 'running', $3, $4, $5, "
              "$6, " +
              now + " + CAST($7 AS BIGINT), " + now + ", " + now + ", " + now + ") RETURNING " +
              kColumns,
          {core::NewUuidV4(), kind, json::serialize(params), json::serialize(ProgressJson({})),
           created_by ? db::Value(*created_by) : db::Null(), node_id,
           static_cast<int64_t>(lease.count())}));
  return RowToTask(*rs, 0);
}

Result<int> TaskStore::FailRunningOf(const std::string& node_id, const std::string& why) {
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  const std::string now = db::SqlNowMillis(conn->dialect());
  ASSIGN_OR_RETURN(auto rs, conn->Query("UPDATE " + kTasks + " SET state = 'failed', error = $2, " +
                                            "finished_ms = " + now + ", updated_ms = " + now +
                                            " WHERE state = 'running' AND node_id = $1",
                                        {node_id, why}));
  return static_cast<int>(rs->affected_rows());
}

Result<TaskRecord> TaskStore::Get(const std::string& id) {
  if (id.empty() || id.size() > 64) return InvalidArgument("task id '" + id + "' is not valid");
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  ASSIGN_OR_RETURN(auto expired, conn->Query(FailExpiredSql(conn->dialect(), true), {id}));
  ASSIGN_OR_RETURN(
      auto rs,
      conn->Query(std::string("SELECT ") + kColumns + " FROM " + kTasks + " WHERE id = $1", {id}));
  if (rs->row_count() == 0) return NotFound("task " + id + " not found");
  return RowToTask(*rs, 0);
}

Result<std::vector<TaskRecord>> TaskStore::List(const std::string& kind, int limit) {
  if (!kind.empty()) RETURN_IF_ERROR(CheckKind(kind));
  RETURN_IF_ERROR(FailExpired().status());
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  std::string sql = std::string("SELECT ") + kColumns + " FROM " + kTasks;
  std::vector<db::Value> params;
  if (!kind.empty()) {
    sql += " WHERE kind = $1";
    params.emplace_back(kind);
  }
  sql += " ORDER BY seq DESC LIMIT " + std::to_string(std::max(1, limit));
  ASSIGN_OR_RETURN(auto rs, conn->Query(sql, params));
  std::vector<TaskRecord> out;
  for (int r = 0; r < rs->row_count(); ++r) {
    ASSIGN_OR_RETURN(TaskRecord t, RowToTask(*rs, r));
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::optional<TaskRecord>> TaskStore::Claim(const std::string& node_id,
                                                   const std::vector<std::string>& kinds,
                                                   std::chrono::milliseconds lease) {
  if (kinds.empty()) return std::optional<TaskRecord>();
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  const db::Dialect dialect = conn->dialect();
  const std::string now = db::SqlNowMillis(dialect);
  std::vector<db::Value> params = {node_id, static_cast<int64_t>(lease.count())};
  std::string list;
  for (const std::string& k : kinds) {
    RETURN_IF_ERROR(CheckKind(k));
    params.emplace_back(k);
    list += (list.empty() ? "$" : ", $") + std::to_string(params.size());
  }
  // One statement: the first queued task (by the order of queueing) of these kinds becomes this
  // node's. On PostgreSQL a
  // row another claimer has locked is skipped, not waited for.
  std::string pick = "SELECT id FROM " + kTasks + " WHERE state = 'queued' AND kind IN (" + list +
                     ") ORDER BY seq LIMIT 1" +
                     (dialect == db::Dialect::kPostgres ? " FOR UPDATE SKIP LOCKED" : "");
  ASSIGN_OR_RETURN(auto rs, conn->Query("UPDATE " + kTasks +
                                            " SET state = 'running', node_id = $1, "
                                            "lease_until_ms = " +
                                            now + " + CAST($2 AS BIGINT), started_ms = " + now +
                                            ", updated_ms = " + now + " WHERE id = (" + pick +
                                            ") AND state = 'queued' RETURNING " + kColumns,
                                        params));
  if (rs->row_count() == 0) return std::optional<TaskRecord>();
  ASSIGN_OR_RETURN(TaskRecord t, RowToTask(*rs, 0));
  return std::optional<TaskRecord>(std::move(t));
}

Result<bool> TaskStore::Report(const std::string& id, const std::string& node_id,
                               const TaskProgress& progress, std::chrono::milliseconds lease) {
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  const std::string now = db::SqlNowMillis(conn->dialect());
  ASSIGN_OR_RETURN(auto rs,
                   conn->Query("UPDATE " + kTasks + " SET progress = $3, lease_until_ms = " + now +
                                   " + CAST($4 AS BIGINT), updated_ms = " + now +
                                   " WHERE id = $1 AND node_id = $2 AND state = 'running' AND "
                                   "lease_until_ms >= " +
                                   now + " RETURNING cancel_requested",
                               {id, node_id, json::serialize(ProgressJson(progress)),
                                static_cast<int64_t>(lease.count())}));
  if (rs->row_count() == 0) return Lost(id, node_id);
  return rs->Bool(0, 0);
}

Status TaskStore::Finish(const std::string& id, const std::string& node_id, TaskState state,
                         const json::value& result, const std::string& error) {
  if (state != TaskState::kSucceeded && state != TaskState::kFailed &&
      state != TaskState::kCancelled) {
    return InvalidArgument("a task finishes succeeded, failed or cancelled");
  }
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  const std::string now = db::SqlNowMillis(conn->dialect());
  ASSIGN_OR_RETURN(
      auto rs,
      conn->Query("UPDATE " + kTasks + " SET state = $3, result = $4, error = $5, " +
                      "finished_ms = " + now + ", updated_ms = " + now +
                      " WHERE id = $1 AND node_id = $2 AND state = 'running' AND "
                      "lease_until_ms >= " +
                      now,
                  {id, node_id, std::string(TaskStateName(state)),
                   result.is_null() ? db::Null() : db::Value(json::serialize(result)), error}));
  if (rs->affected_rows() == 0) return Lost(id, node_id);
  return Status::Ok();
}

Result<TaskRecord> TaskStore::Cancel(const std::string& id) {
  ASSIGN_OR_RETURN(TaskRecord t, Get(id));
  if (t.finished()) {
    return FailedPrecondition("task " + id + " has already " +
                              std::string(t.state == TaskState::kSucceeded ? "succeeded"
                                          : t.state == TaskState::kFailed  ? "failed"
                                                                           : "been cancelled"));
  }
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  const std::string now = db::SqlNowMillis(conn->dialect());
  ASSIGN_OR_RETURN(
      auto queued,
      conn->Query("UPDATE " + kTasks +
                      " SET state = 'cancelled', error = 'cancelled before it "
                      "started', finished_ms = " +
                      now + ", updated_ms = " + now + " WHERE id = $1 AND state = 'queued'",
                  {id}));
  if (queued->affected_rows() == 0) {
    ASSIGN_OR_RETURN(auto running,
                     conn->Query("UPDATE " + kTasks + " SET cancel_requested = $2, updated_ms = " +
                                     now + " WHERE id = $1 AND state = 'running'",
                                 {id, true}));
  }
  return Get(id);
}

Result<int> TaskStore::FailExpired() {
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  ASSIGN_OR_RETURN(auto rs, conn->Query(FailExpiredSql(conn->dialect(), false)));
  return static_cast<int>(rs->affected_rows());
}

}  // namespace slipway::ops
