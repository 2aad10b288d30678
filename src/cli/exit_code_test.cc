#include "cli/exit_code.h"

#include <gtest/gtest.h>

namespace slipway::cli {
namespace {

TEST(ExitCodeTest, MapsEveryCodeByWhatTheOperatorShouldDo) {
  static_assert(static_cast<int>(StatusCode::kInternal) == 12, "a StatusCode was added");
  const int expected[] = {
      kExitOk,            // kOk
      kExitUsage,         // kInvalidArgument: fix the command line or the configuration
      kExitFailed,        // kNotFound
      kExitPrecondition,  // kAlreadyExists: the state must change first
      kExitFailed,        // kPermissionDenied
      kExitFailed,        // kUnauthenticated
      kExitPrecondition,  // kFailedPrecondition
      kExitFailed,        // kAborted: rolled back
      kExitUnavailable,   // kUnavailable: try again later
      kExitFailed,        // kResourceExhausted
      kExitUnavailable,   // kDeadlineExceeded
      kExitInternal,      // kUnimplemented
      kExitInternal,      // kInternal
  };
  for (int c = 0; c <= static_cast<int>(StatusCode::kInternal); ++c) {
    StatusCode code = static_cast<StatusCode>(c);
    Status s = code == StatusCode::kOk ? Status::Ok() : Status(code, "m");
    EXPECT_EQ(ExitCodeFor(s), expected[c]) << StatusCodeName(code);
  }
}

}  // namespace
}  // namespace slipway::cli
