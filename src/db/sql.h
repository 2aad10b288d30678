// SQL that differs between the dialects, written once.
#pragma once

#include <string>

#include "slipway/database.h"

namespace slipway::db {

// The current time as every Slipway table stores it, to the millisecond on both dialects (the
// precision of NocoBase's dates, of the API and of a backup; a microsecond a row was given here
// would not come back from a restore): PostgreSQL's now() cut to milliseconds into timestamptz;
// on SQLite, text in UTC ISO 8601 with milliseconds ("2026-11-30T17:03:05.123Z"), the form
// records' own timestamps take (data/values.h) and that SQLite's date functions read.
std::string SqlNow(Dialect dialect);

// The database's clock as Unix milliseconds (a BIGINT expression), for leases whose expiry the
// database judges (cluster/database/): PostgreSQL's now() (the start of the statement's
// transaction); SQLite's 'now' (fixed for the statement).
std::string SqlNowMillis(Dialect dialect);

}  // namespace slipway::db
