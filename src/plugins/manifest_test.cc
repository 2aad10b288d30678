#include "plugins/manifest.h"

#include <gtest/gtest.h>

#include <string>

namespace slipway::plugins {
namespace {

constexpr const char* kHello = R"({
  "name": "hello", "version": "1.2.3-rc.1", "api_version": 1,
  "description": "Example", "main": "lib/libslipway_hello.so",
  "dependencies": {"users": ">=0.1.0", "acl": "^1.0.0"},
  "app_versions": ">=0.1.0 <1.0.0",
  "keywords": ["npm fields are ignored"]
})";

TEST(ManifestTest, ParsesEveryField) {
  auto m = Manifest::Parse(kHello);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->name, "hello");
  EXPECT_EQ(m->version_text, "1.2.3-rc.1");
  EXPECT_EQ(m->version, core::SemVer::Parse("1.2.3-rc.1").value());
  EXPECT_EQ(m->api_version, 1);
  EXPECT_EQ(m->description, "Example");
  EXPECT_EQ(m->main, "lib/libslipway_hello.so");
  ASSERT_EQ(m->dependencies.size(), 2u);
  EXPECT_EQ(m->dependencies[0].name, "users");
  EXPECT_EQ(m->dependencies[0].range.text(), ">=0.1.0");
  EXPECT_TRUE(m->dependencies[0].range.Matches(core::SemVer(0, 1, 0)));
  EXPECT_FALSE(m->dependencies[0].range.Matches(core::SemVer(0, 0, 9)));
  EXPECT_EQ(m->dependencies[1].name, "acl");
  EXPECT_EQ(m->dependencies[1].range.text(), "^1.0.0");
  EXPECT_EQ(m->app_versions.text(), ">=0.1.0 <1.0.0");
  EXPECT_FALSE(m->app_versions.Matches(core::SemVer(1, 0, 0)));
}

TEST(ManifestTest, OptionalFieldsHaveDefaults) {
  auto m = Manifest::Parse(R"({"name": "a", "version": "0.0.1", "api_version": 1,
                               "main": "a.so"})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->description, "");
  EXPECT_TRUE(m->dependencies.empty());
  EXPECT_EQ(m->app_versions.text(), "*");
  EXPECT_TRUE(m->app_versions.Matches(core::SemVer(99, 0, 0)));
}

TEST(ManifestTest, AcceptsCamelCaseAppVersions) {
  auto m = Manifest::Parse(R"({"name": "a", "version": "1.0.0", "api_version": 1,
                               "main": "a.so", "appVersions": "^2.1.0"})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->app_versions.text(), "^2.1.0");
  EXPECT_TRUE(m->app_versions.Matches(core::SemVer(2, 5, 0)));
  EXPECT_FALSE(m->app_versions.Matches(core::SemVer(3, 0, 0)));
}

TEST(ManifestTest, PluginNames) {
  const std::string longest(kMaxPluginNameLength, 'a');
  for (std::string_view good : {"hello", "audit-log", "a", "a1-b2", "x-"}) {
    EXPECT_TRUE(IsValidPluginName(good)) << good;
  }
  EXPECT_TRUE(IsValidPluginName(longest));
  for (std::string_view bad :
       {"", "Hello", "1abc", "-a", "a_b", "a.b", "a b", "@scope/name", "é"}) {
    EXPECT_FALSE(IsValidPluginName(bad)) << bad;
  }
  EXPECT_FALSE(IsValidPluginName(longest + "a"));
}

// Each refusal names the field it is about.
struct Refusal {
  const char* json;
  const char* field;  // expected in the message
};

const Refusal kRefusals[] = {
    {"", "JSON"},
    {"{", "JSON"},
    {"[]", "object"},
    {R"({"version": "1.0.0", "api_version": 1, "main": "a.so"})", "\"name\""},
    {R"({"name": 7, "version": "1.0.0", "api_version": 1, "main": "a.so"})", "\"name\""},
    {R"({"name": "Hello", "version": "1.0.0", "api_version": 1, "main": "a.so"})", "\"name\""},
    {R"({"name": "a_b", "version": "1.0.0", "api_version": 1, "main": "a.so"})", "\"name\""},
    {R"({"name": "a", "api_version": 1, "main": "a.so"})", "\"version\""},
    {R"({"name": "a", "version": "1.0", "api_version": 1, "main": "a.so"})", "\"version\""},
    {R"({"name": "a", "version": 1, "api_version": 1, "main": "a.so"})", "\"version\""},
    {R"({"name": "a", "version": "1.0.0", "main": "a.so"})", "\"api_version\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": "1", "main": "a.so"})", "\"api_version\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1.5, "main": "a.so"})", "\"api_version\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": 0, "main": "a.so"})", "\"api_version\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": 18446744073709551615, "main": "a.so"})",
     "\"api_version\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1})", "\"main\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1, "main": ""})", "\"main\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1, "main": "/lib/a.so"})", "\"main\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1, "main": "../a.so"})", "\"main\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1, "main": "lib/../../a.so"})",
     "\"main\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1, "main": "lib/"})", "\"main\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1, "main": "lib\\a.so"})", "\"main\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1, "main": "a.so", "description": 1})",
     "\"description\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1, "main": "a.so",
         "dependencies": ["users"]})",
     "\"dependencies\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1, "main": "a.so",
         "dependencies": {"Users": "*"}})",
     "dependencies: 'Users'"},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1, "main": "a.so",
         "dependencies": {"users": 1}})",
     "dependencies: the version range of 'users'"},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1, "main": "a.so",
         "dependencies": {"users": "^^1"}})",
     "dependencies: 'users'"},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1, "main": "a.so",
         "app_versions": "nope"})",
     "\"app_versions\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1, "main": "a.so",
         "appVersions": 1})",
     "\"appVersions\""},
    {R"({"name": "a", "version": "1.0.0", "api_version": 1, "main": "a.so",
         "app_versions": "*", "appVersions": "*"})",
     "\"app_versions\" or \"appVersions\""},
};

TEST(ManifestTest, RefusesNamingTheField) {
  for (const Refusal& r : kRefusals) {
    auto m = Manifest::Parse(r.json);
    ASSERT_FALSE(m.ok()) << r.json;
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << r.json;
    EXPECT_EQ(m.status().message().rfind("manifest.json: ", 0), 0u) << m.status().message();
    EXPECT_NE(m.status().message().find(r.field), std::string::npos)
        << r.json << "\n  -> " << m.status().message();
  }
}

}  // namespace
}  // namespace slipway::plugins
