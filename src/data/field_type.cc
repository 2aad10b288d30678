#include "data/field_type.h"

#include <array>
#include <utility>

namespace slipway::data {
namespace {

constexpr std::array<std::pair<std::string_view, FieldType>, 25> kNames = {{
    {"string", FieldType::kString},
    {"text", FieldType::kText},
    {"integer", FieldType::kInteger},
    {"bigInt", FieldType::kBigInt},
    {"float", FieldType::kFloat},
    {"double", FieldType::kDouble},
    {"real", FieldType::kDouble},
    {"decimal", FieldType::kDecimal},
    {"boolean", FieldType::kBoolean},
    {"date", FieldType::kDate},
    {"datetime", FieldType::kDate},
    {"datetimeTz", FieldType::kDate},
    {"datetimeNoTz", FieldType::kDatetimeNoTz},
    {"dateOnly", FieldType::kDateOnly},
    {"time", FieldType::kTime},
    {"json", FieldType::kJson},
    {"jsonb", FieldType::kJson},
    {"uuid", FieldType::kUuid},
    {"snowflakeId", FieldType::kSnowflakeId},
    {"password", FieldType::kPassword},
    {"belongsTo", FieldType::kBelongsTo},
    {"hasMany", FieldType::kHasMany},
    {"hasOne", FieldType::kHasOne},
    {"belongsToMany", FieldType::kBelongsToMany},
    {"uid", FieldType::kString},
}};

}  // namespace

std::optional<FieldType> ParseFieldType(std::string_view name) {
  for (const auto& [n, t] : kNames) {
    if (n == name) return t;
  }
  return std::nullopt;
}

std::string_view FieldTypeName(FieldType type) {
  switch (type) {
    case FieldType::kString:
      return "string";
    case FieldType::kText:
      return "text";
    case FieldType::kInteger:
      return "integer";
    case FieldType::kBigInt:
      return "bigInt";
    case FieldType::kFloat:
      return "float";
    case FieldType::kDouble:
      return "double";
    case FieldType::kDecimal:
      return "decimal";
    case FieldType::kBoolean:
      return "boolean";
    case FieldType::kDate:
      return "date";
    case FieldType::kDatetimeNoTz:
      return "datetimeNoTz";
    case FieldType::kDateOnly:
      return "dateOnly";
    case FieldType::kTime:
      return "time";
    case FieldType::kJson:
      return "json";
    case FieldType::kUuid:
      return "uuid";
    case FieldType::kSnowflakeId:
      return "snowflakeId";
    case FieldType::kPassword:
      return "password";
    case FieldType::kBelongsTo:
      return "belongsTo";
    case FieldType::kHasMany:
      return "hasMany";
    case FieldType::kHasOne:
      return "hasOne";
    case FieldType::kBelongsToMany:
      return "belongsToMany";
  }
  return "string";
}

}  // namespace slipway::data
