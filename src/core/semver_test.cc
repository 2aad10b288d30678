#include "core/semver.h"

#include <gtest/gtest.h>

namespace slipway::core {
namespace {

SemVer V(const char* s) {
  auto v = SemVer::Parse(s);
  EXPECT_TRUE(v.ok()) << s << ": " << v.status().ToString();
  return v.ok() ? *v : SemVer();
}

TEST(SemVerTest, ParsesAndPrints) {
  EXPECT_EQ(V("1.2.3").ToString(), "1.2.3");
  EXPECT_EQ(V("v0.10.0").ToString(), "0.10.0");
  EXPECT_EQ(V("1.0.0-rc.1+build.7").ToString(), "1.0.0-rc.1+build.7");
}

TEST(SemVerTest, RefusesMalformedWithTheText) {
  for (const char* bad :
       {"", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.x", "1.2.3-", "1.2.3+", "a.b.c"}) {
    auto v = SemVer::Parse(bad);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(v.status().message().find(std::string("'") + bad + "'"), std::string::npos);
  }
}

TEST(SemVerTest, OrdersBySpecPrecedence) {
  // The example chain from semver.org section 11.
  const char* chain[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                         "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                         "1.0.0-rc.1",  "1.0.0",         "1.0.1",
                         "1.1.0",       "2.0.0",         "10.0.0"};
  for (size_t i = 0; i + 1 < std::size(chain); ++i) {
    EXPECT_LT(V(chain[i]), V(chain[i + 1])) << chain[i] << " < " << chain[i + 1];
    EXPECT_GT(V(chain[i + 1]), V(chain[i]));
  }
  EXPECT_EQ(V("1.0.0+a"), V("1.0.0+b"));  // build metadata does not count
}

// Each row is what npm's `semver.satisfies(version, range)` answers (node-semver 7).
struct RangeCase {
  const char* range;
  const char* version;
  bool matches;
};

const RangeCase kRangeCases[] = {
    // Any.
    {"*", "1.2.3", true},
    {"", "0.0.0", true},
    {"  ", "9.9.9", true},
    {"x", "5.0.0", true},
    {"*", "1.0.0-beta", false},  // pre-releases need a comparator that names them
    // Exact.
    {"1.2.3", "1.2.3", true},
    {"1.2.3", "1.2.4", false},
    {"=1.2.3", "1.2.3", true},
    {"=1.2.3", "1.2.2", false},
    {"v1.2.3", "1.2.3", true},
    {"1.2.3", "1.2.3+build.5", true},
    {"1.2.3-beta.1", "1.2.3-beta.1", true},
    {"1.2.3-beta.1", "1.2.3", false},
    // Comparators, AND and OR.
    {">=1.2.3", "1.2.3", true},
    {">=1.2.3", "1.2.2", false},
    {">1.2.3", "1.2.3", false},
    {">1.2.3", "1.2.4", true},
    {"<1.2.3", "1.2.2", true},
    {"<1.2.3", "1.2.3", false},
    {"<=1.2.3", "1.2.3", true},
    {"<=1.2.3", "1.2.4", false},
    {">= 1.2.3", "1.2.3", true},
    {">=0.1.0 <1.0.0", "0.1.0", true},
    {">=0.1.0 <1.0.0", "0.9.9", true},
    {">=0.1.0 <1.0.0", "1.0.0", false},
    {">=0.1.0 <1.0.0", "0.0.9", false},
    {">=0.1.0\t<1.0.0", "1.0.0", false},
    {">=1.0.0 <2.0.0 || >=3.0.0", "1.5.0", true},
    {">=1.0.0 <2.0.0 || >=3.0.0", "2.5.0", false},
    {">=1.0.0 <2.0.0 || >=3.0.0", "3.1.0", true},
    {"1.2.3||2.0.0", "2.0.0", true},
    {"1.2.3 || 2.0.0", "1.2.4", false},
    {"1.2.3 ||", "7.0.0", true},  // an empty alternative is "*", as in npm
    // Caret.
    {"^1.2.3", "1.2.3", true},
    {"^1.2.3", "1.9.9", true},
    {"^1.2.3", "2.0.0", false},
    {"^1.2.3", "1.2.2", false},
    {"^0.2.3", "0.2.9", true},
    {"^0.2.3", "0.3.0", false},
    {"^0.2.3", "0.2.2", false},
    {"^0.0.3", "0.0.3", true},
    {"^0.0.3", "0.0.4", false},
    {"^1.2", "1.5.0", true},
    {"^1.2", "1.1.9", false},
    {"^0.2", "0.2.5", true},
    {"^0.2", "0.3.0", false},
    {"^0.0", "0.0.9", true},
    {"^0.0", "0.1.0", false},
    {"^1.x", "1.9.0", true},
    {"^1.x", "2.0.0", false},
    {"^0.x", "0.9.0", true},
    {"^0.x", "1.0.0", false},
    {"^ 1.2.3", "1.4.0", true},
    // Tilde.
    {"~1.2.3", "1.2.9", true},
    {"~1.2.3", "1.2.2", false},
    {"~1.2.3", "1.3.0", false},
    {"~1.2", "1.2.0", true},
    {"~1.2", "1.3.0", false},
    {"~1", "1.9.0", true},
    {"~1", "2.0.0", false},
    {"~0.2.3", "0.2.5", true},
    {"~0.2.3", "0.3.0", false},
    {"~>1.2.3", "1.2.5", true},
    // X-ranges and partial versions.
    {"1.2.x", "1.2.9", true},
    {"1.2.x", "1.3.0", false},
    {"1.2.x", "1.1.9", false},
    {"1.x", "1.9.9", true},
    {"1.x", "2.0.0", false},
    {"1.X", "1.1.0", true},
    {"1.*", "1.1.0", true},
    {"1.x.x", "1.1.0", true},
    {"1", "1.5.0", true},
    {"1", "0.9.0", false},
    {"1", "2.0.0", false},
    {"1.2", "1.2.7", true},
    {"1.2", "1.3.0", false},
    {">1.2", "1.2.9", false},
    {">1.2", "1.3.0", true},
    {">1", "1.9.0", false},
    {">1", "2.0.0", true},
    {">=1.2", "1.2.0", true},
    {">=1.2", "1.1.9", false},
    {"<1.2", "1.1.9", true},
    {"<1.2", "1.2.0", false},
    {"<=1.2", "1.2.9", true},
    {"<=1.2", "1.3.0", false},
    {"<=1", "1.9.9", true},
    {"<=1", "2.0.0", false},
    {">*", "0.0.0", false},
    {"<*", "0.0.0", false},
    {">=*", "0.0.0", true},
    // Hyphen ranges.
    {"1.2.3 - 2.3.4", "1.2.3", true},
    {"1.2.3 - 2.3.4", "2.3.4", true},
    {"1.2.3 - 2.3.4", "2.3.5", false},
    {"1.2.3 - 2.3.4", "1.2.2", false},
    {"1.2 - 2.3.4", "1.2.0", true},
    {"1.2 - 2.3.4", "1.1.9", false},
    {"1.2.3 - 2.3", "2.3.9", true},
    {"1.2.3 - 2.3", "2.4.0", false},
    {"1.2.3 - 2", "2.9.9", true},
    {"1.2.3 - 2", "3.0.0", false},
    {"* - 2", "0.0.1", true},
    // Pre-releases match only comparators naming the same major.minor.patch with one.
    {">1.2.3-alpha.3", "1.2.3-alpha.7", true},
    {">1.2.3-alpha.3", "1.2.3-alpha.2", false},
    {">1.2.3-alpha.3", "3.4.5-alpha.9", false},
    {">1.2.3-alpha.3", "3.4.5", true},
    {"^1.2.3-beta.2", "1.2.3-beta.4", true},
    {"^1.2.3-beta.2", "1.2.4-beta.2", false},
    {"^1.2.3", "1.5.0-beta", false},
    {"^1.2.3", "2.0.0-beta", false},
    {"<2.0.0", "2.0.0-beta", false},
    {"1.x", "1.5.0-beta", false},
    {"~1.2.3-beta.2", "1.2.3-beta.4", true},
    {"~1.2.3-beta.2", "1.2.4-beta.4", false},
    {">=1.0.0-rc.1 <2.0.0", "1.0.0-rc.2", true},
    {">=1.0.0-rc.1 <2.0.0", "1.0.0-beta", false},
    {"1.2.3-beta.2 - 2.0.0", "1.2.3-beta.3", true},
    {">=1.0.0 <2.0.0 || >=1.5.0-beta <1.6.0", "1.5.0-beta.1", true},
};

TEST(SemVerRangeTest, MatchesLikeNpm) {
  for (const RangeCase& c : kRangeCases) {
    auto range = SemVerRange::Parse(c.range);
    ASSERT_TRUE(range.ok()) << "'" << c.range << "': " << range.status().ToString();
    EXPECT_EQ(range->Matches(V(c.version)), c.matches)
        << "'" << c.range << "' with " << c.version << " should " << (c.matches ? "" : "not ")
        << "match";
    EXPECT_EQ(range->text(), c.range);
  }
}

TEST(SemVerRangeTest, DefaultIsAnyVersion) {
  SemVerRange any;
  EXPECT_EQ(any.text(), "*");
  EXPECT_TRUE(any.Matches(V("0.0.0")));
  EXPECT_TRUE(any.Matches(V("123.4.5")));
}

TEST(SemVerRangeTest, RefusesMalformedWithTheText) {
  for (const char* bad : {"1.2.3.4", ">=", ">= || 1.0.0", "abc", "1.2.x-beta", "1.2-rc.1",
                          "<>1.2.3", "=>1.2.3", "01.2.3", "1.2.3 -", "- 1.2.3", "1.2.3 ||| 2",
                          "1.2.3-", "^a", "1.2.3 - 2.3.4 - 5", "2147483647.0.0"}) {
    auto range = SemVerRange::Parse(bad);
    ASSERT_FALSE(range.ok()) << "'" << bad << "' parsed";
    EXPECT_EQ(range.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(range.status().message().find(std::string("'") + bad + "'"), std::string::npos)
        << range.status().message();
  }
  EXPECT_FALSE(SemVerRange::Parse(std::string(2000, '1')).ok());
}

}  // namespace
}  // namespace slipway::core
