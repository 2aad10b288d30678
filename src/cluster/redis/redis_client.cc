#include "cluster/redis/redis_client.h"

#include "core/clock.h"
#include "core/logging.h"

namespace slipway::cluster::redis {
namespace {

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

RedisClient::RedisClient(RedisUrl url, RedisClientOptions options)
    : url_(std::move(url)),
      options_(std::move(options)),
      backoff_(options_.backoff_initial, options_.backoff_max) {}

RedisClient::~RedisClient() = default;

void RedisClient::MarkLostLocked(const Status& why) {
  conn_.reset();
  last_error_ = why.message();
  next_attempt_ = Clock::now();  // the next call tries at once; failures then back off
  if (!down_) {
    down_ = true;
    down_since_ = Clock::now();
    core::log::Warn("redis connection lost",
                    {{"client", options_.name}, {"url", url_.Address()}, {"error", why.message()}});
  }
}

Result<RedisConnection*> RedisClient::ConnectionLocked() {
  if (conn_ && (conn_->broken() || conn_->PeerClosed())) {
    MarkLostLocked(Unreachable(url_, "the server closed the connection"));
  }
  if (conn_) return conn_.get();

  auto now = Clock::now();
  if (now < next_attempt_) {
    return Unavailable(last_error_ + " (next attempt in " +
                       std::to_string(core::ToMillis(next_attempt_ - now)) + " ms)");
  }
  auto opened = RedisConnection::Open(url_, options_.timeout);
  if (!opened.ok()) {
    auto delay = backoff_.Next();
    next_attempt_ = Clock::now() + delay;
    last_error_ = opened.status().message();
    if (!down_) {
      down_ = true;
      down_since_ = now;
      core::log::Warn("redis unreachable", {{"client", options_.name},
                                            {"url", url_.Address()},
                                            {"error", last_error_},
                                            {"retry_in_ms", static_cast<int64_t>(delay.count())}});
    }
    return std::move(opened).TakeStatus();
  }
  conn_ = std::move(opened).value();
  backoff_.Reset();
  if (down_) {
    down_ = false;
    if (ever_connected_) ++reconnects_;
    core::log::Info("redis reconnected", {{"client", options_.name},
                                          {"url", url_.Address()},
                                          {"down_ms", core::ToMillis(Clock::now() - down_since_)}});
  }
  ever_connected_ = true;
  return conn_.get();
}

Result<Reply> RedisClient::Command(std::vector<std::string> argv) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(RedisConnection * conn, ConnectionLocked());
  Result<Reply> reply = conn->Command(argv);
  if (!reply.ok() && conn->broken()) MarkLostLocked(reply.status());
  return reply;
}

Result<Reply> RedisClient::Call(std::vector<std::string> argv) {
  std::string name = argv.empty() ? "" : argv[0];
  ASSIGN_OR_RETURN(Reply reply, Command(std::move(argv)));
  if (!reply.is_error()) return reply;
  std::string message = "redis " + name + " at " + url_.Address() + " failed: " + reply.str;
  if (StartsWith(reply.str, "NOAUTH") || StartsWith(reply.str, "WRONGPASS")) {
    return Unauthenticated(message);
  }
  for (std::string_view transient : {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN"}) {
    if (StartsWith(reply.str, transient)) return Unavailable(message);
  }
  return Internal(message);
}

bool RedisClient::connected() const {
  std::lock_guard lock(mu_);
  return conn_ != nullptr && !conn_->broken();
}

std::string RedisClient::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

int64_t RedisClient::reconnects() const {
  std::lock_guard lock(mu_);
  return reconnects_;
}

std::vector<std::string> EvalArgs(std::string_view script, std::string key,
                                  std::vector<std::string> args) {
  std::vector<std::string> argv = {"EVAL", std::string(script), "1", std::move(key)};
  for (auto& a : args) argv.push_back(std::move(a));
  return argv;
}

}  // namespace slipway::cluster::redis
