#include "db/sql.h"

namespace slipway::db {

std::string SqlNow(Dialect dialect) {
  return dialect == Dialect::kPostgres ? "date_trunc('milliseconds', now())"
                                       : "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
}

std::string SqlNowMillis(Dialect dialect) {
  return dialect == Dialect::kPostgres
             ? "CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)"
             : "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
}

}  // namespace slipway::db
