#include "cluster/subscriber_loop.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include "core/clock.h"
#include "core/logging.h"

namespace slipway::cluster {

SubscriberLoop::SubscriberLoop(std::string backend, SubscriberLogLines lines)
    : lines_(std::move(lines)), wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  status_.backend = std::move(backend);
}

SubscriberLoop::~SubscriberLoop() {
  Stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void SubscriberLoop::Start(std::function<void()> run) {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  {
    std::lock_guard lock(status_mu_);
    status_.connected = false;
    status_.since = std::chrono::system_clock::now();
    down_logged_ = false;
  }
  thread_ = std::thread(std::move(run));
}

void SubscriberLoop::Stop() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (!thread_.joinable()) return;
  stopping_ = true;
  Wake();
  thread_.join();
  std::lock_guard lock(status_mu_);
  status_.connected = false;
  status_.since = std::chrono::system_clock::now();
}

void SubscriberLoop::Wake() {
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
}

void SubscriberLoop::ClearWake() {
  uint64_t count;
  (void)!::read(wake_fd_, &count, sizeof(count));
}

bool SubscriberLoop::SleepUnlessStopped(std::chrono::milliseconds d) {
  auto until = Clock::now() + d;
  while (!stopping_) {
    auto left = until - Clock::now();
    if (left <= Clock::duration::zero()) return true;
    pollfd p{wake_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(core::ToMillis(left), 1))) > 0) {
      ClearWake();
    }
  }
  return false;
}

void SubscriberLoop::SetConnected(bool connected, const std::string& error) {
  std::lock_guard lock(status_mu_);
  if (connected) {
    if (status_.connected) return;
    status_.connected = true;
    status_.since = std::chrono::system_clock::now();
    if (ever_connected_) ++status_.reconnects;
    if (down_logged_) {
      core::log::Info(ever_connected_ ? lines_.reconnected : lines_.connected,
                      {{lines_.where_key, lines_.where},
                       {"down_ms", core::ToMillis(Clock::now() - down_since_)},
                       {"reconnects", status_.reconnects}});
    }
    ever_connected_ = true;
    down_logged_ = false;
    return;
  }
  status_.last_error = error;
  if (status_.connected || !down_logged_) {
    if (status_.connected) {
      status_.connected = false;
      status_.since = std::chrono::system_clock::now();
    }
    down_since_ = Clock::now();
    down_logged_ = true;
    core::log::Warn(ever_connected_ ? lines_.lost : lines_.unreachable,
                    {{lines_.where_key, lines_.where}, {"error", error}});
  }
}

BusStatus SubscriberLoop::status() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

}  // namespace slipway::cluster
