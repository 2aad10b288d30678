#include "cluster/lock.h"

#include <algorithm>
#include <thread>

namespace slipway::cluster {

Result<std::string> LeaseLock::Acquire(const std::string& name, std::chrono::milliseconds ttl,
                                       std::chrono::milliseconds wait) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + wait;
  std::chrono::milliseconds pause(10);
  while (true) {
    ASSIGN_OR_RETURN(std::optional<std::string> token, TryAcquire(name, ttl));
    if (token) return std::move(*token);
    auto now = Clock::now();
    if (now >= deadline) {
      return Unavailable("lock '" + name + "' is held by another owner (waited " +
                         std::to_string(wait.count()) + " ms)");
    }
    std::this_thread::sleep_for(
        std::min<Clock::duration>(pause, deadline - now + std::chrono::milliseconds(1)));
    pause = std::min(pause * 2, std::chrono::milliseconds(200));
  }
}

}  // namespace slipway::cluster
