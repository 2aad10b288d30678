// One place that initialises libsodium: every user of randomness or crypto calls SodiumReady()
// first.
#pragma once

#include <sodium.h>

namespace slipway::core {

// sodium_init() is itself idempotent; the function-local static makes the "once" explicit and
// thread-safe. False only when the system has no usable random source.
inline bool SodiumReady() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

}  // namespace slipway::core
