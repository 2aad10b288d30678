// pm:list|get|add|enable|disable|remove|upgrade|update: the plugin manager over HTTP, with
// NocoBase's resource name and filterByTk=<plugin name>. Every action needs a role that may
// configure the application.
#pragma once

#include "api/action_registry.h"
#include "plugins/plugin_manager.h"

namespace slipway::plugins {

void RegisterPluginActions(api::ActionRegistry& registry, PluginManager& plugins);

}  // namespace slipway::plugins
