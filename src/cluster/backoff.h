// Backoff: the delays between reconnection attempts of the cluster's connections (Redis clients
// and subscribers, the PostgreSQL LISTEN session): initial, 2x, 4x, ... capped at `max`, back to
// `initial` after a success. Not thread-safe: one per connection, used by its owner.
#pragma once

#include <algorithm>
#include <chrono>

namespace slipway::cluster {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(initial), max_(max), next_(initial) {}
  // The delay to wait now; the following one doubles.
  std::chrono::milliseconds Next() {
    auto d = next_;
    next_ = std::min(next_ * 2, max_);
    return d;
  }
  std::chrono::milliseconds Peek() const { return next_; }
  void Reset() { next_ = initial_; }

 private:
  std::chrono::milliseconds initial_, max_, next_;
};

}  // namespace slipway::cluster
