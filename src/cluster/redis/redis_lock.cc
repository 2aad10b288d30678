#include "cluster/redis/redis_lock.h"

#include <algorithm>
#include <thread>

#include "core/ids.h"

namespace slipway::cluster::redis {
namespace {

Status CheckArgs(const std::string& name, std::chrono::milliseconds ttl) {
  if (name.empty()) return InvalidArgument("lock name is empty");
  if (ttl.count() <= 0) return InvalidArgument("lock ttl must be positive");
  return Status::Ok();
}

Result<bool> ScriptAnswer(const Reply& reply, const std::string& name) {
  if (!reply.is_integer()) {
    return Internal("lock '" + name + "': unexpected reply " + reply.ToString());
  }
  return reply.integer == 1;
}

}  // namespace

RedisLeaseLock::RedisLeaseLock(std::unique_ptr<RedisClient> client) : client_(std::move(client)) {}

Result<std::optional<std::string>> RedisLeaseLock::TryAcquire(const std::string& name,
                                                              std::chrono::milliseconds ttl) {
  RETURN_IF_ERROR(CheckArgs(name, ttl));
  std::string token = core::NewUuidV4();
  ASSIGN_OR_RETURN(Reply reply, client_->Call({"SET", Key(name), token, "NX", "PX",
                                               std::to_string(ttl.count())}));
  if (reply.is_nil()) return std::optional<std::string>();
  if (!reply.is_status("OK")) {
    return Internal("lock '" + name + "': unexpected reply " + reply.ToString());
  }
  return std::optional<std::string>(std::move(token));
}

Result<std::string> RedisLeaseLock::Acquire(const std::string& name, std::chrono::milliseconds ttl,
                                            std::chrono::milliseconds wait) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + wait;
  std::chrono::milliseconds pause(10);
  while (true) {
    ASSIGN_OR_RETURN(std::optional<std::string> token, TryAcquire(name, ttl));
    if (token) return std::move(*token);
    auto now = Clock::now();
    if (now >= deadline) {
      return Unavailable("lock '" + name + "' is held by another owner (waited " +
                         std::to_string(wait.count()) + " ms)");
    }
    std::this_thread::sleep_for(
        std::min<Clock::duration>(pause, deadline - now + std::chrono::milliseconds(1)));
    pause = std::min(pause * 2, std::chrono::milliseconds(200));
  }
}

Result<bool> RedisLeaseLock::Extend(const std::string& name, const std::string& token,
                                    std::chrono::milliseconds ttl) {
  RETURN_IF_ERROR(CheckArgs(name, ttl));
  ASSIGN_OR_RETURN(Reply reply, client_->Call(EvalArgs(kExtendIfOwnerScript, Key(name),
                                                       {token, std::to_string(ttl.count())})));
  return ScriptAnswer(reply, name);
}

Result<bool> RedisLeaseLock::Release(const std::string& name, const std::string& token) {
  if (name.empty()) return InvalidArgument("lock name is empty");
  ASSIGN_OR_RETURN(Reply reply, client_->Call(EvalArgs(kDeleteIfOwnerScript, Key(name), {token})));
  return ScriptAnswer(reply, name);
}

}  // namespace slipway::cluster::redis
