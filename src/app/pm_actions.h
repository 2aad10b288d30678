// pm:list|get|add|enable|disable|remove|upgrade|update: the plugin manager over HTTP, with
// NocoBase's resource name and filterByTk=<plugin name>. Every action needs a role that may
// configure the application.
#pragma once

#include "app/actions.h"
#include "app/plugin_manager.h"

namespace slipway::app {

void RegisterPluginActions(ActionRegistry& registry, PluginManager& plugins);

}  // namespace slipway::app
