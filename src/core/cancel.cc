#include "core/cancel.h"

#include <vector>

namespace slipway::core {

void CancelToken::Cancel() {
  std::lock_guard lock(mu_);
  if (cancelled_) return;
  cancelled_ = true;
  // Under the lock: Unsubscribe waits for a callback running now, so a connection is never
  // interrupted after it went back to the pool.
  for (auto& [id, fn] : callbacks_) fn();
  callbacks_.clear();
}

bool CancelToken::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

uint64_t CancelToken::Subscribe(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  if (cancelled_) {
    fn();
    return 0;
  }
  uint64_t id = next_id_++;
  callbacks_.emplace(id, std::move(fn));
  return id;
}

void CancelToken::Unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  callbacks_.erase(id);
}

CancelToken*& CurrentCancelSlot() {
  thread_local CancelToken* current = nullptr;
  return current;
}

CancelToken* CurrentCancel() { return CurrentCancelSlot(); }

}  // namespace slipway::core
