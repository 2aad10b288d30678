#include "cli/exit_code.h"

#include <cstdio>

namespace slipway::cli {

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAlreadyExists:
      return kExitPrecondition;
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    case StatusCode::kAborted:
    case StatusCode::kNotFound:
    case StatusCode::kPermissionDenied:
    case StatusCode::kUnauthenticated:
    case StatusCode::kResourceExhausted:
      return kExitFailed;
    case StatusCode::kUnimplemented:
    case StatusCode::kInternal:
      return kExitInternal;
  }
  return kExitInternal;
}

int Report(const Status& status) {
  if (!status.ok()) std::fprintf(stderr, "slipway: error: %s\n", status.message().c_str());
  return ExitCodeFor(status);
}

}  // namespace slipway::cli
