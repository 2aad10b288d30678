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
// Lifecycle hooks (all optional) run on the node that performs the change, on the thread that
// performs it (a database worker for a pm:* request, the main thread for the CLI and start-up),
// each inside the change's transaction where it takes a connection: AfterAdd, Install (first
// enable, after the plugin's migrations), AfterEnable, AfterDisable, Remove, Upgrade (after a
// newer version's migrations). BeforeLoad and Load run once per process and plugin version,
// when the plugin is first loaded (start-up, pm:add, or a reload after another node's change),
// with no transaction. A hook that fails or throws rolls the change back; the plugin is marked
// with the error and the application keeps serving. Hooks may run again for the same plugin
// (a change retried after a failure, a disable then an enable): make them idempotent.
//
// Threads, and what a failure does:
//   - action handlers: database worker threads, several at once. A failing Status is the
//     response's error; an exception becomes 500 INTERNAL naming the plugin and the action.
//   - record hooks: inside the write's transaction, on a database worker thread or, on
//     PostgreSQL, in a fiber on an HTTP I/O thread (see OnRecord). A failure rolls the write back
//     and is the response's error.
//   - sync handlers: the cluster's sync thread, one message at a time. Delivery is at most once
//     (a node that was cut off from Redis misses what was published meanwhile): treat a message
//     as a hint and keep the state in the database. A throw is logged; the next handler runs.
// A plugin guards its own mutable state. No exception escapes into Slipway: each one is caught
// at the call and reported as an Internal error naming the plugin.
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

// What Load() registers through. Every verb is called from Load() only, on the loading thread;
// none blocks or touches the database. A registration that is invalid (the cases below) does not
// throw: it is kept, and the load fails with it once Load() returns, naming the plugin. pm:add
// refuses such a package (400), and a plugin that fails to load is never enabled.
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
  // Fails (and returns the error) on a malformed definition or a name added twice.
  virtual Status AddCollection(const boost::json::object& definition) = 0;
  // Fails the load on: no name, a version that is not semantic, SQL and `run` both or neither,
  // a name added twice. `run` executes on the changing thread inside the change's transaction.
  virtual void AddMigration(PluginMigration migration) = 0;
  // A route `resource:action` under the API's base path. Handlers run on database worker
  // threads, several at once. A handler that returns an error makes the response's error; one
  // that throws gives 500 INTERNAL naming the plugin and the action. The same resource:action
  // added twice, an empty name or an empty handler fails the load. A plugin action replaces a
  // core action of the same name.
  virtual void AddAction(std::string resource, std::string action, ActionHandler handler,
                         Access access = Access::kSignedIn) = 0;
  // `collection` "*" means every collection; several hooks on one event run in the order they
  // were added, the plugins' in load order. Hooks run inside the write's transaction, on a
  // database worker thread or, on PostgreSQL, in a fiber on an HTTP I/O thread
  // (docs/architecture.md): use the connection they are given, do not block the thread (sleeps,
  // condition variables, long CPU work) and hold no mutex across a query. A hook that fails or
  // throws rolls the write back and is the response's error. An empty collection or an empty
  // hook fails the load.
  virtual void OnRecord(std::string collection, RecordEvent event, RecordHook hook) = 0;
  // A setting with its default; values live in the database and are changed with pm:update.
  // A key declared twice, or an empty key, fails the load.
  virtual void DeclareSetting(std::string key, boost::json::value default_value) = 0;
  // Messages other nodes published for this plugin (the cluster's sync channel), delivered on
  // the sync thread one at a time, at most once. Several handlers all get each message; an empty
  // handler fails the load; a handler that throws is logged and the others still run.
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
