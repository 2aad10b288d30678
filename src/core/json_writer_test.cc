#include "core/json_writer.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstring>
#include <limits>
#include <utility>

namespace slipway::core {
namespace {

TEST(JsonWriterTest, WritesNestedValuesWithCommas) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("a").Int(1).Key("b").BeginArray().Bool(true).Null().Double(1.5).EndArray();
  w.Key("c").BeginObject().EndObject().Key("d").Raw("[1,2]").EndObject();
  EXPECT_EQ(out, R"({"a":1,"b":[true,null,1.5],"c":{},"d":[1,2]})");
}

TEST(JsonWriterTest, EscapesEveryControlCharacterAndRoundTrips) {
  std::string nasty = "q\"b\\s/\n\r\t\b\f";
  for (int c = 0; c < 0x20; ++c) nasty.push_back(static_cast<char>(c));
  nasty += "å✓";
  std::string out;
  JsonWriter(&out).BeginObject().Key(nasty).String(nasty).EndObject();
  auto parsed = boost::json::parse(out);
  ASSERT_TRUE(parsed.is_object());
  EXPECT_EQ(parsed.as_object().at(nasty).as_string(), nasty);
}

TEST(JsonWriterTest, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  struct Case {
    std::string in, out;
  } cases[] = {
      {"ok \xc3\xa5 \xe2\x9c\x93 \xf0\x9f\x98\x80", "ok \xc3\xa5 \xe2\x9c\x93 \xf0\x9f\x98\x80"},
      {"\xff:list", "\xef\xbf\xbd:list"},
      {"\xc3\x28", "\xef\xbf\xbd("},             // a lead byte without its continuation
      {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},  // overlong '/'
      {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},                  // a surrogate
      {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},  // > U+10FFFF
      {"end\xe2\x9c", "end\xef\xbf\xbd\xef\xbf\xbd"},                            // cut short
  };
  for (const Case& c : cases) {
    std::string out;
    AppendJsonString(&out, c.in);
    boost::system::error_code ec;
    auto parsed = boost::json::parse(out, ec);
    ASSERT_FALSE(ec) << out;
    EXPECT_EQ(parsed.as_string(), c.out);
  }
}

// Every byte value at every place of a word: a word is quiet exactly when none of its bytes
// needs escaping (or, for `ascii`, a look as the start of UTF-8).
TEST(JsonWriterTest, AWordIsQuietExactlyWhenNoByteOfItNeedsALook) {
  for (int b = 0; b < 256; ++b) {
    const bool loud = b == '"' || b == '\\' || b < 0x20;
    for (int at = 0; at < 8; ++at) {
      char word[8];
      std::memset(word, 'a', sizeof(word));
      word[at] = static_cast<char>(b);
      EXPECT_EQ(QuietJsonWord(word, /*ascii=*/false), !loud) << b << " at " << at;
      EXPECT_EQ(QuietJsonWord(word, /*ascii=*/true), !loud && b < 0x80) << b << " at " << at;
    }
  }
}

// Strings are scanned a word at a time: whatever needs escaping is found wherever it stands.
TEST(JsonWriterTest, EscapesWhatNeedsItAtAnyOffset) {
  const std::pair<std::string, std::string> cases[] = {
      {"\"", "\\\""},
      {"\\", "\\\\"},
      {"\n", "\\n"},
      {"\x1f", "\\u001f"},
      {"\x7f", "\x7f"},
      {"\xc3\xa5", "\xc3\xa5"},
      {"\xff", "\\ufffd"},
      {"\xe2\x9c", "\\ufffd\\ufffd"},
      {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
  };
  for (const auto& [in, escaped] : cases) {
    for (size_t before = 0; before < 18; ++before) {
      for (size_t after = 0; after < 10; ++after) {
        const std::string head(before, 'h'), tail(after, 't');
        std::string out;
        AppendJsonString(&out, head + in + tail);
        EXPECT_EQ(out, "\"" + head + escaped + tail + "\"") << before << " " << after;
      }
    }
  }
}

TEST(JsonWriterTest, NonFiniteDoublesBecomeNull) {
  std::string out;
  JsonWriter(&out)
      .BeginArray()
      .Double(std::numeric_limits<double>::infinity())
      .Double(0.1)
      .EndArray();
  EXPECT_EQ(out, "[null,0.1]");
}

}  // namespace
}  // namespace slipway::core
