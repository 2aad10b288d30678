#include "test_redis.h"

namespace slipway::testing {

TestRedis& TestRedis::Shared() {
  // Destroyed at exit, which stops the server.
  static TestRedis server;
  return server;
}

std::string TestRedis::url(const std::string& suffix) const {
  return "redis://127.0.0.1:" + std::to_string(port()) + suffix;
}

}  // namespace slipway::testing
