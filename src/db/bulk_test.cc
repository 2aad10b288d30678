#include "db/bulk.h"

#include <gtest/gtest.h>

namespace slipway::db {
namespace {

TEST(BulkTest, CopyTextEscapesWhatCopyReadsSpecially) {
  std::string out;
  for (const Value& v : {Value(Null()), Value(true), Value(false), Value(int64_t{-42}), Value(0.1),
                         Value(std::string("a\tb\nc\rd\\e ü"))}) {
    AppendCopyValue(&out, v);
    out.push_back('|');
  }
  EXPECT_EQ(out, "\\N|true|false|-42|0.1|a\\tb\\nc\\rd\\\\e ü|");
}

// The bytes of a field as hex, its length first.
std::string Hex(const std::string& bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string Field(BinaryType type, std::string_view text) {
  std::string out;
  if (!AppendBinaryText(&out, type, text)) return "refused";
  return Hex(out);
}

TEST(BulkTest, BinaryFieldsAreTheServersSendForms) {
  std::string header;
  AppendBinaryHeader(&header);
  EXPECT_EQ(Hex(header),
            "5047434f50590aff0d0a00"
            "0000000000000000");
  // Each field as the server's send function writes it, after its length (spaces for reading).
  struct Case {
    BinaryType type;
    const char* text;
    std::string want;  // "refused": not a value of the type
  };
  const std::vector<Case> cases = {
      // numeric: ndigits, weight, sign, dscale, then base-10000 digits.
      {BinaryType::kNumeric, "0", "00000008 0000 0000 0000 0000"},
      {BinaryType::kNumeric, "-0.00", "00000008 0000 0000 0000 0002"},
      {BinaryType::kNumeric, "123.450", "0000000c 0002 0000 0000 0003 007b 1194"},
      {BinaryType::kNumeric, "10000", "0000000a 0001 0001 0000 0000 0001"},
      {BinaryType::kNumeric, "1e3", "0000000a 0001 0000 0000 0000 03e8"},
      {BinaryType::kNumeric, "-1.5e-3", "0000000a 0001 ffff 4000 0004 000f"},
      {BinaryType::kNumeric, "12345678.99", "0000000e 0003 0001 0000 0002 04d2 162e 26ac"},
      // timestamptz: microseconds since 2000-01-01 UTC.
      {BinaryType::kTimestamptz, "2000-01-01T00:00:00.000Z", "00000008 0000000000000000"},
      {BinaryType::kTimestamptz, "2000-01-02T00:00:00.001Z", "00000008 000000141dd763e8"},
      {BinaryType::kTimestamptz, "1999-12-31T23:59:59.999Z", "00000008 fffffffffffffc18"},
      {BinaryType::kJsonb, "{}", "00000003 01 7b7d"},
      {BinaryType::kText, "é", "00000002 c3a9"},
      {BinaryType::kInt4, "-2", "00000004 fffffffe"},
      {BinaryType::kInt8, "-2", "00000008 fffffffffffffffe"},
      {BinaryType::kInt4, "2147483648", "refused"},
      {BinaryType::kInt2, "40000", "refused"},
      {BinaryType::kTimestamptz, "2026-02-30T00:00:00.000Z", "refused"},
      {BinaryType::kTimestamptz, "2026-11-25 10:49:19", "refused"},
      {BinaryType::kTimestamptz, "2026-11-25", "refused"},
      {BinaryType::kTimestamptz, "2026-11-25T24:00:00.000Z", "refused"},
  };
  for (const Case& c : cases) {
    std::string want = c.want;
    std::erase(want, ' ');
    EXPECT_EQ(Field(c.type, c.text), want) << c.text;
  }
  for (const char* bad : {"", ".", "1.2.3", "abc", "NaN", "1e", "--1", "1e99999"}) {
    EXPECT_EQ(Field(BinaryType::kNumeric, bad), "refused") << bad;
  }
  std::string out = "kept";
  EXPECT_FALSE(AppendBinaryValue(&out, BinaryType::kInt8, Value(true)));
  EXPECT_FALSE(AppendBinaryValue(&out, BinaryType::kNumeric, Value(std::string("x"))));
  EXPECT_EQ(out, "kept");
  EXPECT_TRUE(AppendBinaryValue(&out, BinaryType::kFloat8, Value(1.0)));
  EXPECT_TRUE(AppendBinaryValue(&out, BinaryType::kBool, Value(true)));
  AppendBinaryNull(&out);
  std::string want = "00000008 3ff0000000000000 00000001 01 ffffffff";
  std::erase(want, ' ');
  EXPECT_EQ(Hex(out.substr(4)), want);
  EXPECT_EQ(BinaryTypeOf("timestamp with time zone"), BinaryType::kTimestamptz);
  EXPECT_EQ(BinaryTypeOf("uuid"), std::nullopt);
}

}  // namespace
}  // namespace slipway::db
