// "hello": the example external plugin. Copy this folder to start your own.
//
// An external plugin is a shared library plus a manifest.json, packed as a .tgz (see
// CMakeLists.txt beside this file). It may include only Slipway's public headers
// (include/slipway/*.h) and Boost.JSON, and links no Slipway library: the few out-of-line
// functions of those headers it calls are found in the running server at load time.
//
// What it shows, one registration of each kind:
//   - a collection, `hello_notes` {text: string, done: boolean}, defined in code, with the
//     migration that creates its table;
//   - an action, `hello:ping`, that reads the database with a parameterized query;
//   - a setting, `greeting`, with its default;
//   - a record hook that cleans up `text` before a note is created.
//
// This one file builds three versions (HELLO_VERSION_MAJOR 1, 2, 3) so that Slipway's tests can
// upgrade a plugin: 2.0.0 adds a `priority` field and the migration adding its column; 3.0.0 adds
// a migration that fails halfway, to check that a failed upgrade is rolled back.
#include <boost/json.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "slipway/database.h"
#include "slipway/plugin.h"
#include "slipway/status.h"

#ifndef HELLO_VERSION
#error "build with -DHELLO_VERSION=\"x.y.z\" and -DHELLO_VERSION_MAJOR=x (see CMakeLists.txt)"
#endif

namespace hello {
namespace {

namespace json = boost::json;

// NocoBase's collection JSON. Fields added by a later version need a migration of their own:
// the create-table migration of 1.0.0 has already run on installations that upgrade.
json::object NotesCollection() {
  json::array fields = {
      {{"name", "text"}, {"type", "string"}, {"interface", "input"}},
      {{"name", "done"}, {"type", "boolean"}, {"interface", "checkbox"}},
  };
#if HELLO_VERSION_MAJOR >= 2
  fields.push_back({{"name", "priority"}, {"type", "integer"}, {"interface", "integer"}});
#endif
  return {{"name", "hello_notes"}, {"title", "Hello notes"}, {"fields", std::move(fields)}};
}

// hello:ping -> {"pong": true, "version": "...", "notes": <number of notes>}.
// `?done=true` or `?done=false` counts only the notes with that value.
slipway::Result<json::value> Ping(slipway::ActionContext& ctx) {
  // The connection belongs to the request: use it, do not keep it.
  ASSIGN_OR_RETURN(slipway::db::Connection * conn, ctx.db());
  std::string_view sql = R"(SELECT COUNT(*) FROM "hello_notes")";
  std::vector<slipway::db::Value> params;
  if (const json::value* done = ctx.params().if_contains("done")) {
    // Values are always bound as parameters ($1, $2, ... on SQLite and PostgreSQL alike), never
    // pasted into the SQL text. Query string values arrive as strings.
    sql = R"(SELECT COUNT(*) FROM "hello_notes" WHERE "done" = $1)";
    params.emplace_back(done->is_bool() ? done->as_bool()
                                        : done->is_string() && done->as_string() == "true");
  }
  auto rows = conn->Query(sql, params);
  if (!rows.ok()) return rows.status().WithContext("hello:ping");
  return json::value{{"pong", true}, {"version", HELLO_VERSION}, {"notes", (*rows)->Int(0, 0)}};
}

// Before a note is written: trim spaces and line breaks around its text.
slipway::Status TrimText(slipway::RecordChange& change) {
  if (change.values == nullptr) return slipway::Status::Ok();
  json::value* text = change.values->if_contains("text");
  if (text == nullptr || !text->is_string()) return slipway::Status::Ok();
  std::string s(text->as_string());
  const char* kSpace = " \t\r\n";
  size_t first = s.find_first_not_of(kSpace);
  size_t last = s.find_last_not_of(kSpace);
  *text = first == std::string::npos ? std::string() : s.substr(first, last - first + 1);
  return slipway::Status::Ok();
}

class HelloPlugin final : public slipway::Plugin {
 public:
  std::string_view name() const override { return "hello"; }
  std::string_view version() const override { return HELLO_VERSION; }

  slipway::Status Load(slipway::PluginContext& ctx) override {
    // Slipway creates the collection's table, and adds the columns of fields a newer version
    // defines, whenever the plugin is installed, enabled or upgraded.
    RETURN_IF_ERROR(ctx.AddCollection(NotesCollection()));
    // Migrations are for everything else (data changes, indexes, ...): each runs once, in
    // version order, inside the enable/upgrade transaction.
#if HELLO_VERSION_MAJOR >= 2
    // 2.0.0 adds the field `priority` (the sync adds its column); notes written before get 0.
    slipway::PluginMigration priority;
    priority.version = "2.0.0";
    priority.name = "0002-priority";
    priority.sqlite_sql = R"(UPDATE "hello_notes" SET "priority" = 0 WHERE "priority" IS NULL)";
    priority.postgres_sql = priority.sqlite_sql;
    ctx.AddMigration(std::move(priority));
#endif
#if HELLO_VERSION_MAJOR >= 3
    // Deliberately broken, for Slipway's tests: creates a table, then fails. The upgrade must
    // roll back both (no hello_tmp afterwards) and leave 2.0.0 serving.
    slipway::PluginMigration broken;
    broken.version = "3.0.0";
    broken.name = "0003-broken";
    broken.sqlite_sql = R"(CREATE TABLE "hello_tmp" ("id" INTEGER);
                           INSERT INTO "hello_no_such_table" ("id") VALUES (1);)";
    broken.postgres_sql = broken.sqlite_sql;
    ctx.AddMigration(std::move(broken));
#endif
    ctx.AddAction("hello", "ping", Ping, slipway::Access::kSignedIn);
    // Read with ActionContext::settings(); changed with pm:update.
    ctx.DeclareSetting("greeting", "hello");
    ctx.OnRecord("hello_notes", slipway::RecordEvent::kBeforeCreate, TrimText);
    return slipway::Status::Ok();
  }
};

}  // namespace
}  // namespace hello

// The two C entry points Slipway looks for: slipway_plugin_api_version and slipway_plugin_create.
SLIPWAY_PLUGIN(hello::HelloPlugin)
