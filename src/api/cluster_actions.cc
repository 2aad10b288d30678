#include "api/cluster_actions.h"

#include "db/cluster_state.h"
#include "http/error_response.h"

namespace slipway::api {
namespace json = boost::json;

namespace {

// The cluster's state and its gate are the application's own configuration ("app").
Action Configure(ActionFn fn, bool safe = false) {
  return Action{std::move(fn), RunsOn::kWorker, Access::kConfigure, "app", safe};
}

Result<http::Response> SetGate(ActionRequest& req, const std::string& state) {
  std::string message;
  if (req.body.is_object()) {
    if (const json::value* m = req.body.as_object().if_contains("message"); m && m->is_string()) {
      message = std::string(m->as_string());
    }
  }
  RETURN_IF_ERROR(SetClusterGate(req.services, state, message));
  auto snap = req.services.snapshot();
  return http::DataResponse(json::object{
      {"state", snap->cluster_state}, {"message", snap->cluster_message}, {"epoch", snap->epoch}});
}

}  // namespace

Status SetClusterGate(Services& services, const std::string& state, const std::string& message) {
  return services.ApplyChange({"cluster state " + state},
                              [&](db::Connection& conn, const Snapshot&) -> Result<SnapshotUpdate> {
                                RETURN_IF_ERROR(db::SetClusterState(conn, state, message));
                                return SnapshotUpdate::Reload();
                              });
}

void RegisterClusterActions(ActionRegistry& r, std::function<cluster::ClusterNode*()> cluster) {
  r.Add("maintenance", "on",
        Configure([](ActionRequest& req) { return SetGate(req, "maintenance"); }));
  r.Add("maintenance", "off",
        Configure([](ActionRequest& req) { return SetGate(req, "running"); }));
  r.Add("maintenance", "status",
        Configure(
            [](ActionRequest& req) -> Result<http::Response> {
              return http::DataResponse(json::object{{"state", req.snapshot->cluster_state},
                                                     {"message", req.snapshot->cluster_message}});
            },
            /*safe=*/true));
  r.Add("cluster", "nodes",
        Configure(
            [](ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
              ASSIGN_OR_RETURN(auto nodes,
                               cluster::ListNodes(*conn, req.services.config().node_live_timeout));
              json::array out;
              for (const auto& n : nodes) out.push_back(cluster::NodeJson(n));
              return http::DataResponse(out);
            },
            /*safe=*/true));
  r.Add("cluster", "status",
        Configure(
            [cluster](ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
              ASSIGN_OR_RETURN(db::ClusterRow row, db::ReadClusterRow(*conn));
              ASSIGN_OR_RETURN(auto nodes,
                               cluster::ListNodes(*conn, req.services.config().node_live_timeout));
              int live = 0;
              json::array list;
              for (const auto& n : nodes) {
                live += n.live ? 1 : 0;
                list.push_back(cluster::NodeJson(n));
              }
              json::object out{{"state", row.state},
                               {"message", row.message},
                               {"schemaVersion", row.schema_version},
                               {"epoch", row.epoch},
                               {"liveNodes", live},
                               {"nodes", list}};
              if (cluster::ClusterNode* c = cluster()) {
                out["node"] = json::object{{"id", c->id()},
                                           {"workerId", c->worker_id()},
                                           {"appliedEpoch", req.snapshot->epoch}};
                out["adapters"] = c->AdapterStatus();
              }
              return http::DataResponse(out);
            },
            /*safe=*/true));
}

}  // namespace slipway::api
