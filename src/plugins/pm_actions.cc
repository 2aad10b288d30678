#include "plugins/pm_actions.h"

#include "http/error_response.h"
#include "http/multipart.h"

namespace slipway::plugins {
namespace json = boost::json;

namespace {

Result<std::string> Name(const api::ActionRequest& req) {
  auto it = req.params.find("filterByTk");
  if (it == req.params.end() || !it->value().is_string() || it->value().as_string().empty()) {
    return InvalidArgument(req.route.Key() + " needs filterByTk (the plugin's name)");
  }
  return std::string(it->value().as_string());
}

bool Flag(const api::ActionRequest& req, std::string_view key) {
  auto it = req.params.find(key);
  if (it != req.params.end()) {
    const json::value& v = it->value();
    if ((v.is_string() && (v.as_string() == "true" || v.as_string() == "1")) ||
        (v.is_bool() && v.as_bool())) {
      return true;
    }
  }
  if (req.body.is_object()) {
    auto b = req.body.as_object().find(key);
    if (b != req.body.as_object().end() && b->value().is_bool()) return b->value().as_bool();
  }
  return false;
}

// The plugin manager's permission is NocoBase's "pm" snippet.
api::Action Configure(api::ActionFn fn, bool safe = false) {
  return api::Action{std::move(fn), api::RunsOn::kWorker, api::Access::kConfigure, "pm", safe};
}

}  // namespace

void RegisterPluginActions(api::ActionRegistry& r, PluginManager& pm) {
  r.Add("pm", "list",
        Configure(
            [&pm](api::ActionRequest&) -> Result<http::Response> {
              ASSIGN_OR_RETURN(json::array all, pm.List());
              return http::DataResponse(all);
            },
            /*safe=*/true));
  r.Add("pm", "get",
        Configure(
            [&pm](api::ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(std::string name, Name(req));
              ASSIGN_OR_RETURN(json::object p, pm.Get(name));
              return http::DataResponse(p);
            },
            /*safe=*/true));
  // A package as a multipart upload (any part with a filename, e.g. curl -F file=@x.tgz), or a
  // file already in <STORAGE_PATH>/plugins: {"path": "x.tgz"} or ?path=.
  r.Add("pm", "add", Configure([&pm](api::ActionRequest& req) -> Result<http::Response> {
          std::string_view type = req.http.header("content-type");
          if (type.find("multipart/form-data") != std::string_view::npos) {
            ASSIGN_OR_RETURN(auto parts, http::ParseMultipart(req.http.body, type));
            for (const http::Part& part : parts) {
              if (part.filename.empty()) continue;
              ASSIGN_OR_RETURN(json::object p, pm.Add(part.data));
              return http::DataResponse(p);
            }
            return InvalidArgument("pm:add: the upload has no file part");
          }
          std::string path;
          if (auto it = req.params.find("path");
              it != req.params.end() && it->value().is_string()) {
            path = std::string(it->value().as_string());
          } else if (req.body.is_object() && req.body.as_object().contains("path") &&
                     req.body.at("path").is_string()) {
            path = std::string(req.body.at("path").as_string());
          }
          if (path.empty()) {
            return InvalidArgument(
                "pm:add needs a package: upload it as multipart/form-data or give "
                "{\"path\": \"<file on the server>\"}");
          }
          ASSIGN_OR_RETURN(json::object p, pm.AddFromStorage(path));
          return http::DataResponse(p);
        }));
  r.Add("pm", "enable", Configure([&pm](api::ActionRequest& req) -> Result<http::Response> {
          ASSIGN_OR_RETURN(std::string name, Name(req));
          ASSIGN_OR_RETURN(json::object p, pm.Enable(name));
          return http::DataResponse(p);
        }));
  r.Add("pm", "disable", Configure([&pm](api::ActionRequest& req) -> Result<http::Response> {
          ASSIGN_OR_RETURN(std::string name, Name(req));
          ASSIGN_OR_RETURN(json::object p, pm.Disable(name));
          return http::DataResponse(p);
        }));
  r.Add("pm", "upgrade", Configure([&pm](api::ActionRequest& req) -> Result<http::Response> {
          ASSIGN_OR_RETURN(std::string name, Name(req));
          ASSIGN_OR_RETURN(json::object p, pm.Upgrade(name));
          return http::DataResponse(p);
        }));
  r.Add("pm", "remove", Configure([&pm](api::ActionRequest& req) -> Result<http::Response> {
          ASSIGN_OR_RETURN(std::string name, Name(req));
          RETURN_IF_ERROR(pm.Remove(name, Flag(req, "purge")));
          return http::DataResponse(nullptr);
        }));
  // Plugin settings: {"options": {"key": value}} with keys the plugin declared.
  r.Add("pm", "update", Configure([&pm](api::ActionRequest& req) -> Result<http::Response> {
          ASSIGN_OR_RETURN(std::string name, Name(req));
          if (!req.body.is_object() || !req.body.as_object().contains("options") ||
              !req.body.at("options").is_object()) {
            return InvalidArgument("pm:update expects {\"options\": {...}}");
          }
          ASSIGN_OR_RETURN(json::object p,
                           pm.UpdateSettings(name, req.body.at("options").as_object()));
          return http::DataResponse(p);
        }));
}

}  // namespace slipway::plugins
