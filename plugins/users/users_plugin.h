// The users plugin: the `users` collection, the first administrator, and authentication
// (auth:signIn with NocoBase's basic authenticator, auth:check, auth:signOut) with HS256 tokens
// signed by APP_KEY and revocable through tokenBlacklist.
#pragma once

#include <memory>

#include "slipway/plugin.h"

namespace slipway::plugins {

std::unique_ptr<slipway::Plugin> MakeUsersPlugin();

}  // namespace slipway::plugins
