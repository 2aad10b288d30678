// The audit-log plugin: who changed which record when, with the changed fields. Written against
// the public plugin API only (include/slipway), like a package would be.
#pragma once

#include <memory>

#include "slipway/plugin.h"

namespace slipway::plugins {

std::unique_ptr<slipway::Plugin> MakeAuditLogPlugin();

}  // namespace slipway::plugins
