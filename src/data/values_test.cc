#include "data/values.h"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

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

TEST(ValuesTest, DecimalsFitByTheirDigitsAsPostgresRoundsThem) {
  struct Case {
    const char* text;
    int precision, scale;
    bool fits;
  };
  for (const Case& c : std::vector<Case>{{"99999999999999.999999", 20, 6, true},
                                         {"-99999999999999.999999", 20, 6, true},
                                         {"99999999999999.9999995", 20, 6, false},
                                         {"100000000000000", 20, 6, false},
                                         {"0.0000004", 20, 6, true},
                                         {"1e13", 20, 6, true},
                                         {"1E+14", 20, 6, false},
                                         {"9.99995e13", 20, 6, true},
                                         {"-1e-999999", 20, 6, true},
                                         {"99.95", 3, 1, false},
                                         {"99.94", 3, 1, true},
                                         {"0.5", 1, 0, true},
                                         {"9.5", 1, 0, false},
                                         {"000123.4", 4, 1, true},
                                         {".5", 1, 1, true},
                                         {"0", 1, 1, true},
                                         {"abc", 20, 6, false},
                                         {"1e", 20, 6, false},
                                         {"", 20, 6, false}}) {
    EXPECT_EQ(FitsDecimal(c.text, c.precision, c.scale), c.fits) << c.text;
  }
  Field dec = Make(FieldType::kDecimal);
  dec.precision = 20;
  dec.scale = 6;
  auto v = ToDbValue(dec, json::value("99999999999999.999999"), db::Dialect::kPostgres, "t.x");
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(std::get<std::string>(*v), "99999999999999.999999");
  EXPECT_FALSE(ToDbValue(dec, json::value("100000000000000"), db::Dialect::kPostgres, "t.x").ok());
  // SQLite keeps a decimal as a double, and that one would be 1e14: refused there.
  EXPECT_FALSE(
      ToDbValue(dec, json::value("99999999999999.999999"), db::Dialect::kSqlite, "t.x").ok());
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
  // Already in the stored form: kept as it is, every field still checked.
  for (const char* kept : {"2026-11-25T10:49:19.500Z", "2024-02-29T23:59:59.999Z",
                           "0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"}) {
    EXPECT_EQ(*NormalizeInstant(kept), kept);
  }
  for (const char* bad :
       {"2026-02-29T00:00:00.000Z", "2026-04-31T00:00:00.000Z", "2026-11-25T24:00:00.000Z",
        "2026-11-25T10:60:00.000Z", "2026-11-25T10:49:1x.000Z", "2026-11-25T10:49:19.00xZ"}) {
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

TEST(ValuesTest, WhatADialectWouldChangeIsRefused) {
  const db::Dialect dialects[] = {db::Dialect::kSqlite, db::Dialect::kPostgres};
  auto refused = [&](FieldType type, const json::value& v) {
    for (db::Dialect d : dialects) {
      auto r = ToDbValue(Make(type), v, d, "t.x");
      if (r.ok()) return false;
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(r.status().message().find("'t.x'"), std::string::npos) << r.status().message();
    }
    return true;
  };
  // PostgreSQL would cut a string at a NUL, or refuse it in JSON.
  const std::string nul("ab\0cd", 5);
  EXPECT_TRUE(refused(FieldType::kString, json::value(nul)));
  EXPECT_TRUE(refused(FieldType::kText, json::value(nul)));
  EXPECT_TRUE(refused(FieldType::kJson, json::object{{"k", nul}}));
  EXPECT_TRUE(refused(FieldType::kJson, json::object{{nul, 1}}));
  EXPECT_TRUE(refused(FieldType::kJson, json::array{1, json::array{nul}}));
  // Out of range: infinity and what the database's floating types cannot hold.
  const double inf = std::numeric_limits<double>::infinity();
  for (FieldType t : {FieldType::kDouble, FieldType::kFloat, FieldType::kDecimal}) {
    EXPECT_TRUE(refused(t, json::value(inf))) << FieldTypeName(t);
    EXPECT_TRUE(refused(t, json::value(-inf))) << FieldTypeName(t);
  }
  EXPECT_TRUE(refused(FieldType::kJson, json::object{{"k", inf}}));
  EXPECT_TRUE(refused(FieldType::kDouble, json::value(1e-320)));  // below float8's range
  EXPECT_TRUE(refused(FieldType::kFloat, json::value(1e39)));     // beyond real's
  EXPECT_TRUE(refused(FieldType::kFloat, json::value(1e-40)));
  EXPECT_TRUE(refused(FieldType::kString, json::value(inf)));
  // decimal(20, 2) holds less than 10^18.
  EXPECT_TRUE(refused(FieldType::kDecimal, json::value(1e18)));
  EXPECT_TRUE(refused(FieldType::kDecimal, json::value("123456789012345678901")));
  EXPECT_FALSE(refused(FieldType::kDecimal, json::value("999999999999999.99")));
  // What every dialect keeps exactly is accepted.
  EXPECT_FALSE(refused(FieldType::kDouble, json::value(1.7976931348623157e308)));
  EXPECT_FALSE(refused(FieldType::kFloat, json::value(3.0e38)));
  EXPECT_FALSE(refused(FieldType::kDouble, json::value(0.0)));
  EXPECT_FALSE(refused(FieldType::kString, json::value("ab\u00e9")));
}

TEST(ValuesTest, BoostReadsHugeNumbersAsInfinityWhichIsRefused) {
  // What a request body holding 1e400 becomes: the checks above are what refuse it.
  boost::system::error_code ec;
  json::value v = json::parse("[1e400, 1.8e308]", ec);
  if (ec) GTEST_SKIP() << "this Boost.JSON refuses such numbers itself: " << ec.message();
  for (const json::value& n : v.as_array()) {
    EXPECT_FALSE(ToDbValue(Make(FieldType::kDouble), n, db::Dialect::kSqlite, "t.x").ok());
  }
}

}  // namespace
}  // namespace slipway::data
