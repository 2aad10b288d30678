#include "cli/exit_code.h"

#include <gtest/gtest.h>

namespace slipway::cli {
namespace {

TEST(ExitCodeTest, MapsByWhatTheOperatorShouldDo) {
  EXPECT_EQ(ExitCodeFor(Status::Ok()), 0);
  EXPECT_EQ(ExitCodeFor(InvalidArgument("x")), kExitUsage);
  EXPECT_EQ(ExitCodeFor(FailedPrecondition("x")), kExitPrecondition);
  EXPECT_EQ(ExitCodeFor(Unavailable("x")), kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(Aborted("x")), kExitFailed);
  EXPECT_EQ(ExitCodeFor(Internal("x")), kExitInternal);
}

}  // namespace
}  // namespace slipway::cli
