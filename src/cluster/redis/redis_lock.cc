#include "cluster/redis/redis_lock.h"

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
