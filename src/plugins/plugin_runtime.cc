#include "plugins/plugin_runtime.h"

#include <exception>
#include <optional>

#include "core/guard.h"
#include "core/semver.h"
#include "data/ddl.h"
#include "db/database.h"
#include "http/error_response.h"

namespace slipway::plugins {
namespace json = boost::json;

Status GuardPlugin(std::string_view plugin, std::string_view what,
                   const std::function<Status()>& fn) {
  return core::Guard("plugin '" + std::string(plugin) + "'", what, fn);
}

namespace {

// What a public action handler sees of an internal request.
class ActionContextImpl final : public slipway::ActionContext {
 public:
  ActionContextImpl(api::ActionRequest& req, const PluginRuntime& runtime)
      : req_(req), runtime_(runtime) {
    if (req.user) caller_ = Caller{req.user->id, req.user->role};
  }
  std::string_view resource() const override { return req_.route.resource; }
  std::string_view action() const override { return req_.route.action; }
  const json::object& params() const override { return req_.params; }
  const json::value& body() const override { return req_.body; }
  std::string_view header(std::string_view lower_name) const override {
    return req_.http.header(lower_name);
  }
  const Caller& caller() const override { return caller_; }
  Result<db::Connection*> db() override {
    if (!conn_) {
      ASSIGN_OR_RETURN(db::PooledConnection c, req_.services.pool().Acquire());
      conn_.emplace(std::move(c));
    }
    return conn_->get();
  }
  json::object settings() const override {
    json::object out = runtime_.setting_defaults();
    auto it = req_.snapshot->settings.find(std::string(runtime_.name()));
    if (it != req_.snapshot->settings.end()) {
      for (const auto& kv : it->second) out[kv.key()] = kv.value();
    }
    return out;
  }

 private:
  api::ActionRequest& req_;
  const PluginRuntime& runtime_;
  Caller caller_;
  std::optional<db::PooledConnection> conn_;
};

api::Access MapAccess(slipway::Access a) {
  switch (a) {
    case slipway::Access::kOpen:
      return api::Access::kOpen;
    case slipway::Access::kSignedIn:
      return api::Access::kSignedIn;
    case slipway::Access::kConfigure:
      return api::Access::kConfigure;
  }
  return api::Access::kSignedIn;
}

}  // namespace

PluginRuntime::PluginRuntime(std::unique_ptr<slipway::Plugin> plugin, std::shared_ptr<void> library,
                             bool built_in, std::string app_version, api::Services& services)
    : plugin_(std::move(plugin)),
      library_(std::move(library)),
      built_in_(built_in),
      app_version_(std::move(app_version)),
      services_(services),
      name_(plugin_->name()),
      // A built-in plugin is part of the binary: its version is the application's.
      version_(built_in ? app_version_ : std::string(plugin_->version())) {}

// The plugin object is destroyed before the library that holds its code.
PluginRuntime::~PluginRuntime() { plugin_.reset(); }

Status PluginRuntime::LoadRegistrations() {
  if (loaded_) return Status::Ok();
  RETURN_IF_ERROR(GuardPlugin(name_, "BeforeLoad", [&] { return plugin_->BeforeLoad(); }));
  RETURN_IF_ERROR(GuardPlugin(name_, "Load", [&] { return plugin_->Load(*this); }));
  if (!registration_error_.ok()) return registration_error_.WithContext("plugin '" + name_ + "'");
  loaded_ = true;
  return Status::Ok();
}

void PluginRuntime::Refuse(Status why) {
  if (registration_error_.ok()) registration_error_ = std::move(why);
}

Status PluginRuntime::AddCollection(const json::object& definition) {
  auto c = data::ParseCollectionDefinition(definition, /*users_exists=*/true);
  if (!c.ok()) {
    Refuse(c.status());
    return c.status();
  }
  for (const data::Collection& existing : collections_) {
    if (existing.name == c->name) {
      Status dup = InvalidArgument("collection '" + c->name + "' is added twice");
      Refuse(dup);
      return dup;
    }
  }
  c->origin = name_;
  collections_.push_back(std::move(c).value());
  return Status::Ok();
}

std::vector<db::Migration> PluginRuntime::migrations() const {
  std::vector<db::Migration> out;
  if (!collections_.empty()) {
    db::Migration sync;
    sync.owner = name_;
    sync.version = "0.0.0";  // before every migration of the plugin
    sync.name = "0000-sync-collections";
    sync.repeatable = true;
    sync.run = [collections = collections_](db::Connection& conn) -> Status {
      std::map<std::string, std::shared_ptr<const data::Collection>> own;
      for (const auto& c : collections) own[c.name] = std::make_shared<const data::Collection>(c);
      data::Schema schema(std::move(own));
      for (const auto& c : collections) RETURN_IF_ERROR(data::SyncTable(conn, c, schema));
      return Status::Ok();
    };
    out.push_back(std::move(sync));
  }
  for (const auto& m : migrations_) out.push_back(m);
  return out;
}

void PluginRuntime::AddMigration(PluginMigration migration) {
  const std::string what = "migration '" + migration.name + "'";
  if (migration.name.empty()) return Refuse(InvalidArgument("a migration has no name"));
  if (!core::SemVer::Parse(migration.version).ok()) {
    return Refuse(InvalidArgument(what + " has no valid version ('" + migration.version +
                                  "'); give the plugin version that introduced it"));
  }
  const bool has_sql = !migration.sqlite_sql.empty() || !migration.postgres_sql.empty();
  if (has_sql == static_cast<bool>(migration.run)) {
    return Refuse(InvalidArgument(what + " needs either SQL or a run function, not " +
                                  (has_sql ? "both" : "neither")));
  }
  for (const db::Migration& existing : migrations_) {
    if (existing.name == migration.name) return Refuse(InvalidArgument(what + " is added twice"));
  }
  db::Migration m;
  m.owner = name_;
  m.version = std::move(migration.version);
  m.name = std::move(migration.name);
  m.sqlite_sql = std::move(migration.sqlite_sql);
  m.postgres_sql = std::move(migration.postgres_sql);
  m.revision = std::move(migration.revision);
  if (migration.run) {
    m.run = [name = name_, run = std::move(migration.run)](db::Connection& conn) {
      return GuardPlugin(name, "migration", [&] { return run(conn); });
    };
  }
  migrations_.push_back(std::move(m));
}

void PluginRuntime::AddAction(std::string resource, std::string action, ActionHandler handler,
                              slipway::Access access) {
  if (resource.empty() || action.empty() || !handler) {
    return Refuse(InvalidArgument("action '" + resource + ":" + action +
                                  "' needs a resource, an action name and a handler"));
  }
  api::Action a;
  a.access = MapAccess(access);
  a.runs_on = api::RunsOn::kWorker;
  // NocoBase's convention: a plugin's own configuration permission is "pm.<plugin>".
  if (a.access == api::Access::kConfigure) a.snippet = "pm." + name_;
  a.safe = true;  // a plugin action may answer GET, as NocoBase's custom actions do
  a.fn = [this, handler = std::move(handler)](api::ActionRequest& req) -> Result<http::Response> {
    ActionContextImpl ctx(req, *this);
    json::value data;
    RETURN_IF_ERROR(GuardPlugin(name_, "action " + req.route.Key(), [&]() -> Status {
      ASSIGN_OR_RETURN(data, handler(ctx));
      return Status::Ok();
    }));
    return http::DataResponse(data);
  };
  AddInternalAction(resource, action, std::move(a));
}

void PluginRuntime::AddInternalAction(const std::string& resource, const std::string& action,
                                      api::Action a) {
  for (const ActionReg& r : actions_) {
    if (r.resource == resource && r.action == action) {
      return Refuse(InvalidArgument("action '" + resource + ":" + action + "' is added twice"));
    }
  }
  actions_.push_back({resource, action, std::move(a)});
}

void PluginRuntime::OnRecord(std::string collection, RecordEvent event, RecordHook hook) {
  if (collection.empty() || !hook) {
    return Refuse(InvalidArgument("a record hook needs a collection (or \"*\") and a function"));
  }
  hooks_.push_back({std::move(collection), event, std::move(hook)});
}

void PluginRuntime::DeclareSetting(std::string key, json::value default_value) {
  if (key.empty()) return Refuse(InvalidArgument("a setting has no key"));
  if (settings_.contains(key)) {
    return Refuse(InvalidArgument("setting '" + key + "' is declared twice"));
  }
  settings_[key] = std::move(default_value);
}

void PluginRuntime::OnSyncMessage(std::function<void(const json::value&)> handler) {
  if (!handler) return Refuse(InvalidArgument("a sync handler is empty"));
  sync_handlers_.push_back(std::move(handler));
}

void PluginRuntime::SetAuthenticator(std::shared_ptr<api::Authenticator> authenticator) {
  authenticator_ = std::move(authenticator);
}

void PluginRuntime::GovernCollection(const std::string& collection, const std::string& snippet) {
  governed_[collection] = snippet;
}

void PluginRuntime::MarkClusterConfig(const std::string& collection) {
  for (data::Collection& c : collections_) {
    if (c.name == collection) c.cluster_config = true;
  }
}

}  // namespace slipway::plugins
