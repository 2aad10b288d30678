#include "core/config.h"

#include <gtest/gtest.h>

namespace slipway::core {
namespace {

TEST(ConfigTest, DefaultsMatchNocoBase) {
  auto c = Config::Load(MapEnvironment(std::map<std::string, std::string>{}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->port, 13000);
  EXPECT_EQ(c->db.dialect, "sqlite");
  EXPECT_EQ(c->api_base_path, "/api/");
  EXPECT_EQ(c->db.fiber_pool, 4);
  ASSERT_TRUE(c->Finish().ok());
  EXPECT_EQ(c->db.storage, std::filesystem::path("storage/db/slipway.sqlite"));
  EXPECT_FALSE(c->node_id.empty());
}

TEST(ConfigTest, ReadsNocoBaseVariableNames) {
  auto c =
      Config::Load(MapEnvironment(std::map<std::string, std::string>{{"APP_PORT", "14000"},
                                                                     {"STORAGE_PATH", "/srv/s"},
                                                                     {"DB_DIALECT", "postgres"},
                                                                     {"DB_HOST", "db"},
                                                                     {"DB_PORT", "6543"},
                                                                     {"APP_KEY", "k"},
                                                                     {"DB_FIBER_POOL", "0"},
                                                                     {"LOGGER_FORMAT", "json"},
                                                                     {"LOGGER_LEVEL", "debug"}}));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(c->Finish().ok());
  EXPECT_EQ(c->port, 14000);
  EXPECT_EQ(c->db.dialect, "postgres");
  EXPECT_EQ(c->db.host, "db");
  EXPECT_EQ(c->db.port, 6543);
  EXPECT_EQ(c->app_key, "k");
  EXPECT_EQ(c->db.fiber_pool, 0);
  EXPECT_EQ(c->log_format, LogFormat::kJson);
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->db.storage, std::filesystem::path("/srv/s/db/slipway.sqlite"));
}

TEST(ConfigTest, EmptyValueMeansUnset) {
  auto c = Config::Load(MapEnvironment(std::map<std::string, std::string>{{"APP_PORT", ""}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->port, 13000);
}

TEST(ConfigTest, MalformedValuesNameTheVariable) {
  struct Case {
    const char* name;
    const char* value;
  } cases[] = {{"APP_PORT", "abc"},        {"APP_PORT", "70000"},    {"DB_DIALECT", "mysql"},
               {"DB_POOL_MAX", "0"},       {"LOG_FORMAT", "xml"},    {"AUTO_UPGRADE", "maybe"},
               {"HTTP_BODY_LIMIT", "12x"}, {"LOGGER_LEVEL", "loud"}, {"DB_FIBER_POOL", "-1"}};
  for (const auto& tc : cases) {
    auto c = Config::Load(MapEnvironment(std::map<std::string, std::string>{{tc.name, tc.value}}));
    ASSERT_FALSE(c.ok()) << tc.name << "=" << tc.value;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find(std::string(tc.name) + "='" + tc.value + "'"),
              std::string::npos)
        << c.status().message();
  }
}

TEST(ConfigTest, BasePathGetsTrailingSlashAndMustBeAbsolute) {
  auto c =
      Config::Load(MapEnvironment(std::map<std::string, std::string>{{"API_BASE_PATH", "/v1"}}));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->Finish().ok());
  EXPECT_EQ(c->api_base_path, "/v1/");
  auto bad =
      Config::Load(MapEnvironment(std::map<std::string, std::string>{{"API_BASE_PATH", "api"}}));
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->Finish().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace slipway::core
