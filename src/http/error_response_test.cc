#include "http/error_response.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace slipway::http {
namespace {

TEST(ErrorResponseTest, NocoBaseBodyWithTagOrCanonicalCode) {
  Response r = ErrorResponse(NotFound("collection 'x' not found"));
  EXPECT_EQ(r.status, 404);
  auto body = boost::json::parse(r.body).as_object();
  auto& e = body.at("errors").as_array().at(0).as_object();
  EXPECT_EQ(e.at("message").as_string(), "collection 'x' not found");
  EXPECT_EQ(e.at("code").as_string(), "NOT_FOUND");

  Response t = ErrorResponse(AlreadyExists("dup", "UNIQUE_VIOLATION"));
  EXPECT_EQ(t.status, 409);
  EXPECT_EQ(boost::json::parse(t.body).at("errors").at(0).at("code").as_string(),
            "UNIQUE_VIOLATION");
}

TEST(ErrorResponseTest, EveryCodeHasAFittingHttpStatus) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kResourceExhausted), 413);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
}

TEST(ErrorResponseTest, UnavailableSaysWhenToRetry) {
  Response r = ErrorResponse(Unavailable("busy"));
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].name, "retry-after");
}

}  // namespace
}  // namespace slipway::http
