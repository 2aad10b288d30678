// Nodes of one cluster on this machine for integration tests: they share one PostgreSQL database
// (no Redis: a PostgreSQL-only cluster) and one storage directory, start at once, and each has
// an API client signed in as the first administrator.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "api_client.h"
#include "node.h"
#include "test_database.h"

namespace slipway::testing {

class LocalCluster {
 public:
  // Starts `n` nodes (NODE_ID n1, n2, ...) and waits until each is healthy and signed in; check
  // ok() (an ASSERT inside a constructor cannot stop the test).
  LocalCluster(int n, std::map<std::string, std::string> extra_env = {}) {
    if (!pg_.Create()) return;
    auto env = PostgresEnv(pg_.options());
    env["APP_KEY"] = "cluster-test-key-0123456789abcdef0123";
    env.merge(extra_env);
    for (int i = 1; i <= n; ++i) {
      auto e = env;
      e["NODE_ID"] = "n" + std::to_string(i);
      nodes_.push_back(std::make_unique<Node>(NodeOptions{.storage = storage(), .env = e},
                                              "n" + std::to_string(i)));
    }
    for (auto& node : nodes_) {
      if (!node->WaitHealthy(std::chrono::seconds(60))) {
        ADD_FAILURE() << node->process().Stderr();
        return;
      }
      apis_.push_back(std::make_unique<Api>(node->port()));
      if (apis_.back()->SignIn("admin@nocobase.com", "admin123").status != 200) return;
    }
    ok_ = true;
  }
  ~LocalCluster() {
    for (auto& node : nodes_) {
      if (node->process().running()) node->Stop();
    }
  }

  bool ok() const { return ok_; }
  const TestDatabase& database() const { return pg_; }
  std::filesystem::path storage() const { return dir_.path() / "storage"; }
  Node& node(int i) { return *nodes_[i - 1]; }  // 1-based
  Api& api(int i) { return *apis_[i - 1]; }
  std::vector<Api*> apis() {
    std::vector<Api*> out;
    for (auto& a : apis_) out.push_back(a.get());
    return out;
  }
  // Stops every node; each must exit 0.
  void StopAll() {
    for (auto& node : nodes_) EXPECT_EQ(node->Stop(), 0);
  }

 private:
  TempDir dir_;
  TestDatabase pg_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Api>> apis_;
  bool ok_ = false;
};

}  // namespace slipway::testing
