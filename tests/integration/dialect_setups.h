// The setups a test of the data path runs on: SQLite, PostgreSQL as configured by default
// (record actions in fibers, reads through the pipeline), and PostgreSQL with DB_FIBER_POOL=0
// (everything on worker threads).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "db/database.h"

namespace slipway::testing {

struct Setup {
  db::Dialect dialect;
  bool fibers;
};

inline constexpr Setup kSetups[] = {
    {db::Dialect::kSqlite, false}, {db::Dialect::kPostgres, true}, {db::Dialect::kPostgres, false}};

inline std::string SetupName(const ::testing::TestParamInfo<Setup>& info) {
  if (info.param.dialect == db::Dialect::kSqlite) return "Sqlite";
  return info.param.fibers ? "Postgres" : "PostgresOnWorkers";
}

}  // namespace slipway::testing
