// The Redis Cache (cache.h): GET / SET [PX ttl] / DEL on keys "slipway:cache:<key>", shared by
// every node using the same Redis. Fails with Unavailable when Redis is unreachable (see
// redis_client.h). Thread-safe.
#pragma once

#include <memory>

#include "cluster/cache.h"
#include "cluster/redis/redis_client.h"

namespace slipway::cluster::redis {

class RedisCache final : public Cache {
 public:
  explicit RedisCache(std::unique_ptr<RedisClient> client);

  Result<std::optional<std::string>> Get(const std::string& key) override;
  Status Set(const std::string& key, const std::string& value,
             std::chrono::milliseconds ttl) override;
  Status Del(const std::string& key) override;
  std::string_view backend() const override { return "redis"; }

  RedisClient& client() { return *client_; }
  static std::string Key(const std::string& key) { return "slipway:cache:" + key; }

 private:
  std::unique_ptr<RedisClient> client_;
};

}  // namespace slipway::cluster::redis
