#include "cluster/redis/redis_sync_bus.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/clock.h"
#include "core/logging.h"

namespace slipway::cluster::redis {
// One subscriber connection, from SUBSCRIBE until it is lost or the bus stops.
class RedisSyncBus::Session {
 public:
  Session(RedisSyncBus& bus, RedisConnection& conn, Backoff& backoff)
      : bus_(bus), conn_(conn), backoff_(backoff) {}

  // Returns OK when the bus stops, else why the connection was lost.
  Status Serve() {
    last_rx_ = last_ping_ = Clock::now();
    RETURN_IF_ERROR(SubscribeNewChannels());
    if (sent_.empty()) Connected();
    while (!bus_.stopping_) {
      while (true) {
        ASSIGN_OR_RETURN(std::optional<Reply> reply, conn_.TakeReply());
        if (!reply) break;
        Handle(*reply);
        if (bus_.stopping_) return Status::Ok();
      }
      RETURN_IF_ERROR(SubscribeNewChannels());
      auto now = Clock::now();
      auto quiet = now - last_rx_;
      auto limit = bus_.options_.ping_interval + bus_.options_.timeout;
      if (quiet > limit) {
        return Unreachable(conn_.url(), "no answer to PING within " +
                                            std::to_string(bus_.options_.timeout.count()) + " ms");
      }
      if (quiet >= bus_.options_.ping_interval && now - last_ping_ >= bus_.options_.ping_interval) {
        RETURN_IF_ERROR(conn_.Send({"PING"}));
        last_ping_ = now;
      }
      auto next_check = std::min(last_ping_ + bus_.options_.ping_interval, last_rx_ + limit);
      int wait_ms =
          static_cast<int>(std::clamp<int64_t>(core::ToMillis(next_check - now) + 1, 1, 1000));
      pollfd fds[2] = {{conn_.fd(), POLLIN, 0}, {bus_.wake_fd_, POLLIN, 0}};
      int n = ::poll(fds, 2, wait_ms);
      if (n < 0 && errno != EINTR) {
        return Unreachable(conn_.url(), std::string("poll failed: ") + std::strerror(errno));
      }
      if (n <= 0) continue;
      if (fds[1].revents & POLLIN) {
        uint64_t count;
        (void)!::read(bus_.wake_fd_, &count, sizeof(count));
      }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        RETURN_IF_ERROR(conn_.ReadSome());
        last_rx_ = Clock::now();
      }
    }
    return Status::Ok();
  }

 private:
  Status SubscribeNewChannels() {
    std::vector<std::string> argv = {"SUBSCRIBE"};
    for (const std::string& channel : bus_.handlers_.Channels()) {
      if (sent_.insert(channel).second) argv.push_back(std::string(kChannelPrefix) + channel);
    }
    if (argv.size() == 1) return Status::Ok();
    return conn_.Send(argv);
  }

  void Handle(const Reply& reply) {
    if (reply.is_error()) {
      core::log::Warn("redis subscriber got an error",
                      {{"url", conn_.url().Address()}, {"error", reply.str}});
      return;
    }
    if (!reply.is_array() || reply.elements.empty()) return;
    const std::string& kind = reply.elements[0].str;
    if (kind == "message" && reply.elements.size() == 3) {
      const std::string& channel = reply.elements[1].str;
      if (channel.rfind(kChannelPrefix, 0) != 0) return;
      bus_.handlers_.Dispatch(channel.substr(kChannelPrefix.size()), reply.elements[2].str);
    } else if (kind == "subscribe") {
      if (++confirmed_ >= sent_.size()) Connected();
    }
    // "pong": last_rx_ was updated by the read.
  }

  void Connected() {
    backoff_.Reset();
    bus_.SetConnected(true, "");
  }

  RedisSyncBus& bus_;
  RedisConnection& conn_;
  Backoff& backoff_;
  std::set<std::string> sent_;  // channels SUBSCRIBE was sent for
  size_t confirmed_ = 0;
  Clock::time_point last_rx_, last_ping_;
};

RedisSyncBus::RedisSyncBus(RedisUrl url, std::string node_id, RedisSyncBusOptions options)
    : url_(url),
      options_(options),
      publisher_(url, RedisClientOptions{"pubsub", options.timeout, options.backoff_initial,
                                         options.backoff_max}),
      handlers_(std::move(node_id)),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  status_.backend = "redis";
}

RedisSyncBus::~RedisSyncBus() {
  Stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status RedisSyncBus::Publish(const std::string& channel, const boost::json::value& message) {
  ASSIGN_OR_RETURN(Reply reply, publisher_.Call({"PUBLISH", std::string(kChannelPrefix) + channel,
                                                 EncodeEnvelope(handlers_.node_id(), message)}));
  (void)reply;  // the number of receivers (including ourselves): not a delivery guarantee
  return Status::Ok();
}

void RedisSyncBus::Subscribe(const std::string& channel, Handler handler) {
  handlers_.Add(channel, std::move(handler));
  Wake();
}

void RedisSyncBus::Wake() {
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
}

void RedisSyncBus::Start() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  {
    std::lock_guard lock(status_mu_);
    status_.connected = false;
    status_.since = std::chrono::system_clock::now();
    down_logged_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void RedisSyncBus::Stop() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (!thread_.joinable()) return;
  stopping_ = true;
  Wake();
  thread_.join();
  std::lock_guard lock(status_mu_);
  status_.connected = false;
  status_.since = std::chrono::system_clock::now();
}

bool RedisSyncBus::SleepUnlessStopped(std::chrono::milliseconds d) {
  auto until = Clock::now() + d;
  while (!stopping_) {
    auto left = until - Clock::now();
    if (left <= Clock::duration::zero()) return true;
    pollfd p{wake_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(core::ToMillis(left), 1))) > 0) {
      uint64_t count;
      (void)!::read(wake_fd_, &count, sizeof(count));
    }
  }
  return false;
}

void RedisSyncBus::Run() {
  Backoff backoff(options_.backoff_initial, options_.backoff_max);
  while (!stopping_) {
    auto opened = RedisConnection::Open(url_, options_.timeout);
    if (!opened.ok()) {
      auto delay = backoff.Next();
      SetConnected(false, opened.status().message());
      if (!SleepUnlessStopped(delay)) return;
      continue;
    }
    Session session(*this, **opened, backoff);
    Status ended = session.Serve();
    if (stopping_) return;
    // Reconnect at once; failures from here on back off.
    SetConnected(false, ended.message());
  }
}

void RedisSyncBus::SetConnected(bool connected, const std::string& error) {
  std::lock_guard lock(status_mu_);
  if (connected) {
    if (status_.connected) return;
    status_.connected = true;
    status_.since = std::chrono::system_clock::now();
    if (ever_connected_) ++status_.reconnects;
    if (down_logged_) {
      core::log::Info(
          ever_connected_ ? "redis subscriber reconnected" : "redis subscriber connected",
          {{"url", url_.Address()},
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
    core::log::Warn(ever_connected_ ? "redis subscriber disconnected" : "redis unreachable",
                    {{"client", "subscriber"}, {"url", url_.Address()}, {"error", error}});
  }
}

BusStatus RedisSyncBus::status() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

}  // namespace slipway::cluster::redis
