#include "ops/row_io.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "data/values.h"

namespace slipway::ops {
namespace {

namespace json = boost::json;

data::Field MakeField(const std::string& type, json::object extra = {}) {
  extra["name"] = "v";
  extra["type"] = type;
  auto f = data::ParseFieldDefinition(extra, "things");
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? *f : data::Field{};
}

// What the full reading (a JSON document, then data::ToDbValue) gives for a cell's text.
std::optional<db::Value> FullValue(const data::Field& f, std::string_view text) {
  auto v = data::ToDbValue(f, json::parse(text), db::Dialect::kPostgres, "things.v");
  if (!v.ok()) return std::nullopt;
  return *v;
}

TEST(DumpLineTest, ReadsTheMembersOfARowAndRefusesWhatIsNotJson) {
  std::vector<std::pair<std::string_view, DumpCell>> m;
  ASSERT_TRUE(ReadDumpLine(
      R"({"id":1,"s":"a \"b\"","n":null,"j":{"k": [1, "x", {"e": 2}]},"t":true,"d":-0.5e3})", &m));
  ASSERT_EQ(m.size(), 6u);
  EXPECT_EQ(m[0].first, "id");
  EXPECT_EQ(m[0].second.text, "1");
  EXPECT_TRUE(m[0].second.plain);
  EXPECT_EQ(m[1].second.text, R"("a \"b\"")");
  EXPECT_FALSE(m[1].second.plain);  // escaped
  EXPECT_EQ(m[2].second.kind, 'n');
  EXPECT_EQ(m[3].second.text, R"({"k": [1, "x", {"e": 2}]})");
  EXPECT_TRUE(m[3].second.plain);
  EXPECT_EQ(m[4].second.kind, 't');
  EXPECT_FALSE(m[5].second.plain);  // an exponent
  EXPECT_TRUE(ReadDumpLine(" { } ", &m));
  EXPECT_TRUE(m.empty());
  for (const char* bad :
       {R"({"a":1,})", R"({"a":01})", R"({"a":1} x)", R"({"a":"x)", R"([1])", R"({"a\"b":1})",
        R"({"a":tru})", R"({"a":{"b":1})", "{\"a\":\"\x01\"}", R"({"a":1.})", R"({"a":-})", ""}) {
    EXPECT_FALSE(ReadDumpLine(bad, &m)) << bad;
  }
  ASSERT_TRUE(ReadDumpLine(R"({"j":{"s":"\u0000"},"k":[1e400]})", &m));
  EXPECT_FALSE(m[0].second.plain);  // \u: the full reading checks it for NUL
  EXPECT_FALSE(m[1].second.plain);  // an exponent: the full reading checks its range
  // Strings are read a word at a time: whatever ends or escapes one is found at every place
  // in a word, as JSON reads it.
  for (const std::string special :
       {"\\\"", "\\\\", "\\u00e9", "\"", "\x01", "\t", "\x7f", "\xc3\xa9", "\n"}) {
    for (size_t at = 0; at <= 20; ++at) {
      std::string text(20, 'a');
      text.insert(at, special);
      const std::string line = "{\"s\":\"" + text + "\",\"n\":1}";
      boost::system::error_code ec;
      json::parse(line, ec);
      const bool read = ReadDumpLine(line, &m);
      ASSERT_EQ(read, !ec) << line;
      if (!read) continue;
      ASSERT_EQ(m.size(), 2u) << line;
      EXPECT_EQ(m[0].second.text, line.substr(5, line.size() - 5 - 7)) << line;
      EXPECT_EQ(m[0].second.plain, special.front() != '\\') << line;
    }
  }
}

// Whatever the quick reading takes, it reads as the full one does; what it leaves, the full
// one reads (or refuses, naming the field).
// Cells of every kind, for each field type a dump holds.
std::vector<std::pair<data::Field, std::vector<std::string>>> Cells() {
  return {
      {MakeField("string"),
       {R"("plain")", R"("ünï ✓")", R"("a\\b\n\t\"c\"\r\/")", R"("\u00e9")", "12", "true", "null"}},
      {MakeField("text"), {R"("x")", R"("line\nline")"}},
      {MakeField("integer"),
       {"0", "-2147483648", "2147483647", "2147483648", "1.5", "1e3", R"("12")", "-0"}},
      {MakeField("bigInt"),
       {"9223372036854775807", "-9223372036854775808", "9223372036854775808", "12.0"}},
      {MakeField("boolean"), {"true", "false", "1", R"("true")"}},
      {MakeField("decimal", {{"precision", 10}, {"scale", 2}}),
       {R"("0.33")", R"("12345678.99")", R"("123456789.5")", "42", "0.5", R"("1e2")", R"("abc")",
        R"("-0.01")"}},
      {MakeField("date"),
       {R"("2026-01-02T03:04:05.678Z")", R"("2026-01-02T03:04:05+05:30")", R"("not a date")",
        R"("2026-02-30T00:00:00Z")", "1767322800000"}},
      {MakeField("uuid"), {R"("123e4567-e89b-12d3-a456-426614174000")"}},
      {MakeField("double"), {"3.25"}},
      {MakeField("json"),
       {R"({"a": [1, null, "x", {"b": false}], "é": 1.25})", "[]", "{\"k\":\t\"a\\\\b\"}",
        R"({"e": 1e5})", R"({"u": "\u00e9"})", R"("text")"}},
  };
}

TEST(DumpLineTest, AQuickValueIsWhatToDbValueGives) {
  const auto cases = Cells();
  // What a backup writes most, the quick reading takes (else it would be no quicker).
  const std::set<std::string> taken = {R"("plain")",
                                       R"("ünï ✓")",
                                       R"("a\\b\n\t\"c\"\r\/")",
                                       "0",
                                       "-2147483648",
                                       "9223372036854775807",
                                       "true",
                                       "false",
                                       R"("0.33")",
                                       "42",
                                       R"("2026-01-02T03:04:05.678Z")",
                                       "null"};
  std::set<std::string> took;
  for (const auto& [field, texts] : cases) {
    for (const std::string& text : texts) {
      std::vector<std::pair<std::string_view, DumpCell>> m;
      const std::string line = "{\"v\":" + text + "}";
      ASSERT_TRUE(ReadDumpLine(line, &m)) << line;
      std::optional<db::Value> quick = QuickDbValue(field, m[0].second, db::Dialect::kPostgres);
      if (!quick) continue;                                // left to the full reading
      if (field.type == data::FieldType::kJson) continue;  // below
      took.insert(text);
      std::optional<db::Value> full = FullValue(field, text);
      ASSERT_TRUE(full.has_value()) << data::FieldTypeName(field.type) << " " << text
                                    << ": the quick reading took what the full one refuses";
      if (field.type == data::FieldType::kDecimal) {
        // The same number (the full reading writes a JSON number back in its own notation).
        EXPECT_DOUBLE_EQ(std::stod(std::get<std::string>(*quick)),
                         std::stod(std::get<std::string>(*full)))
            << text;
      } else {
        EXPECT_EQ(*quick, *full) << data::FieldTypeName(field.type) << " " << text;
      }
    }
  }
  for (const std::string& text : taken) EXPECT_TRUE(took.count(text)) << text;
  // JSON objects and arrays go to PostgreSQL's jsonb as their text: the same document.
  data::Field j = MakeField("json");
  for (const std::string text : {R"({"a": [1, null, "x", {"b": false}], "é": 1.25})", "[]",
                                 R"([{"qty": 1, "sku": "c4"}])"}) {
    std::vector<std::pair<std::string_view, DumpCell>> m;
    const std::string line = "{\"v\":" + text + "}";
    ASSERT_TRUE(ReadDumpLine(line, &m));
    std::optional<db::Value> quick = QuickDbValue(j, m[0].second, db::Dialect::kPostgres);
    ASSERT_TRUE(quick.has_value()) << text;
    EXPECT_EQ(json::parse(std::get<std::string>(*quick)),
              json::parse(std::get<std::string>(*FullValue(j, text))));
    // SQLite stores JSON as the full reading writes it.
    EXPECT_FALSE(QuickDbValue(j, m[0].second, db::Dialect::kSqlite).has_value());
  }
}

// Written straight into COPY's text or binary format, a cell is what AppendCopyValue or
// AppendBinaryValue write of its quick value; what the quick reading leaves is not written.
TEST(DumpLineTest, AQuickCopyIsTheQuickValueAsCopyWritesIt) {
  const std::map<data::FieldType, db::BinaryType> column = {
      {data::FieldType::kString, db::BinaryType::kText},
      {data::FieldType::kText, db::BinaryType::kText},
      {data::FieldType::kInteger, db::BinaryType::kInt4},
      {data::FieldType::kBigInt, db::BinaryType::kInt8},
      {data::FieldType::kBoolean, db::BinaryType::kBool},
      {data::FieldType::kDecimal, db::BinaryType::kNumeric},
      {data::FieldType::kDate, db::BinaryType::kTimestamptz},
      {data::FieldType::kJson, db::BinaryType::kJsonb},
      {data::FieldType::kDouble, db::BinaryType::kFloat8}};
  int as_text = 0, as_binary = 0;
  for (const auto& [field, texts] : Cells()) {
    const auto type = column.find(field.type);
    for (const std::string& text : texts) {
      std::vector<std::pair<std::string_view, DumpCell>> m;
      const std::string line = "{\"v\":" + text + "}";
      ASSERT_TRUE(ReadDumpLine(line, &m)) << line;
      const std::string what = std::string(data::FieldTypeName(field.type)) + " " + text;
      std::optional<db::Value> quick = QuickDbValue(field, m[0].second, db::Dialect::kPostgres);
      std::string out = "before\t", want = "before\t";
      const bool took = AppendQuickCopy(field, m[0].second, &out);
      EXPECT_EQ(took, quick.has_value()) << what;
      if (quick) db::AppendCopyValue(&want, *quick);
      EXPECT_EQ(out, want) << what;
      as_text += took;
      if (type == column.end()) continue;
      out = want = "before";
      const bool binary = AppendQuickBinary(field, m[0].second, type->second, &out);
      EXPECT_EQ(binary, quick && db::AppendBinaryValue(&want, type->second, *quick)) << what;
      EXPECT_EQ(out, want) << what;
      as_binary += binary;
    }
  }
  EXPECT_GE(as_text, 20);  // of 46 cells
  EXPECT_GE(as_binary, 20);
}

}  // namespace
}  // namespace slipway::ops
