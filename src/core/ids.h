// Identifiers: random UUIDs and time-ordered Snowflake ids for primary keys.
//
// NewUuidV4() draws 122 random bits from libsodium (the operating system's CSPRNG) and is safe to
// call from any thread.
//
// SnowflakeGenerator issues 64-bit ids laid out, from the most significant bit:
//
//   1 bit   always 0, so ids are positive int64 values
//   41 bits milliseconds since kEpochUnixMs (2024-01-01T00:00:00Z); runs out on 2093-09-06
//   10 bits worker id, 0..1023
//   12 bits sequence within the millisecond, 0..4095
//
// Ids from one generator strictly increase. Ids from several generators (threads share one;
// nodes each have their own) are unique only if every live generator has a distinct worker id:
// the cluster module leases worker ids to nodes; this class does not check. A process restart
// forgets the last timestamp, so a lease must not hand a worker id back to a restarting node
// while its clock may lag the ids it already issued.
//
// Beyond 2^31 ms after the epoch (24 days) every id exceeds 2^53, JavaScript's largest exact
// integer: the HTTP layer must send them as strings to JavaScript clients. (NocoBase's own
// generator uses a 53-bit layout with second resolution for this reason.)
//
// Thread safety: every method may be called concurrently; a mutex orders the calls. The clock is
// called with that mutex held, from whichever thread calls Next().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "slipway/status.h"

namespace slipway::core {

// A random (version 4, RFC 4122 variant) UUID in canonical lower-case form,
// "xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx". Aborts the process if libsodium cannot initialise
// (no system random source): an id that could repeat is worse than no id.
std::string NewUuidV4();

class SnowflakeGenerator {
 public:
  // Returns the current time in milliseconds since the Unix epoch.
  using Clock = std::function<int64_t()>;

  static constexpr int64_t kEpochUnixMs = 1704067200000;  // 2024-01-01T00:00:00Z
  static constexpr int kSequenceBits = 12;
  static constexpr int kWorkerIdBits = 10;
  static constexpr int kWorkerIdShift = kSequenceBits;
  static constexpr int kTimestampShift = kSequenceBits + kWorkerIdBits;
  static constexpr int kMaxWorkerId = (1 << kWorkerIdBits) - 1;
  static constexpr int kNoWorkerId = -1;
  static constexpr int kMaxSequence = (1 << kSequenceBits) - 1;
  static constexpr int64_t kMaxTimestamp = (int64_t{1} << 41) - 1;
  // How long Next() waits for the clock to pass the last timestamp before giving up. A sequence
  // overflow costs at most 1 ms; only a clock that went backwards makes the wait longer.
  static constexpr std::chrono::milliseconds kDefaultMaxClockWait{1000};

  // The system clock (std::chrono::system_clock) as Unix milliseconds.
  static int64_t SystemClockMs();

  // Fails with InvalidArgument when `worker_id` is outside 0..kMaxWorkerId.
  static Result<std::unique_ptr<SnowflakeGenerator>> Create(
      int worker_id, Clock clock = SystemClockMs,
      std::chrono::milliseconds max_clock_wait = kDefaultMaxClockWait);

  SnowflakeGenerator(const SnowflakeGenerator&) = delete;
  SnowflakeGenerator& operator=(const SnowflakeGenerator&) = delete;

  // Returns an id greater than every id this generator issued before.
  //
  // When 4096 ids were issued in the current millisecond it waits for the next one. When the
  // clock reads earlier than the last id's millisecond (it moved backwards) it keeps counting in
  // that last millisecond, and waits for the clock only if that millisecond is full too.
  // Fails with Unavailable (retry later) when such a wait exceeds `max_clock_wait`, and with
  // FailedPrecondition when the clock reads before 2024-01-01 (before any id was issued) or after
  // the layout's last millisecond in 2093.
  Result<int64_t> Next();

  // Changes the worker id for the following ids. Those ids use a later millisecond than every id
  // issued before, so they still increase and cannot repeat an earlier id of this generator.
  // kNoWorkerId suspends the generator (a node that lost its lease): Next() fails with
  // Unavailable until a worker id is set again.
  // Fails with InvalidArgument when `worker_id` is outside 0..kMaxWorkerId and not kNoWorkerId.
  Status set_worker_id(int worker_id);
  int worker_id() const;

 private:
  SnowflakeGenerator(int worker_id, Clock clock, std::chrono::milliseconds max_clock_wait);

  const Clock clock_;
  const std::chrono::milliseconds max_clock_wait_;
  mutable std::mutex mu_;
  // Guarded by mu_.
  int worker_id_;
  int64_t last_timestamp_ = -1;  // ms since kEpochUnixMs of the last id; -1 before the first
  int sequence_ = 0;             // of the last id
};

}  // namespace slipway::core
