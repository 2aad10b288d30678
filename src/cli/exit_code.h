// The one mapping from a Status to the CLI's exit code and its single error line.
//
//   0 success            2 bad usage or configuration     3 state must be fixed first
//   4 unavailable        5 operation failed, rolled back  1 internal error
#pragma once

#include "slipway/status.h"

namespace slipway::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitInternal = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitPrecondition = 3;
inline constexpr int kExitUnavailable = 4;
inline constexpr int kExitFailed = 5;

int ExitCodeFor(const Status& status);
// Prints "slipway: error: <message>" to stderr (when not OK) and returns the exit code.
int Report(const Status& status);

}  // namespace slipway::cli
