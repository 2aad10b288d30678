// SubscriberLoop: the receiving side that the networked sync buses share (redis/, database/).
//
// It owns the bus's receiving thread, which calls the bus's `run` until Stop(); the eventfd that
// Subscribe() and Stop() write to wake a session's poll(); and the bus's status, with one log
// line per loss and one per recovery (the bus says what its transport is called and where it
// is). The bus's `run` opens a session, receives until it ends or stopping(), reports with
// SetConnected, and waits between attempts with SleepUnlessStopped. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "cluster/sync_bus.h"

namespace slipway::cluster {

// What the log lines say about a bus's receiving session.
struct SubscriberLogLines {
  std::string connected;    // the first connection after being unreachable
  std::string reconnected;  // a connection after a loss
  std::string lost;         // a connection lost
  std::string unreachable;  // never connected yet, and this attempt failed
  std::string where_key;    // the log field naming the server ("url", "database")
  std::string where;        // its value
};

class SubscriberLoop {
 public:
  SubscriberLoop(std::string backend, SubscriberLogLines lines);
  ~SubscriberLoop();  // Stop()
  SubscriberLoop(const SubscriberLoop&) = delete;
  SubscriberLoop& operator=(const SubscriberLoop&) = delete;

  // Starts the thread that calls `run` once (it loops until stopping()). Idempotent.
  void Start(std::function<void()> run);
  // Asks `run` to end, wakes it, joins the thread. Idempotent.
  void Stop();
  bool stopping() const { return stopping_.load(); }

  // Wakes a poll() on wake_fd() (a new subscription, Stop()).
  void Wake();
  int wake_fd() const { return wake_fd_; }
  // Clears the wake-up after a poll() found wake_fd() readable.
  void ClearWake();
  // Sleeps up to `d`; false when Stop() was called meanwhile.
  bool SleepUnlessStopped(std::chrono::milliseconds d);

  void SetConnected(bool connected, const std::string& error);
  BusStatus status() const;

 private:
  using Clock = std::chrono::steady_clock;

  const SubscriberLogLines lines_;
  const int wake_fd_;
  std::atomic<bool> stopping_{false};
  std::mutex lifecycle_mu_;  // serializes Start() and Stop(); guards thread_
  std::thread thread_;
  mutable std::mutex status_mu_;
  BusStatus status_;                // guarded by status_mu_
  bool ever_connected_ = false;     // guarded by status_mu_
  Clock::time_point down_since_{};  // guarded by status_mu_
  bool down_logged_ = false;        // guarded by status_mu_
};

}  // namespace slipway::cluster
