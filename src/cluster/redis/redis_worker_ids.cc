#include "cluster/redis/redis_worker_ids.h"

#include <random>

#include "core/ids.h"
#include "core/logging.h"

namespace slipway::cluster::redis {

RedisWorkerIdAllocator::RedisWorkerIdAllocator(std::unique_ptr<RedisClient> client,
                                               std::string node_id, RedisWorkerIdOptions options)
    : client_(std::move(client)), node_id_(std::move(node_id)), options_(options) {}

RedisWorkerIdAllocator::~RedisWorkerIdAllocator() { Release(); }

Result<int> RedisWorkerIdAllocator::Lease() {
  std::lock_guard lifecycle(lifecycle_mu_);
  {
    std::lock_guard lock(mu_);
    if (id_ >= 0 && !lost_ && Clock::now() < valid_until_) return id_;
  }
  StopRenewer();  // a lost lease's renewer, if any
  std::string owner = node_id_ + "/" + core::NewUuidV4();
  std::random_device random;
  int start = static_cast<int>(random() % (kMaxWorkerId + 1));
  for (int i = 0; i <= kMaxWorkerId; ++i) {
    int id = (start + i) % (kMaxWorkerId + 1);
    auto sent = Clock::now();
    ASSIGN_OR_RETURN(Reply reply, client_->Call({"SET", Key(id), owner, "NX", "PX",
                                                 std::to_string(options_.ttl.count())}));
    if (reply.is_nil()) continue;
    if (!reply.is_status("OK"))
      return Internal("worker id SET: unexpected reply " + reply.ToString());
    {
      std::lock_guard lock(mu_);
      id_ = id;
      owner_ = owner;
      valid_until_ = sent + options_.ttl;
      lost_ = false;
      stop_ = false;
    }
    renewer_ = std::thread([this] { RenewLoop(); });
    core::log::Info("worker id leased", {{"worker_id", id}, {"node", node_id_}});
    return id;
  }
  return ResourceExhausted("all " + std::to_string(kMaxWorkerId + 1) +
                           " worker ids are leased in redis at " + client_->url().Address());
}

void RedisWorkerIdAllocator::MarkLostLocked(const std::string& why) {
  if (lost_) return;
  lost_ = true;
  core::log::Error("worker id lease lost; stop issuing ids with it",
                   {{"worker_id", id_}, {"node", node_id_}, {"reason", why}});
}

Status RedisWorkerIdAllocator::Renew() {
  int id;
  std::string owner;
  {
    std::lock_guard lock(mu_);
    if (id_ < 0) return FailedPrecondition("no worker id is leased");
    if (lost_) return Aborted("worker id " + std::to_string(id_) + " lease was lost");
    id = id_;
    owner = owner_;
  }
  auto sent = Clock::now();
  Result<Reply> reply = client_->Call(
      EvalArgs(kExtendIfOwnerScript, Key(id), {owner, std::to_string(options_.ttl.count())}));
  std::lock_guard lock(mu_);
  if (id_ != id || owner_ != owner) return FailedPrecondition("worker id released meanwhile");
  if (!reply.ok()) {
    if (Clock::now() >= valid_until_) {
      MarkLostLocked("not renewed within the ttl: " + reply.status().message());
      return Aborted("worker id " + std::to_string(id) +
                     " lease expired unrenewed: " + reply.status().message());
    }
    return reply.status();
  }
  if (reply->is_integer() && reply->integer == 1) {
    valid_until_ = sent + options_.ttl;
    return Status::Ok();
  }
  MarkLostLocked("the key no longer holds this lease");
  return Aborted("worker id " + std::to_string(id) + " is no longer leased to this node");
}

void RedisWorkerIdAllocator::RenewLoop() {
  auto retry = std::min(options_.retry_interval, options_.renew_interval);
  bool last_ok = true;
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, last_ok ? options_.renew_interval : retry, [this] { return stop_; });
    if (stop_) return;
    lock.unlock();
    Status s = Renew();
    lock.lock();
    if (s.code() == StatusCode::kAborted || s.code() == StatusCode::kFailedPrecondition) return;
    last_ok = s.ok();
  }
}

void RedisWorkerIdAllocator::StopRenewer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (renewer_.joinable()) renewer_.join();
}

void RedisWorkerIdAllocator::Release() {
  std::lock_guard lifecycle(lifecycle_mu_);
  StopRenewer();
  int id;
  std::string owner;
  {
    std::lock_guard lock(mu_);
    if (id_ < 0) return;
    id = id_;
    owner = owner_;
    id_ = -1;
    owner_.clear();
    lost_ = false;
  }
  Result<Reply> reply = client_->Call(EvalArgs(kDeleteIfOwnerScript, Key(id), {owner}));
  if (!reply.ok()) {
    core::log::Warn("worker id not released; it expires with its ttl",
                    {{"worker_id", id}, {"error", reply.status().message()}});
  }
}

int RedisWorkerIdAllocator::id() const {
  std::lock_guard lock(mu_);
  return id_;
}

bool RedisWorkerIdAllocator::lost() const {
  std::lock_guard lock(mu_);
  return id_ >= 0 && (lost_ || Clock::now() >= valid_until_);
}

std::string RedisWorkerIdAllocator::owner() const {
  std::lock_guard lock(mu_);
  return owner_;
}

}  // namespace slipway::cluster::redis
