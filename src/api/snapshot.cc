#include "api/snapshot.h"

#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>

#include "core/guard.h"

namespace slipway::api {

void RecordHookSet::Add(std::string collection, RecordEvent event, RecordHook hook,
                        std::string plugin) {
  entries_.push_back({std::move(collection), event, std::move(hook), std::move(plugin)});
}

bool RecordHookSet::Has(std::string_view collection, RecordEvent event) const {
  for (const Entry& e : entries_) {
    if (e.event == event && (e.collection == "*" || e.collection == collection)) return true;
  }
  return false;
}

Status RecordHookSet::Run(RecordChange& change) const {
  for (const Entry& e : entries_) {
    if (e.event != change.event || (e.collection != "*" && e.collection != change.collection))
      continue;
    RETURN_IF_ERROR(
        core::Guard("plugin '" + e.plugin + "'", "record hook", [&] { return e.hook(change); }));
  }
  return Status::Ok();
}

struct EpochHolds::State {
  mutable std::mutex mu;
  mutable std::condition_variable released;
  // Requests in flight by epoch; nearly all share the current epoch, so a hold only counts.
  std::map<int64_t, int64_t> epochs;
  std::function<void(int64_t)> on_released;  // set before the first hold, then only read

  int64_t OldestLocked() const {
    return epochs.empty() ? std::numeric_limits<int64_t>::max() : epochs.begin()->first;
  }
};

EpochHolds::EpochHolds() : state_(std::make_shared<State>()) {}

std::shared_ptr<void> EpochHolds::Hold(int64_t epoch) {
  {
    std::lock_guard lock(state_->mu);
    ++state_->epochs[epoch];
  }
  return std::shared_ptr<void>(nullptr, [state = state_, epoch](void*) {
    int64_t oldest;
    {
      std::lock_guard lock(state->mu);
      auto it = state->epochs.find(epoch);
      if (--it->second == 0) state->epochs.erase(it);
      oldest = state->OldestLocked();
    }
    state->released.notify_all();
    if (state->on_released) state->on_released(oldest);
  });
}

int64_t EpochHolds::Oldest() const {
  std::lock_guard lock(state_->mu);
  return state_->OldestLocked();
}

bool EpochHolds::WaitUntilDrained(int64_t epoch, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->mu);
  return state_->released.wait_for(lock, timeout, [&] { return state_->OldestLocked() >= epoch; });
}

void EpochHolds::OnReleased(std::function<void(int64_t)> fn) {
  std::lock_guard lock(state_->mu);
  state_->on_released = std::move(fn);
}

}  // namespace slipway::api
