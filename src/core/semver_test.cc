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
  for (const char* bad : {"", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.x", "1.2.3-", "1.2.3+", "a.b.c"}) {
    auto v = SemVer::Parse(bad);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(v.status().message().find(std::string("'") + bad + "'"), std::string::npos);
  }
}

TEST(SemVerTest, OrdersBySpecPrecedence) {
  // The example chain from semver.org section 11.
  const char* chain[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
                         "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1",
                         "1.1.0", "2.0.0", "10.0.0"};
  for (size_t i = 0; i + 1 < std::size(chain); ++i) {
    EXPECT_LT(V(chain[i]), V(chain[i + 1])) << chain[i] << " < " << chain[i + 1];
    EXPECT_GT(V(chain[i + 1]), V(chain[i]));
  }
  EXPECT_EQ(V("1.0.0+a"), V("1.0.0+b"));  // build metadata does not count
}

}  // namespace
}  // namespace slipway::core
