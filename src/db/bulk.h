// Bulk loading: a connection that can take many rows in one stream (PostgreSQL's COPY FROM
// STDIN, text format) implements BulkLoader; a caller finds it with dynamic_cast and falls back
// to multi-row INSERTs on other connections (SQLite, whose INSERTs are already local calls).
#pragma once

#include <string>
#include <string_view>

#include "db/database.h"

namespace slipway::db {

class BulkLoader {
 public:
  virtual ~BulkLoader() = default;
  // Runs `copy_sql` ("COPY t (a, b) FROM STDIN") and sends `rows`: COPY's text format, one row
  // per line, columns separated by tabs (AppendCopyValue). Inside the caller's transaction, if
  // any; errors as Query's.
  virtual Status CopyIn(std::string_view copy_sql, std::string_view rows) = 0;
};

// Appends `value` in COPY's text format: \N for NULL, backslash, tab, newline and carriage return
// escaped; booleans and numbers as the connection sends them as parameters.
void AppendCopyValue(std::string* out, const Value& value);

}  // namespace slipway::db
