#include "ops/task_actions.h"

#include "api/acl_policy.h"
#include "http/error_response.h"

namespace slipway::ops {
namespace json = boost::json;

namespace {

bool SeesEveryTask(const api::ActionRequest& req) {
  const std::string& role = req.user->role;
  return role == "root" || (req.snapshot->acl && req.snapshot->acl->SnippetAllowed(role, "app"));
}

// The task named by filterByTk, if the caller may see it (another user's task is "not found").
Result<TaskRecord> VisibleTask(const api::ActionRequest& req, TaskStore& store) {
  const json::value* tk = req.params.if_contains("filterByTk");
  if (tk == nullptr || !tk->is_string() || tk->as_string().empty()) {
    return InvalidArgument("filterByTk: the task's id is required");
  }
  std::string id(tk->as_string());
  ASSIGN_OR_RETURN(TaskRecord t, store.Get(id));
  if (!SeesEveryTask(req) && t.created_by != req.user->id) {
    return NotFound("task " + id + " not found");
  }
  return t;
}

api::Action SignedIn(api::ActionFn fn, bool safe) {
  return api::Action{std::move(fn), api::RunsOn::kWorker, api::Access::kSignedIn, "", safe};
}

}  // namespace

void RegisterTaskActions(api::ActionRegistry& r, TaskStore& store) {
  r.Add("asyncTasks", "list",
        SignedIn(
            [&store](api::ActionRequest& req) -> Result<http::Response> {
              std::string kind;
              if (const json::value* k = req.params.if_contains("kind"); k && k->is_string()) {
                kind = std::string(k->as_string());
              }
              ASSIGN_OR_RETURN(std::vector<TaskRecord> tasks, store.List(kind, 200));
              json::array out;
              const bool all = SeesEveryTask(req);
              for (const TaskRecord& t : tasks) {
                if (all || t.created_by == req.user->id) out.push_back(t.ToJson());
              }
              return http::DataResponse(out);
            },
            true));
  r.Add("asyncTasks", "get",
        SignedIn(
            [&store](api::ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(TaskRecord t, VisibleTask(req, store));
              return http::DataResponse(t.ToJson());
            },
            true));
  r.Add("asyncTasks", "stop",
        SignedIn(
            [&store](api::ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(TaskRecord t, VisibleTask(req, store));
              ASSIGN_OR_RETURN(TaskRecord now, store.Cancel(t.id));
              http::Response r = http::DataResponse(now.ToJson());
              r.status = 202;
              return r;
            },
            false));
}

}  // namespace slipway::ops
