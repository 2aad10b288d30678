#include "api/lifecycle.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace slipway::api {
namespace {

TEST(LifecycleTest, FollowsTheStateMachine) {
  Lifecycle l;
  EXPECT_EQ(l.state(), AppState::kInitializing);
  EXPECT_FALSE(l.serving());
  ASSERT_TRUE(l.TransitionTo(AppState::kUpgrading).ok());
  EXPECT_FALSE(l.TransitionTo(AppState::kInstalling).ok());  // not from upgrading
  ASSERT_TRUE(l.TransitionTo(AppState::kRunning).ok());
  EXPECT_TRUE(l.serving());
  ASSERT_TRUE(l.TransitionTo(AppState::kStopping).ok());
  EXPECT_FALSE(l.TransitionTo(AppState::kRunning).ok());  // stopping is final
}

TEST(LifecycleTest, MaintenanceBodyIsNocoBases) {
  Lifecycle l;
  ASSERT_TRUE(l.TransitionTo(AppState::kUpgrading, "migration core/0.2.0/x (1/3)").ok());
  http::Response r = l.MaintenanceResponse(false);
  EXPECT_EQ(r.status, 503);
  ASSERT_FALSE(r.headers.empty());
  EXPECT_EQ(r.headers[0].name, "retry-after");
  auto e = boost::json::parse(r.body).at("error").as_object();
  EXPECT_EQ(e.at("status").as_int64(), 503);
  EXPECT_TRUE(e.at("maintaining").as_bool());
  EXPECT_EQ(e.at("code").as_string(), "APP_COMMANDING");
  EXPECT_EQ(e.at("message").as_string(), "migration core/0.2.0/x (1/3)");
  EXPECT_EQ(e.at("command").at("name").as_string(), "upgrade");
}

TEST(LifecycleTest, ErrorAndInitializingCodes) {
  Lifecycle l;
  EXPECT_EQ(
      boost::json::parse(l.MaintenanceResponse(false).body).at("error").at("code").as_string(),
      "APP_INITIALIZING");
  ASSERT_TRUE(l.TransitionTo(AppState::kError, "migration core/0.2.0/b failed").ok());
  auto e = boost::json::parse(l.MaintenanceResponse(false).body).at("error").as_object();
  EXPECT_EQ(e.at("code").as_string(), "APP_ERROR");
  EXPECT_EQ(e.at("message").as_string(), "migration core/0.2.0/b failed");
  EXPECT_FALSE(e.contains("command"));
}

TEST(LifecycleTest, BrowsersGetAnEscapedHtmlPage) {
  Lifecycle l;
  ASSERT_TRUE(l.TransitionTo(AppState::kInstalling, "<script>").ok());
  http::Response r = l.MaintenanceResponse(true);
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.content_type.find("text/html"), std::string::npos);
  EXPECT_NE(r.body.find("&lt;script&gt;"), std::string::npos);
  EXPECT_EQ(r.body.find("<script>"), std::string::npos);
}

}  // namespace
}  // namespace slipway::api
