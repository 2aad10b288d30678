// Keyset pagination: a list's `cursor` names the last record of the page before by the values of
// its sort keys, and the next page is the records after it in the same order. A page deep in a
// large table then costs what the first one does (an index on the sort reaches it directly),
// where `page=N` reads and throws away every row before it.
//
// A cursor is opaque to clients: base64url of a JSON array, the sort it was made for ("-price,id")
// then the values of the sort keys (the primary key last, which breaks ties, so a cursor names
// exactly one position). Values are carried as the database returned them and bound back as
// parameters, so a timestamp keeps its microseconds and a decimal its digits.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "data/filter.h"
#include "data/read_spec.h"
#include "db/database.h"

namespace slipway::data {

// The sort as a cursor names it: "-createdAt,id".
std::string SortSignature(const std::vector<SortKey>& sort);

// The cursor after row `row` of `rs`, whose sort key values are the columns from `first_col` on,
// in the order of `sort`.
std::string EncodeCursor(const std::vector<SortKey>& sort, const db::ResultSet& rs, int row,
                         int first_col);

// The values a cursor carries; InvalidArgument when it is not one, or was made for another sort.
Result<std::vector<db::Value>> DecodeCursor(std::string_view cursor,
                                            const std::vector<SortKey>& sort);

// The condition "after the cursor's record" in the order of `sort` (as Repository::SelectSql
// orders: NULL after every value ascending, before every value descending), with a redundant
// bound on the first key where one holds, which an index on that key can seek to.
std::string AfterCursorSql(const std::vector<SortKey>& sort, const std::vector<db::Value>& values,
                           SqlParams* params);

}  // namespace slipway::data
