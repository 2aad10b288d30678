#include "cluster/redis/redis_sync_bus.h"

#include <poll.h>
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
    while (!bus_.loop_.stopping()) {
      while (true) {
        ASSIGN_OR_RETURN(std::optional<Reply> reply, conn_.TakeReply());
        if (!reply) break;
        Handle(*reply);
        if (bus_.loop_.stopping()) return Status::Ok();
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
      pollfd fds[2] = {{conn_.fd(), POLLIN, 0}, {bus_.loop_.wake_fd(), POLLIN, 0}};
      int n = ::poll(fds, 2, wait_ms);
      if (n < 0 && errno != EINTR) {
        return Unreachable(conn_.url(), std::string("poll failed: ") + std::strerror(errno));
      }
      if (n <= 0) continue;
      if (fds[1].revents & POLLIN) {
        bus_.loop_.ClearWake();
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
    bus_.loop_.SetConnected(true, "");
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
      loop_("redis",
            SubscriberLogLines{"redis subscriber connected", "redis subscriber reconnected",
                               "redis subscriber disconnected", "redis unreachable", "url",
                               url_.Address()}) {}

RedisSyncBus::~RedisSyncBus() { Stop(); }

Status RedisSyncBus::Publish(const std::string& channel, const boost::json::value& message) {
  ASSIGN_OR_RETURN(Reply reply, publisher_.Call({"PUBLISH", std::string(kChannelPrefix) + channel,
                                                 EncodeEnvelope(handlers_.node_id(), message)}));
  (void)reply;  // the number of receivers (including ourselves): not a delivery guarantee
  return Status::Ok();
}

void RedisSyncBus::Subscribe(const std::string& channel, Handler handler) {
  handlers_.Add(channel, std::move(handler));
  loop_.Wake();
}

void RedisSyncBus::Start() {
  loop_.Start([this] { Run(); });
}

void RedisSyncBus::Stop() { loop_.Stop(); }

BusStatus RedisSyncBus::status() const { return loop_.status(); }

void RedisSyncBus::Run() {
  Backoff backoff(options_.backoff_initial, options_.backoff_max);
  while (!loop_.stopping()) {
    auto opened = RedisConnection::Open(url_, options_.timeout);
    if (!opened.ok()) {
      auto delay = backoff.Next();
      loop_.SetConnected(false, opened.status().message());
      if (!loop_.SleepUnlessStopped(delay)) return;
      continue;
    }
    Session session(*this, **opened, backoff);
    Status ended = session.Serve();
    if (loop_.stopping()) return;
    // Reconnect at once; failures from here on back off.
    loop_.SetConnected(false, ended.message());
  }
}

}  // namespace slipway::cluster::redis
