// The field types a collection may have, named as NocoBase names them, with what each means
// for storage on both dialects.
#pragma once

#include <optional>
#include <string_view>

namespace slipway::data {

enum class FieldType {
  kString,         // "string": VARCHAR(length) / TEXT
  kText,           // "text"
  kInteger,        // "integer": 32-bit
  kBigInt,         // "bigInt": 64-bit
  kFloat,          // "float"
  kDouble,         // "double" (also "real")
  kDecimal,        // "decimal": exact; read back as a string
  kBoolean,        // "boolean"
  kDate,           // "date", "datetime", "datetimeTz": an instant, ISO 8601 in UTC
  kDatetimeNoTz,   // "datetimeNoTz": wall-clock date and time
  kDateOnly,       // "dateOnly": YYYY-MM-DD
  kTime,           // "time": HH:MM:SS
  kJson,           // "json", "jsonb"
  kUuid,           // "uuid": generated when not given
  kSnowflakeId,    // "snowflakeId": 64-bit, generated when not given
  kPassword,       // "password": stored as an Argon2id hash, never returned
  kBelongsTo,      // relation: a foreign key column on this collection
  kHasMany,        // relation: a foreign key column on the target collection
  kHasOne,         // relation: as hasMany, at most one target record
  kBelongsToMany,  // relation: a join ("through") table with a key to each side
};

std::optional<FieldType> ParseFieldType(std::string_view name);
std::string_view FieldTypeName(FieldType type);

inline bool IsRelation(FieldType t) {
  return t == FieldType::kBelongsTo || t == FieldType::kHasMany || t == FieldType::kHasOne ||
         t == FieldType::kBelongsToMany;
}
// Relations whose foreign key is a column of the target collection.
inline bool KeyOnTarget(FieldType t) { return t == FieldType::kHasMany || t == FieldType::kHasOne; }
// Relations that hold a list of target records (an array in records, add/remove/set).
inline bool IsToMany(FieldType t) {
  return t == FieldType::kHasMany || t == FieldType::kBelongsToMany;
}
inline bool IsIntegral(FieldType t) {
  return t == FieldType::kInteger || t == FieldType::kBigInt || t == FieldType::kSnowflakeId;
}
inline bool IsNumeric(FieldType t) {
  return IsIntegral(t) || t == FieldType::kFloat || t == FieldType::kDouble ||
         t == FieldType::kDecimal;
}
inline bool IsTextual(FieldType t) {
  return t == FieldType::kString || t == FieldType::kText || t == FieldType::kUuid;
}
inline bool IsTemporal(FieldType t) {
  return t == FieldType::kDate || t == FieldType::kDatetimeNoTz || t == FieldType::kDateOnly ||
         t == FieldType::kTime;
}

}  // namespace slipway::data
