// The narrow interfaces between the application and its plugins (DESIGN section 5).
//
// A Plugin receives a PluginContext at load and registers through it: collections it defines
// in code, migrations, install hooks, actions, and callbacks after writes to a collection. An
// action receives an ActionRequest and the Services it may use; neither gives access to the
// Application object itself.
#pragma once

#include <boost/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/installer.h"
#include "app/snapshot.h"
#include "core/config.h"
#include "core/ids.h"
#include "data/schema_store.h"
#include "db/database.h"
#include "db/migration.h"
#include "http/message.h"
#include "http/router.h"

namespace slipway::app {

struct CurrentUser {
  int64_t id = 0;
  std::string role;                // the role this request acts as
  std::vector<std::string> roles;  // every role the user has
};

// A change to cluster-wide state: runs inside a transaction that also bumps the epoch, and
// returns the parts of the snapshot it replaced (null parts are kept).
struct SnapshotUpdate {
  std::shared_ptr<const data::Schema> schema;
  std::shared_ptr<const AclPolicy> acl;
};
using ChangeFn = std::function<Result<SnapshotUpdate>(db::Connection&, const Snapshot&)>;

// Runs inside a record write's transaction with the record as the API returns it.
using RecordHook = std::function<Status(db::Connection&, const boost::json::object& record)>;

// What actions may use. Thread-safe.
class Services {
 public:
  virtual ~Services() = default;
  virtual const core::Config& config() const = 0;
  virtual db::Pool& pool() = 0;
  virtual const data::SchemaStore& schema_store() const = 0;
  virtual Result<int64_t> NextSnowflake() = 0;
  virtual std::shared_ptr<const Snapshot> snapshot() const = 0;
  // Runs `change` with the epoch bump in one transaction, then publishes the new snapshot.
  virtual Status ApplyChange(const ChangeFn& change) = 0;
  // Tells the plugins that records of `collection` changed (after commit).
  virtual void CollectionChanged(std::string_view collection) = 0;
  // Re-reads schema and permissions from the database and publishes them (no epoch bump: use
  // after a change that bumped it itself).
  virtual Status ReloadSnapshot() = 0;
  // Hooks plugins registered for records created in `collection` (empty when none).
  virtual const std::vector<RecordHook>& AfterCreateHooks(std::string_view collection) const = 0;
};

struct ActionRequest {
  const http::Request& http;
  const http::Route& route;
  std::shared_ptr<const Snapshot> snapshot;
  boost::json::object params;  // query string parameters, plus filterByTk from the path
  boost::json::value body;     // the JSON body, null when there is none
  std::optional<CurrentUser> user;
  // Record actions: the permission scope ANDed with every filter (e.g. only the user's own
  // records for an ":own" permission); null when unrestricted.
  boost::json::value scope;
  Services& services;
};

using ActionFn = std::function<Result<http::Response>(ActionRequest&)>;

enum class RunsOn { kIoThread, kWorker };

enum class Access {
  kOpen,       // anyone: the health check, app:getInfo, auth:signIn
  kSignedIn,   // any signed-in user
  kConfigure,  // a role with allowConfigure (schema, roles, plugins)
  kRecords,    // record actions: the role's permission on the collection decides
};

struct Action {
  ActionFn fn;
  RunsOn runs_on = RunsOn::kWorker;
  Access access = Access::kSignedIn;
};

// Resolves a request's credentials. Implemented by the users plugin.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Unauthenticated with NocoBase's codes: EMPTY_TOKEN, INVALID_TOKEN, EXPIRED_TOKEN,
  // BLOCKED_TOKEN, NOT_EXIST_USER, ROLE_NOT_FOUND_FOR_USER.
  virtual Result<CurrentUser> Authenticate(const http::Request& request, db::Connection& conn) = 0;
};

// Fills in the roles of an authenticated user and picks the one this request acts as (the
// X-Role header, else the user's default role). Implemented by the acl plugin.
using RoleResolver =
    std::function<Status(CurrentUser& user, const http::Request& request, db::Connection& conn)>;

// Builds the permission policy from the database. Implemented by the acl plugin.
using AclLoader = std::function<Result<std::shared_ptr<const AclPolicy>>(db::Connection&)>;

using CollectionChangedFn = std::function<void(std::string_view collection)>;

class PluginContext {
 public:
  virtual ~PluginContext() = default;
  virtual void AddCollection(data::Collection collection) = 0;
  virtual void AddMigration(db::Migration migration) = 0;
  virtual void AddInstallHook(InstallHook hook) = 0;
  virtual void AddAction(const std::string& resource, const std::string& action, Action a) = 0;
  virtual void OnCollectionChanged(CollectionChangedFn fn) = 0;
  virtual void SetAuthenticator(std::shared_ptr<Authenticator> authenticator) = 0;
  virtual void SetAclLoader(AclLoader loader) = 0;
  virtual void SetRoleResolver(RoleResolver resolver) = 0;
  virtual void AddAfterCreateHook(const std::string& collection, RecordHook hook) = 0;
};

class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual std::string_view name() const = 0;
  // Registers everything; `services` may be kept for use by actions (not during Load).
  virtual Status Load(PluginContext& ctx, Services& services) = 0;
};

}  // namespace slipway::app
