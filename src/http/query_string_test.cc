#include "http/query_string.h"

#include <gtest/gtest.h>

#include <string>

namespace slipway::http {
namespace {
namespace json = boost::json;

// Each expectation is what `qs.parse(query, {depth: 8, arrayLimit: 100})` returns.
struct Case {
  const char* query;
  const char* expected;  // JSON
};

const Case kCases[] = {
    {"", "{}"},
    {"a=1", R"({"a": "1"})"},
    {"a=1&b=x", R"({"a": "1", "b": "x"})"},
    {"&&a=1&", R"({"a": "1"})"},
    {"a", R"({"a": ""})"},
    {"a=", R"({"a": ""})"},
    {"=x", "{}"},
    {"a=b=c", R"({"a": "b=c"})"},
    {"a+b=c+d%20e", R"({"a b": "c d e"})"},
    {"%E2%82%AC=%E2%82%AC", R"({"€": "€"})"},
    // Repeated keys and arrays.
    {"a=1&a=2", R"({"a": ["1", "2"]})"},
    {"a[]=1&a[]=2", R"({"a": ["1", "2"]})"},
    {"a[]=1", R"({"a": ["1"]})"},
    {"a[]=", R"({"a": [""]})"},
    {"a[0]=x&a[1]=y", R"({"a": ["x", "y"]})"},
    {"a[1]=y&a[0]=x", R"({"a": ["x", "y"]})"},
    {"a[1]=y", R"({"a": ["y"]})"},
    {"a[100]=x", R"({"a": ["x"]})"},
    {"a[101]=x", R"({"a": {"101": "x"}})"},
    {"a[01]=x", R"({"a": {"01": "x"}})"},
    {"a[-1]=x", R"({"a": {"-1": "x"}})"},
    {"a[0]=1&a[0]=2", R"({"a": [["1", "2"]]})"},
    {"a=1&a[]=2", R"({"a": ["1", "2"]})"},
    {"a[]=1&a=2", R"({"a": ["1", "2"]})"},
    {"a=1&a[b]=2", R"({"a": ["1", {"b": "2"}]})"},
    {"a[b]=1&a=2", R"({"a": {"b": "1", "2": true}})"},
    {"a[0]=x&a[b]=y", R"({"a": {"0": "x", "b": "y"}})"},
    {"a[0][b]=1&a[0][c]=2", R"({"a": [{"b": "1", "c": "2"}]})"},
    // Objects.
    {"a[b][c]=1", R"({"a": {"b": {"c": "1"}}})"},
    {"a[b]=1&a[c]=2", R"({"a": {"b": "1", "c": "2"}})"},
    {"a%5Bb%5D=1", R"({"a": {"b": "1"}})"},
    {"a[b=c]=d", R"({"a": {"b=c": "d"}})"},
    {"[a]=1", R"({"a": "1"})"},
    {"a[b]c=1", R"({"a": {"b": "1"}})"},
    {"a]=1", R"({"a]": "1"})"},
    {"a[=1", R"({"a[": "1"})"},
    // Eight levels; the rest of the key stays one key.
    {"a[b][c][d][e][f][g][h][i][j][k]=x",
     R"({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"[j][k]": "x"}}}}}}}}}})"},
    // What NocoBase's client sends.
    {"filter[$and][0][title][$eq]=x&filter[$and][1][views][$gt]=5&page=2",
     R"({"filter": {"$and": [{"title": {"$eq": "x"}}, {"views": {"$gt": "5"}}]}, "page": "2"})"},
    {"filter[id][$in][]=1&filter[id][$in][]=2&appends[]=author",
     R"({"filter": {"id": {"$in": ["1", "2"]}}, "appends": ["author"]})"},
    {"filter=%7B%22title%22%3A%22x%22%7D", R"({"filter": "{\"title\":\"x\"}"})"},
};

TEST(QueryStringTest, ParsesAsQsDoes) {
  for (const Case& c : kCases) {
    auto parsed = ParseQueryString(c.query);
    ASSERT_TRUE(parsed.ok()) << c.query << ": " << parsed.status().ToString();
    EXPECT_EQ(json::value(*parsed), json::parse(c.expected))
        << c.query << " gave " << json::serialize(*parsed);
  }
}

TEST(QueryStringTest, RefusesMalformedInputNamingTheParameter) {
  const Case kErrors[] = {
      {"ok=1&a=%zz", "query parameter 'a': malformed percent-encoding in its value"},
      {"a=%", "query parameter 'a': malformed percent-encoding"},
      {"a=%4", "query parameter 'a': malformed percent-encoding"},
      {"a%2=1", "query parameter 'a%2': malformed percent-encoding in its name"},
      {"a=%FF", "query parameter 'a' is not valid UTF-8"},
      {"a=%C0%AF", "query parameter 'a' is not valid UTF-8"},
      {"a=%ED%A0%80", "query parameter 'a' is not valid UTF-8"},
      {"%E2%82=1", "is not valid UTF-8"},
      {"a=x%00y", "query parameter 'a' contains a NUL byte"},
  };
  for (const Case& c : kErrors) {
    auto parsed = ParseQueryString(c.query);
    ASSERT_FALSE(parsed.ok()) << c.query;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(c.expected), std::string::npos)
        << c.query << ": " << parsed.status().message();
  }
}

TEST(QueryStringTest, AtMostAThousandParameters) {
  std::string query;
  for (int i = 0; i < 1000; ++i) query += "p" + std::to_string(i) + "=1&";
  auto ok = ParseQueryString(query);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->size(), 1000u);
  query += "one=more";
  auto refused = ParseQueryString(query);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("more than 1000 parameters"), std::string::npos);
}

}  // namespace
}  // namespace slipway::http
