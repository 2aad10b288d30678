#include "core/ids.h"

#include <sodium.h>

#include <cstdlib>
#include <thread>
#include <utility>

#include "core/sodium.h"

namespace slipway::core {
namespace {

Status CheckWorkerId(int worker_id) {
  if (worker_id < 0 || worker_id > SnowflakeGenerator::kMaxWorkerId) {
    return InvalidArgument("worker id " + std::to_string(worker_id) + " is outside 0.." +
                           std::to_string(SnowflakeGenerator::kMaxWorkerId));
  }
  return Status::Ok();
}

}  // namespace

std::string NewUuidV4() {
  if (!SodiumReady()) std::abort();
  unsigned char b[16];
  randombytes_buf(b, sizeof(b));
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // variant 10xx (RFC 4122)
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0x0f];
  }
  return out;
}

int64_t SnowflakeGenerator::SystemClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<SnowflakeGenerator>> SnowflakeGenerator::Create(
    int worker_id, Clock clock, std::chrono::milliseconds max_clock_wait) {
  RETURN_IF_ERROR(CheckWorkerId(worker_id));
  if (!clock) return InvalidArgument("snowflake clock is empty");
  return std::unique_ptr<SnowflakeGenerator>(
      new SnowflakeGenerator(worker_id, std::move(clock), max_clock_wait));
}

SnowflakeGenerator::SnowflakeGenerator(int worker_id, Clock clock,
                                       std::chrono::milliseconds max_clock_wait)
    : clock_(std::move(clock)), max_clock_wait_(max_clock_wait), worker_id_(worker_id) {}

Result<int64_t> SnowflakeGenerator::Next() {
  std::lock_guard lock(mu_);
  if (worker_id_ == kNoWorkerId) {
    return Unavailable("this node holds no worker id lease, so it cannot issue unique ids now");
  }
  int64_t now = clock_() - kEpochUnixMs;
  if (last_timestamp_ < 0 && now < 0) {
    return FailedPrecondition("the clock reads before 2024-01-01, the id epoch");
  }
  if (now <= last_timestamp_ && sequence_ < kMaxSequence) {
    // Same millisecond, or the clock moved backwards: keep counting in the last millisecond.
    ++sequence_;
  } else {
    const auto deadline = std::chrono::steady_clock::now() + max_clock_wait_;
    while (now <= last_timestamp_) {  // the last millisecond is full
      if (std::chrono::steady_clock::now() >= deadline) {
        return Unavailable("the clock is " + std::to_string(last_timestamp_ - now) +
                           " ms behind the last id after waiting " +
                           std::to_string(max_clock_wait_.count()) + " ms");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      now = clock_() - kEpochUnixMs;
    }
    if (now > kMaxTimestamp) {
      return FailedPrecondition("the clock reads past 2093-09-06, the end of the id layout");
    }
    last_timestamp_ = now;
    sequence_ = 0;
  }
  return (last_timestamp_ << kTimestampShift) | (int64_t{worker_id_} << kWorkerIdShift) | sequence_;
}

Status SnowflakeGenerator::set_worker_id(int worker_id) {
  if (worker_id != kNoWorkerId) RETURN_IF_ERROR(CheckWorkerId(worker_id));
  std::lock_guard lock(mu_);
  worker_id_ = worker_id;
  // Mark the current millisecond full, so the next id moves to a later one.
  sequence_ = kMaxSequence;
  return Status::Ok();
}

int SnowflakeGenerator::worker_id() const {
  std::lock_guard lock(mu_);
  return worker_id_;
}

}  // namespace slipway::core
