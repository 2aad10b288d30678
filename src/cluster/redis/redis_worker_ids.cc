#include "cluster/redis/redis_worker_ids.h"

#include <random>

namespace slipway::cluster::redis {
namespace {

// KEYS[1]: the id's key; ARGV: owner, ttl in ms. 1 when the owner holds the id afterwards.
constexpr std::string_view kTakeOrKeepScript =
    "local v = redis.call('get', KEYS[1]) "
    "if v == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end "
    "if v then return 0 end "
    "redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2]) return 1";

Result<bool> LeaseScriptAnswer(const Reply& reply, std::string_view what) {
  if (!reply.is_integer()) {
    return Internal("worker id " + std::string(what) + ": unexpected reply " + reply.ToString());
  }
  return reply.integer == 1;
}

}  // namespace

Result<int> RedisWorkerIdStore::Acquire(const std::string& owner, int preferred,
                                        std::chrono::milliseconds ttl) {
  const std::string ttl_ms = std::to_string(ttl.count());
  if (preferred >= 0 && preferred <= kMaxWorkerId) {
    ASSIGN_OR_RETURN(Reply reply,
                     client_->Call(EvalArgs(kTakeOrKeepScript, Key(preferred), {owner, ttl_ms})));
    ASSIGN_OR_RETURN(bool taken, LeaseScriptAnswer(reply, "lease"));
    if (taken) return preferred;
  }
  std::random_device random;
  int start = static_cast<int>(random() % (kMaxWorkerId + 1));
  for (int i = 0; i <= kMaxWorkerId; ++i) {
    int id = (start + i) % (kMaxWorkerId + 1);
    ASSIGN_OR_RETURN(Reply reply, client_->Call({"SET", Key(id), owner, "NX", "PX", ttl_ms}));
    if (reply.is_nil()) continue;
    if (!reply.is_status("OK")) {
      return Internal("worker id SET: unexpected reply " + reply.ToString());
    }
    return id;
  }
  return ResourceExhausted("all " + std::to_string(kMaxWorkerId + 1) +
                           " worker ids are leased in redis at " + client_->url().Address());
}

Result<bool> RedisWorkerIdStore::Renew(int id, const std::string& owner,
                                       std::chrono::milliseconds ttl) {
  ASSIGN_OR_RETURN(Reply reply, client_->Call(EvalArgs(kExtendIfOwnerScript, Key(id),
                                                       {owner, std::to_string(ttl.count())})));
  return LeaseScriptAnswer(reply, "renewal");
}

Status RedisWorkerIdStore::Release(int id, const std::string& owner) {
  ASSIGN_OR_RETURN(Reply reply, client_->Call(EvalArgs(kDeleteIfOwnerScript, Key(id), {owner})));
  return LeaseScriptAnswer(reply, "release").status();
}

}  // namespace slipway::cluster::redis
