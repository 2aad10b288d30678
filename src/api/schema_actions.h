// collections:list|get|create|update|destroy and collections/<name>/fields:list|get|create|
// update|destroy: collections and fields defined at run time, turned into tables and columns.
// Reading needs a signed-in user; changing needs a role that may configure.
#pragma once

#include <functional>

#include "api/action_registry.h"

namespace slipway::api {

// `reserved` tells whether a name is taken by a registered resource (app, auth, pm, ...).
void RegisterSchemaActions(ActionRegistry& registry,
                           std::function<bool(std::string_view)> reserved);

}  // namespace slipway::api
