// SQL that differs between the dialects, written once.
#pragma once

#include <string>

#include "slipway/database.h"

namespace slipway::db {

// The current time as every Slipway table stores it: PostgreSQL's now() into timestamptz; on
// SQLite, text in UTC ISO 8601 with milliseconds ("2026-11-30T17:03:05.123Z"), the form records'
// own timestamps take (data/values.h) and that SQLite's date functions read.
std::string SqlNow(Dialect dialect);

}  // namespace slipway::db
