// SchemaLock: the one-writer-of-schema rule (DESIGN section 2, rule 1).
//
// Install, upgrade, plugin changes, restore and import run while holding it. Implementations
// are chosen so that a crashed holder never leaves a stale lock: on SQLite an flock() on a file
// beside the database (the kernel drops it with the process), on PostgreSQL a session advisory
// lock on a dedicated connection (the server drops it with the session).
//
// One SchemaLock object is used by one thread at a time.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "slipway/status.h"

namespace slipway::db {

class SchemaLock {
 public:
  virtual ~SchemaLock() = default;
  // Waits up to `timeout` for the lock, trying every 50 ms. Unavailable, naming the lock, when
  // another holder kept it that long.
  Status Acquire(std::chrono::milliseconds timeout);
  // Takes the lock only if free now; false when someone else holds it.
  virtual Result<bool> TryAcquire() = 0;
  virtual void Release() = 0;
  virtual bool held() const = 0;
  // The lock and what holds it, for messages: "the schema lock (advisory lock 42 on h:5432/db,
  // held per session)".
  virtual std::string Describe() const = 0;
};

// flock()-based lock on `path` (created when missing). Works between processes on one host.
std::unique_ptr<SchemaLock> MakeFileSchemaLock(std::filesystem::path path);

// Holds a SchemaLock for a scope.
class SchemaLockGuard {
 public:
  explicit SchemaLockGuard(SchemaLock& lock) : lock_(lock) {}
  ~SchemaLockGuard() {
    if (lock_.held()) lock_.Release();
  }
  SchemaLockGuard(const SchemaLockGuard&) = delete;
  SchemaLockGuard& operator=(const SchemaLockGuard&) = delete;

 private:
  SchemaLock& lock_;
};

}  // namespace slipway::db
