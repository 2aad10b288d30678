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
  // Every code, in the enum's order; a new code fails the static_assert until it is added here.
  static_assert(static_cast<int>(StatusCode::kInternal) == 12, "a StatusCode was added");
  const int expected[] = {
      200,  // kOk
      400,  // kInvalidArgument
      404,  // kNotFound
      409,  // kAlreadyExists
      403,  // kPermissionDenied
      401,  // kUnauthenticated
      409,  // kFailedPrecondition
      409,  // kAborted
      503,  // kUnavailable
      413,  // kResourceExhausted
      504,  // kDeadlineExceeded
      404,  // kUnimplemented
      500,  // kInternal
  };
  for (int c = 0; c <= static_cast<int>(StatusCode::kInternal); ++c) {
    StatusCode code = static_cast<StatusCode>(c);
    EXPECT_EQ(HttpStatusFor(code), expected[c]) << StatusCodeName(code);
    if (code == StatusCode::kOk) continue;
    Response r = ErrorResponse(Status(code, "m"));
    EXPECT_EQ(r.status, expected[c]);
    EXPECT_EQ(boost::json::parse(r.body).at("errors").at(0).at("code").as_string(),
              StatusCodeName(code));
  }
}

TEST(ErrorResponseTest, UnavailableSaysWhenToRetry) {
  Response r = ErrorResponse(Unavailable("busy"));
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].name, "retry-after");
}

}  // namespace
}  // namespace slipway::http
