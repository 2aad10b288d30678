#include "cluster/memory/memory_worker_ids.h"

#include <bitset>

namespace slipway::cluster::memory {
namespace {

struct InUse {
  std::mutex mu;
  std::bitset<WorkerIdAllocator::kMaxWorkerId + 1> ids;  // guarded by mu
};

InUse& ProcessIds() {
  // Leaked on purpose: allocators released during static destruction still find it.
  static auto* in_use = new InUse;
  return *in_use;
}

}  // namespace

MemoryWorkerIdAllocator::~MemoryWorkerIdAllocator() { Release(); }

Result<int> MemoryWorkerIdAllocator::Lease() {
  std::lock_guard lock(mu_);
  if (id_ >= 0) return id_;
  InUse& in_use = ProcessIds();
  std::lock_guard ids_lock(in_use.mu);
  for (int id = 0; id <= kMaxWorkerId; ++id) {
    if (!in_use.ids.test(id)) {
      in_use.ids.set(id);
      id_ = id;
      return id;
    }
  }
  return ResourceExhausted("all " + std::to_string(kMaxWorkerId + 1) +
                           " worker ids are in use in this process");
}

Status MemoryWorkerIdAllocator::Renew() {
  std::lock_guard lock(mu_);
  if (id_ < 0) return FailedPrecondition("no worker id is leased");
  return Status::Ok();
}

void MemoryWorkerIdAllocator::Release() {
  std::lock_guard lock(mu_);
  if (id_ < 0) return;
  InUse& in_use = ProcessIds();
  std::lock_guard ids_lock(in_use.mu);
  in_use.ids.reset(id_);
  id_ = -1;
}

int MemoryWorkerIdAllocator::id() const {
  std::lock_guard lock(mu_);
  return id_;
}

}  // namespace slipway::cluster::memory
