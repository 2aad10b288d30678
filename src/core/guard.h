// Guard: runs code that may throw (a plugin's hook, an action, a sync handler, a task), so that
// an exception escaping it is an Internal Status for that call and never the end of the process.
#pragma once

#include <functional>
#include <string_view>

#include "slipway/status.h"

namespace slipway::core {

// `who` and `what` name the code in the message ("plugin 'hello'", "record hook"): a failing
// Status gets them as context, an exception becomes Internal "<who> <what> threw: <what()>".
Status Guard(std::string_view who, std::string_view what, const std::function<Status()>& fn);

}  // namespace slipway::core
