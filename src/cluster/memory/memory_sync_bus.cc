#include "cluster/memory/memory_sync_bus.h"

#include <algorithm>

namespace slipway::cluster::memory {

std::shared_ptr<MemorySyncHub> MemorySyncHub::Default() {
  // Shared by every bus made without an explicit hub; leaked on purpose so that buses destroyed
  // during static destruction still find it.
  static auto* hub = new std::shared_ptr<MemorySyncHub>(std::make_shared<MemorySyncHub>());
  return *hub;
}

void MemorySyncHub::Deliver(const std::string& channel, const std::string& payload) {
  std::lock_guard lock(mu_);
  for (MemorySyncBus* bus : buses_) bus->Enqueue(channel, payload);
}

void MemorySyncHub::Attach(MemorySyncBus* bus) {
  std::lock_guard lock(mu_);
  buses_.push_back(bus);
}

void MemorySyncHub::Detach(MemorySyncBus* bus) {
  std::lock_guard lock(mu_);
  buses_.erase(std::remove(buses_.begin(), buses_.end(), bus), buses_.end());
}

MemorySyncBus::MemorySyncBus(std::string node_id, std::shared_ptr<MemorySyncHub> hub)
    : hub_(std::move(hub)), handlers_(std::move(node_id)) {}

MemorySyncBus::~MemorySyncBus() { Stop(); }

Status MemorySyncBus::Publish(const std::string& channel, const boost::json::value& message) {
  hub_->Deliver(channel, EncodeEnvelope(handlers_.node_id(), message));
  return Status::Ok();
}

void MemorySyncBus::Subscribe(const std::string& channel, Handler handler) {
  handlers_.Add(channel, std::move(handler));
}

void MemorySyncBus::Start() {
  std::lock_guard lifecycle(lifecycle_mu_);
  {
    std::lock_guard lock(mu_);
    if (running_) return;
    running_ = true;
    since_ = std::chrono::system_clock::now();
  }
  thread_ = std::thread([this] { Run(); });
  hub_->Attach(this);
}

void MemorySyncBus::Stop() {
  std::lock_guard lifecycle(lifecycle_mu_);
  // Detached first, so that no Deliver() touches this bus once Stop() returns.
  hub_->Detach(this);
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    running_ = false;
    since_ = std::chrono::system_clock::now();
    queue_.clear();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MemorySyncBus::Enqueue(const std::string& channel, const std::string& payload) {
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    queue_.emplace_back(channel, payload);
  }
  wake_.notify_one();
}

void MemorySyncBus::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [this] { return !running_ || !queue_.empty(); });
    if (!running_) return;
    auto [channel, payload] = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    handlers_.Dispatch(channel, payload);
    lock.lock();
  }
}

BusStatus MemorySyncBus::status() const {
  std::lock_guard lock(mu_);
  BusStatus s;
  s.backend = "memory";
  s.connected = running_;
  s.since = since_;
  return s;
}

}  // namespace slipway::cluster::memory
