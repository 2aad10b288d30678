#include "cluster/redis/redis_cache.h"

namespace slipway::cluster::redis {

RedisCache::RedisCache(std::unique_ptr<RedisClient> client) : client_(std::move(client)) {}

Result<std::optional<std::string>> RedisCache::Get(const std::string& key) {
  ASSIGN_OR_RETURN(Reply reply, client_->Call({"GET", Key(key)}));
  if (reply.is_nil()) return std::optional<std::string>();
  if (!reply.is_string()) return Internal("cache GET: unexpected reply " + reply.ToString());
  return std::optional<std::string>(std::move(reply.str));
}

Status RedisCache::Set(const std::string& key, const std::string& value,
                       std::chrono::milliseconds ttl) {
  if (ttl.count() < 0) return InvalidArgument("cache ttl must not be negative");
  std::vector<std::string> argv = {"SET", Key(key), value};
  if (ttl.count() > 0) {
    argv.push_back("PX");
    argv.push_back(std::to_string(ttl.count()));
  }
  ASSIGN_OR_RETURN(Reply reply, client_->Call(std::move(argv)));
  if (!reply.is_status("OK")) return Internal("cache SET: unexpected reply " + reply.ToString());
  return Status::Ok();
}

Status RedisCache::Del(const std::string& key) {
  ASSIGN_OR_RETURN(Reply reply, client_->Call({"DEL", Key(key)}));
  (void)reply;
  return Status::Ok();
}

}  // namespace slipway::cluster::redis
