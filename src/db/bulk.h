// Bulk loading: a connection that can take many rows in one stream (PostgreSQL's COPY FROM
// STDIN, text format) implements BulkLoader; a caller finds it with dynamic_cast and falls back
// to multi-row INSERTs on other connections (SQLite, whose INSERTs are already local calls).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "db/database.h"

namespace slipway::db {

class BulkLoader {
 public:
  virtual ~BulkLoader() = default;
  // Starts `copy_sql` ("COPY t (a, b) FROM STDIN"); until EndCopy the connection takes nothing
  // else. Rows go in COPY's text format, one per line, columns separated by tabs
  // (AppendCopyValue), in slices of any size: the server loads them while the caller prepares
  // the next. Inside the caller's transaction, if any; errors as Query's (EndCopy reports what
  // the server refused).
  virtual Status BeginCopy(std::string_view copy_sql) = 0;
  virtual Status PutCopy(std::string_view rows) = 0;
  virtual Status EndCopy() = 0;
  // Ends an open COPY as failed (the server discards it), so that the transaction can roll back.
  virtual void AbortCopy() = 0;
};

// A connection that can stream a query's rows (PostgreSQL's COPY (query) TO STDOUT): the server
// produces rows while the caller works on the ones before, with no page queries in between.
class BulkReader {
 public:
  virtual ~BulkReader() = default;
  // Starts streaming `select_sql` (no parameters); until the last rows were read the connection
  // takes nothing else.
  virtual Status BeginCopyOut(std::string_view select_sql) = 0;
  // The next rows, about `max_bytes` of them, read as Query's rows would be (same kinds, same
  // conversions); an empty set once every row was read and the statement finished.
  virtual Result<std::unique_ptr<ResultSet>> NextCopyRows(size_t max_bytes) = 0;
};

// Appends `value` in COPY's text format: \N for NULL, backslash, tab, newline and carriage return
// escaped; booleans and numbers as the connection sends them as parameters.
void AppendCopyValue(std::string* out, const Value& value);
// A text value's part of it.
void AppendCopyText(std::string* out, std::string_view text);

// COPY's binary format (PostgreSQL, "COPY ... (FORMAT binary)"): a header, then each row as its
// field count and each field's length and bytes in its type's send form, then a trailer. The
// server reads it without parsing text: an integer, an instant or a decimal costs it a fraction
// of what its text does. The column types it is written for, by information_schema's
// data_type (lowercase); others load as text.
enum class BinaryType {
  kInt2,
  kInt4,
  kInt8,
  kBool,
  kText,
  kNumeric,
  kTimestamptz,
  kJsonb,
  kFloat8
};
std::optional<BinaryType> BinaryTypeOf(std::string_view data_type);
void AppendBinaryHeader(std::string* out);
void AppendBinaryTrailer(std::string* out);
void AppendBinaryFieldCount(std::string* out, size_t fields);
void AppendBinaryNull(std::string* out);
// A field of `type` from a value as the application writes it for that column (an integer, a
// boolean, a double, text; for kNumeric decimal digits, with a fraction or an exponent; for
// kTimestamptz an instant as data::NormalizeInstant gives it; for kJsonb JSON text). False,
// and `out` as it was, for a value that is not one of `type`.
bool AppendBinaryValue(std::string* out, BinaryType type, const Value& value);
bool AppendBinaryText(std::string* out, BinaryType type, std::string_view text);
bool AppendBinaryInt(std::string* out, BinaryType type, int64_t n);

}  // namespace slipway::db
