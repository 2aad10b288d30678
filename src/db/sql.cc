#include "db/sql.h"

namespace slipway::db {

std::string SqlNow(Dialect dialect) {
  return dialect == Dialect::kPostgres ? "now()" : "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
}

}  // namespace slipway::db
