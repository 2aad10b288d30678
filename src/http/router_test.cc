#include "http/router.h"

#include <gtest/gtest.h>

namespace slipway::http {
namespace {

Route Parse(Method m, const char* path) {
  auto r = ParseRoute(m, path);
  EXPECT_TRUE(r.ok()) << path << ": " << r.status().ToString();
  return r.ok() ? *r : Route();
}

TEST(RouterTest, ResourceAndAction) {
  Route r = Parse(Method::kGet, "posts:list");
  EXPECT_EQ(r.resource, "posts");
  EXPECT_EQ(r.action, "list");
  EXPECT_TRUE(r.index.empty());
  EXPECT_FALSE(r.is_association());
}

TEST(RouterTest, IndexAfterActionOrAsPath) {
  EXPECT_EQ(Parse(Method::kGet, "posts:get/7").index, "7");
  Route r = Parse(Method::kGet, "posts/7");
  EXPECT_EQ(r.action, "get");
  EXPECT_EQ(r.index, "7");
}

TEST(RouterTest, MethodsChooseDefaultActions) {
  EXPECT_EQ(Parse(Method::kGet, "posts").action, "list");
  EXPECT_EQ(Parse(Method::kPost, "posts").action, "create");
  EXPECT_EQ(Parse(Method::kPut, "posts/1").action, "update");
  EXPECT_EQ(Parse(Method::kPatch, "posts/1").action, "update");
  EXPECT_EQ(Parse(Method::kDelete, "posts/1").action, "destroy");
}

TEST(RouterTest, Associations) {
  Route r = Parse(Method::kGet, "posts/1/comments:list");
  EXPECT_EQ(r.resource, "posts.comments");
  EXPECT_EQ(r.source, "posts");
  EXPECT_EQ(r.association, "comments");
  EXPECT_EQ(r.source_index, "1");
  EXPECT_EQ(r.action, "list");
  Route g = Parse(Method::kGet, "posts/1/comments/9");
  EXPECT_EQ(g.action, "get");
  EXPECT_EQ(g.index, "9");
  Route f = Parse(Method::kGet, "collections/posts/fields:list");
  EXPECT_EQ(f.resource, "collections.fields");
  EXPECT_EQ(f.source_index, "posts");
}

TEST(RouterTest, RefusesMalformedPathsNamingThePart) {
  struct Case {
    const char* path;
    StatusCode code;
    const char* mentions;
  } cases[] = {{"", StatusCode::kNotFound, "no resource"},
               {"a/b/c/d/e", StatusCode::kNotFound, "no resource"},
               {"po sts:list", StatusCode::kInvalidArgument, "'po sts'"},
               {"posts:li$t", StatusCode::kInvalidArgument, "'li$t'"},
               {"posts:list/1:2", StatusCode::kInvalidArgument, "':'"},
               {"posts:list/1/comments", StatusCode::kInvalidArgument, "unexpected action"},
               {"9posts:list", StatusCode::kInvalidArgument, "'9posts'"}};
  for (const auto& tc : cases) {
    auto r = ParseRoute(Method::kGet, tc.path);
    ASSERT_FALSE(r.ok()) << tc.path;
    EXPECT_EQ(r.status().code(), tc.code) << tc.path;
    EXPECT_NE(r.status().message().find(tc.mentions), std::string::npos) << r.status().message();
  }
  EXPECT_FALSE(ParseRoute(Method::kOptions, "posts").ok());  // no default action for OPTIONS
}

}  // namespace
}  // namespace slipway::http
