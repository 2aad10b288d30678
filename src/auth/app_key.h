// APP_KEY: the secret that signs tokens. Every node of a cluster must have the same one.
#pragma once

#include <filesystem>
#include <string>

#include "slipway/status.h"

namespace slipway::auth {

// `key` set (APP_KEY): kept as it is. Empty: read from <storage>/.app-key, or generated there
// (32 random bytes, hex, mode 0600, written to a temporary name and renamed) with a warning that
// a cluster needs the same APP_KEY everywhere. FailedPrecondition for a stored key shorter than
// 32 characters; Unavailable when the file cannot be written.
Status EnsureAppKey(const std::filesystem::path& storage, std::string* key);

}  // namespace slipway::auth
