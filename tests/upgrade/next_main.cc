// A test-only Slipway of the next minor version, with one extra migration that creates a table
// and changes a core table. Built as `slipway-next`; with SLIPWAY_BROKEN_MIGRATION defined it is
// `slipway-next-broken`, whose second extra migration fails, so tests can check that the first
// one is rolled back with it.
#include "builtin.h"
#include "cli/main.h"
#include "core/build_info.h"

namespace {

slipway::db::Migration Sql(std::string name, std::string sql) {
  slipway::db::Migration m;
  m.owner = "core";
  m.version = SLIPWAY_NEXT_VERSION;
  m.name = std::move(name);
  m.sqlite_sql = sql;
  m.postgres_sql = sql;
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  slipway::app::Distribution dist;
  dist.build = {SLIPWAY_NEXT_VERSION, "test", "test"};
  dist.builtins = slipway::plugins::BuiltinPlugins;
  dist.extra_migrations.push_back(
      Sql("9001-upgrade-marker",
          "CREATE TABLE upgrade_marker (id INTEGER PRIMARY KEY, note TEXT);"
          "INSERT INTO upgrade_marker VALUES (1, 'added by the next version');"
          "ALTER TABLE slipway_plugins ADD COLUMN description TEXT;"));
#ifdef SLIPWAY_SLOW_MIGRATION
  // Slow enough to be killed in the middle of it (cluster tests: kill -9 during an upgrade).
  slipway::db::Migration slow = Sql("9003-slow", "");
  slow.sqlite_sql = "SELECT 1;";
  slow.postgres_sql = "SELECT pg_sleep(3);";
  dist.extra_migrations.push_back(slow);
#endif
#ifdef SLIPWAY_BROKEN_MIGRATION
  dist.extra_migrations.push_back(Sql("9002-broken", "INSERT INTO no_such_table VALUES (1);"));
#endif
  return slipway::cli::Main(argc, argv, dist);
}
