// The in-process WorkerIdAllocator (worker_ids.h): ids are unique within this process, through a
// process-wide set of ids in use. Lease() takes the lowest free id. A lease never expires and is
// never lost; Renew() only checks that one is held. Thread-safe.
#pragma once

#include <mutex>

#include "cluster/worker_ids.h"

namespace slipway::cluster::memory {

class MemoryWorkerIdAllocator final : public WorkerIdAllocator {
 public:
  MemoryWorkerIdAllocator() = default;
  ~MemoryWorkerIdAllocator() override;

  Result<int> Lease() override;
  Status Renew() override;
  void Release() override;
  int id() const override;
  bool lost() const override { return false; }
  std::string_view backend() const override { return "memory"; }

 private:
  mutable std::mutex mu_;
  int id_ = -1;  // guarded by mu_
};

}  // namespace slipway::cluster::memory
