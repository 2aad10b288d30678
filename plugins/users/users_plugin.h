// The users plugin: the `users` collection, the first administrator, and authentication
// (auth:signIn with NocoBase's basic authenticator, auth:check, auth:signOut) with HS256 tokens
// signed by APP_KEY and revocable through tokenBlacklist.
#pragma once

#include <memory>

#include "app/plugin_api.h"

namespace slipway::plugins {

std::unique_ptr<app::Plugin> MakeUsersPlugin();

}  // namespace slipway::plugins
