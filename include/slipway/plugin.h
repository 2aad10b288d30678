// The plugin API: what a plugin (built in or loaded from a package) implements and what it may
// register. Versioned by kPluginApiVersion; a package whose manifest names another version is
// refused before its library is loaded.
//
// A Plugin is created once per process and version. Load() registers everything the plugin
// adds through the PluginContext: collections (NocoBase's JSON definitions), migrations, actions
// (resource:action handlers), record hooks, settings and a sync-message handler. Registrations
// take effect when the plugin is enabled and disappear when it is disabled, without a restart:
// they live in the application's snapshot, which is swapped atomically.
//
// Lifecycle hooks (all optional) run on the node that performs the change, each inside the
// change's transaction where one is named: AfterAdd, BeforeLoad, Load, Install (first enable,
// after the plugin's migrations), AfterEnable, AfterDisable, Remove, Upgrade (after a newer
// version's migrations). A hook that fails rolls the change back; the plugin is marked with the
// error and the application keeps serving.
//
// Threads: action handlers, record hooks and sync handlers run on database worker threads,
// several at once; a plugin guards its own mutable state. Exceptions must not escape a plugin:
// those that do are caught and reported as Internal errors.
//
// An external plugin is a shared library exporting two C symbols:
//   extern "C" int slipway_plugin_api_version();      // returns kPluginApiVersion
//   extern "C" slipway::Plugin* slipway_plugin_create();  // ownership passes to Slipway
// SLIPWAY_PLUGIN(ClassName) below defines both. A plugin library links no Slipway library: the
// few out-of-line functions of these headers (src/core/status.cc, src/db/database.cc) are
// resolved from the executable, which exports them (ENABLE_EXPORTS). Keep every out-of-line
// function of the public headers in those two files, which every executable links whole.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "slipway/database.h"
#include "slipway/status.h"

namespace slipway {

inline constexpr int kPluginApiVersion = 1;

// A change owned by a plugin (data, indexes, anything the collection sync does not do). Either
// SQL per dialect or code (`run`, with `revision` standing in for the code in the checksum).
// Runs once, inside the enable/upgrade transaction, after the plugin's tables were synced.
struct PluginMigration {
  std::string version;  // the plugin version that introduced it
  std::string name;     // unique within the plugin
  std::string sqlite_sql;
  std::string postgres_sql;
  std::function<Status(db::Connection&)> run;
  std::string revision;
};

// Who is calling, for actions and record hooks.
struct Caller {
  int64_t user_id = 0;  // 0: no user (the system)
  std::string role;
};

// What an action handler gets. Valid for the duration of the call.
class ActionContext {
 public:
  virtual ~ActionContext() = default;
  virtual std::string_view resource() const = 0;
  virtual std::string_view action() const = 0;
  // Query string parameters (qs notation), plus filterByTk from the path.
  virtual const boost::json::object& params() const = 0;
  // The JSON body, null when there is none.
  virtual const boost::json::value& body() const = 0;
  virtual std::string_view header(std::string_view lower_name) const = 0;
  virtual const Caller& caller() const = 0;
  // A connection for this request (borrowed from the pool on first use).
  virtual Result<db::Connection*> db() = 0;
  // This plugin's settings (see PluginContext::DeclareSetting).
  virtual boost::json::object settings() const = 0;
};

// Returns the `data` of NocoBase's envelope: {"data": <returned value>}.
using ActionHandler = std::function<Result<boost::json::value>(ActionContext&)>;

enum class Access {
  kOpen,       // anyone, signed in or not
  kSignedIn,   // any signed-in user
  kConfigure,  // a role that may configure the application
};

enum class RecordEvent {
  kBeforeCreate,
  kAfterCreate,
  kBeforeUpdate,
  kAfterUpdate,
  kBeforeDestroy,
  kAfterDestroy,
};

// One record write as a hook sees it, inside the write's transaction.
struct RecordChange {
  std::string_view collection;
  std::string_view primary_key;  // the name of the collection's primary key field
  RecordEvent event;
  // Before create/update: the values about to be written, which the hook may change.
  boost::json::object* values = nullptr;
  // Update/destroy: the record before the write. Create/update (after): the record after.
  const boost::json::object* before = nullptr;
  const boost::json::object* after = nullptr;
  Caller caller;
  db::Connection* connection = nullptr;  // the write's transaction
};

// A failing hook aborts the write (its transaction is rolled back) with the hook's Status.
using RecordHook = std::function<Status(RecordChange&)>;

class PluginContext {
 public:
  virtual ~PluginContext() = default;

  // The plugin's own name and version, and the application's version.
  virtual std::string_view plugin_name() const = 0;
  virtual std::string_view app_version() const = 0;

  // A collection defined in code, as NocoBase's collection JSON ({name, fields, ...}). Its table
  // is kept in step with the definition: created when missing, and given the columns of new
  // fields, each time the plugin is installed, enabled or upgraded (before its migrations).
  // Columns are never dropped or changed by this; use a migration for that.
  virtual Status AddCollection(const boost::json::object& definition) = 0;
  virtual void AddMigration(PluginMigration migration) = 0;
  virtual void AddAction(std::string resource, std::string action, ActionHandler handler,
                         Access access = Access::kSignedIn) = 0;
  // `collection` "*" means every collection. On PostgreSQL a hook may run in a fiber on an HTTP
  // thread (docs/architecture.md): use the connection it is given, do not block the thread
  // (sleeps, condition variables, long CPU work) and hold no mutex across a query.
  virtual void OnRecord(std::string collection, RecordEvent event, RecordHook hook) = 0;
  // A setting with its default; values live in the database and are changed with pm:update.
  virtual void DeclareSetting(std::string key, boost::json::value default_value) = 0;
  // Messages other nodes published for this plugin (the cluster's sync channel).
  virtual void OnSyncMessage(std::function<void(const boost::json::value& message)> handler) = 0;

  // Privileged registrations for plugins compiled into the binary (authentication, roles).
  // Null for plugins loaded from packages.
  virtual class BuiltinRegistrar* builtin() { return nullptr; }
};

class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual std::string_view name() const = 0;
  virtual std::string_view version() const = 0;

  virtual Status Load(PluginContext& ctx) = 0;

  // Lifecycle hooks; `conn` is the change's transaction.
  virtual Status AfterAdd(db::Connection& conn) { return Status::Ok(); }
  virtual Status BeforeLoad() { return Status::Ok(); }
  virtual Status Install(db::Connection& conn) { return Status::Ok(); }
  virtual Status AfterEnable(db::Connection& conn) { return Status::Ok(); }
  // Not called when the plugin is disabled through a node whose disk lacks its package (the
  // way out for a node that went out of service over it); keep it to best-effort cleanup.
  virtual Status AfterDisable(db::Connection& conn) { return Status::Ok(); }
  virtual Status Remove(db::Connection& conn) { return Status::Ok(); }
  virtual Status Upgrade(db::Connection& conn, std::string_view from_version) {
    return Status::Ok();
  }
};

}  // namespace slipway

// Defines the two entry points of an external plugin library for `PluginClass`.
#define SLIPWAY_PLUGIN(PluginClass)                                                              \
  extern "C" __attribute__((visibility("default"))) int slipway_plugin_api_version() {           \
    return ::slipway::kPluginApiVersion;                                                         \
  }                                                                                              \
  extern "C" __attribute__((visibility("default"))) ::slipway::Plugin* slipway_plugin_create() { \
    return new PluginClass();                                                                    \
  }
