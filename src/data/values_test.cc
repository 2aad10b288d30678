#include "data/values.h"

#include <gtest/gtest.h>

namespace slipway::data {
namespace {

namespace json = boost::json;

Field Make(FieldType type) {
  Field f;
  f.name = "x";
  f.column = "x";
  f.type = type;
  return f;
}

TEST(ValuesTest, IntegersAcceptWholeNumbersAndNumericStrings) {
  Field f = Make(FieldType::kBigInt);
  EXPECT_EQ(std::get<int64_t>(*ToDbValue(f, json::value(42), db::Dialect::kSqlite, "t.x")), 42);
  EXPECT_EQ(std::get<int64_t>(*ToDbValue(f, json::value("-7"), db::Dialect::kSqlite, "t.x")), -7);
  EXPECT_EQ(std::get<int64_t>(*ToDbValue(f, json::value(3.0), db::Dialect::kSqlite, "t.x")), 3);
  for (json::value bad : {json::value(1.5), json::value("12a"), json::value(true),
                          json::value(1e48), json::value(-1e300)}) {
    auto r = ToDbValue(f, bad, db::Dialect::kSqlite, "t.x");
    ASSERT_FALSE(r.ok()) << json::serialize(bad);
    EXPECT_NE(r.status().message().find("'t.x'"), std::string::npos);
  }
  Field i32 = Make(FieldType::kInteger);
  EXPECT_FALSE(ToDbValue(i32, json::value(int64_t{1} << 40), db::Dialect::kSqlite, "t.x").ok());
}

TEST(ValuesTest, InstantsAreNormalizedToUtcMillis) {
  EXPECT_EQ(*NormalizeInstant("2026-11-25T10:49:19.5+02:00"), "2026-11-25T08:49:19.500Z");
  EXPECT_EQ(*NormalizeInstant("2026-11-25"), "2026-11-25T00:00:00.000Z");
  EXPECT_EQ(*NormalizeInstant("2026-11-25 10:49"), "2026-11-25T10:49:00.000Z");
  EXPECT_EQ(*NormalizeInstant("2024-02-29T23:59:59.999-00:30"), "2024-03-01T00:29:59.999Z");
  for (const char* bad :
       {"2026-02-30", "2026-13-01", "2026-11-25T25:00", "yesterday", "2026-11-25T10:49Zx"}) {
    EXPECT_FALSE(NormalizeInstant(bad).ok()) << bad;
  }
  Field date = Make(FieldType::kDate);
  EXPECT_EQ(std::get<std::string>(*ToDbValue(date, json::value(0), db::Dialect::kSqlite, "t.x")),
            "1970-01-01T00:00:00.000Z");
  // Epoch milliseconds outside years 1..9999 are refused, not overflowed.
  EXPECT_FALSE(ToDbValue(date, json::value(INT64_MAX), db::Dialect::kSqlite, "t.x").ok());
  EXPECT_FALSE(ToDbValue(date, json::value(INT64_MIN), db::Dialect::kSqlite, "t.x").ok());
}

TEST(ValuesTest, OtherTypesCheckTheirShape) {
  EXPECT_TRUE(ToDbValue(Make(FieldType::kUuid), json::value("123e4567-e89b-12d3-a456-426614174000"),
                        db::Dialect::kPostgres, "t.x")
                  .ok());
  EXPECT_FALSE(
      ToDbValue(Make(FieldType::kUuid), json::value("123"), db::Dialect::kPostgres, "t.x").ok());
  EXPECT_FALSE(
      ToDbValue(Make(FieldType::kBoolean), json::value("yes"), db::Dialect::kSqlite, "t.x").ok());
  EXPECT_FALSE(
      ToDbValue(Make(FieldType::kDateOnly), json::value("2026-02-29"), db::Dialect::kSqlite, "t.x")
          .ok());
  EXPECT_FALSE(
      ToDbValue(Make(FieldType::kTime), json::value("7:05"), db::Dialect::kSqlite, "t.x").ok());
  EXPECT_EQ(std::get<std::string>(*ToDbValue(Make(FieldType::kTime), json::value("07:05"),
                                             db::Dialect::kSqlite, "t.x")),
            "07:05:00");
}

}  // namespace
}  // namespace slipway::data
