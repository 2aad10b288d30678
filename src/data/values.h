// Values crossing the API: request JSON to a bound database value for a field, and a result
// cell back to JSON, with the same rules on both dialects.
//
// Input is checked against the field's type and refused with InvalidArgument naming the field
// ("field 'posts.score' expects an integer, got \"abc\""). Numbers given as strings are accepted
// for numeric fields (forms send strings); instants are normalized to UTC ISO 8601 with
// milliseconds ("2026-11-25T10:49:19.123Z") so that they compare and sort as text on SQLite and
// parse on PostgreSQL. Output writes JSON straight into the response buffer.
#pragma once

#include <boost/json.hpp>
#include <string>

#include "data/schema.h"
#include "db/database.h"

namespace slipway::data {

// `what` names the field in messages, e.g. "posts.score".
Result<db::Value> ToDbValue(const Field& field, const boost::json::value& v, db::Dialect dialect,
                            std::string_view what);

// InvalidArgument naming `what` when `v` holds what no dialect stores as given: a NUL character
// in a string (or an object's key), or a number that is not finite.
Status CheckStorable(const boost::json::value& v, std::string_view what);

// Parses ISO 8601 ("2026-11-25", "2026-11-25T10:49", "2026-11-25T10:49:19.5+02:00", ...) or
// epoch milliseconds into "YYYY-MM-DDTHH:MM:SS.mmmZ".
Result<std::string> NormalizeInstant(std::string_view text);
// Whether a decimal's text (digits, a point, an exponent) fits decimal(precision, scale): at most
// precision - scale digits before the point once rounded to `scale` digits after it, as
// PostgreSQL's numeric rounds (exact, where a double would round 99999999999999.999999 up).
bool FitsDecimal(std::string_view text, int precision, int scale);
// Whether `text` is an instant as NormalizeInstant gives it (2026-11-25T10:49:19.000Z, a date
// that exists): then NormalizeInstant gives it back as it is.
bool IsStoredInstant(std::string_view text);
std::string NowInstant();  // the current time in the same form
std::string InstantFromUnixMillis(int64_t ms);

// Appends the JSON for cell (row, col) of a field of this type. Hidden fields are the caller's
// concern (they are never selected).
void AppendCellJson(std::string* out, const Field& field, const db::ResultSet& rs, int row,
                    int col);

// Reads a cell as the JSON value a client would get (used where a value is needed as an
// object, e.g. to compare or to feed hooks).
boost::json::value CellToJson(const Field& field, const db::ResultSet& rs, int row, int col);

}  // namespace slipway::data
