// FailureLimiter: counts failed sign-ins per key (an account, a client address) over a sliding
// window, and says how long a key must wait once it reached the limit. The sign-in path asks
// before it hashes anything, so a blocked attempt costs no Argon2id work.
//
// Memory is bounded: at most `max_keys` keys are remembered (those whose failures all left the
// window go first, then any), each with at most `max_failures` times. Counts are per process:
// with N nodes behind a round-robin load balancer a client gets up to N times the limit.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace slipway::auth {

class FailureLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  FailureLimiter(int max_failures, std::chrono::milliseconds window, size_t max_keys = 100'000)
      : max_failures_(max_failures < 1 ? 1 : max_failures), window_(window), max_keys_(max_keys) {}

  // Whole seconds (at least 1) until `key` may try again; 0 when it may try now.
  int64_t RetryAfter(const std::string& key, Clock::time_point now = Clock::now());
  void RecordFailure(const std::string& key, Clock::time_point now = Clock::now());
  // A success forgets the key's failures.
  void Reset(const std::string& key);

 private:
  void Prune(std::deque<Clock::time_point>& times, Clock::time_point now) const;
  void MakeRoom(Clock::time_point now);

  const int max_failures_;
  const std::chrono::milliseconds window_;
  const size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, std::deque<Clock::time_point>> failures_;
};

// The client's address: the peer, or, when the peer is one of `trusted_proxies`, the last
// address in X-Forwarded-For that is not itself a trusted proxy.
std::string ClientAddress(std::string_view peer, std::string_view forwarded_for,
                          const std::vector<std::string>& trusted_proxies);

}  // namespace slipway::auth
