#include "api/app_actions.h"

#include "core/json_writer.h"

namespace slipway::api {

void RegisterAppActions(ActionRegistry& registry, AppInfo info) {
  registry.Add("app", "getInfo",
               {[info](ActionRequest& req) -> Result<http::Response> {
                  std::string body;
                  core::JsonWriter w(&body);
                  w.BeginObject().Key("data").BeginObject();
                  w.Key("database").BeginObject().Key("dialect").String(info.dialect).EndObject();
                  w.Key("version").String(info.version);
                  w.Key("schemaVersion").String(req.snapshot->schema_version);
                  w.Key("lang").String("en-US");
                  w.Key("name").String("main");
                  w.Key("theme").String("default");
                  w.Key("state").String(AppStateName(info.lifecycle->state()));
                  w.Key("nodeId").String(info.node_id);
                  w.Key("epoch").Int(req.snapshot->epoch);
                  w.EndObject().EndObject();
                  return http::Response::Json(200, std::move(body));
                },
                RunsOn::kIoThread, Access::kOpen, "", /*safe=*/true});
}

}  // namespace slipway::api
