// The core's migrations, in one list. Plugins contribute their own through the plugin API.
#pragma once

#include <vector>

#include "db/migration.h"

namespace slipway::db {

std::vector<Migration> CoreMigrations();

}  // namespace slipway::db
