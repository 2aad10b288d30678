// The CLI's entry point, for main(): light on purpose, so that the executables' main files
// compile in a second instead of parsing CLI11 and the application again.
#pragma once

#include "app/distribution.h"

namespace slipway::cli {

// The whole CLI; returns the process exit code.
int Main(int argc, char** argv, const app::Distribution& dist);

}  // namespace slipway::cli
