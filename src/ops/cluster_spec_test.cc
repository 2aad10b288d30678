// The cluster spec (ops/cluster_spec.h): the default one parses into what it says, and every
// mistake an operator can make is refused with the key that is wrong.
#include "ops/cluster_spec.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_support.h"

namespace slipway::ops {
namespace {

TEST(ClusterSpec, TheDefaultSpecSaysWhatItsCommentsSay) {
  auto spec = ParseClusterSpec(DefaultClusterSpec(), "/srv/demo");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->name, "slipway");
  EXPECT_EQ(spec->state_dir, "/srv/demo/state");
  EXPECT_EQ(spec->release, "/usr/local/bin/slipway");
  EXPECT_EQ(spec->storage, "/srv/demo/storage");
  EXPECT_EQ(spec->app_key_file, "/srv/demo/app.key");
  EXPECT_EQ(spec->env.at("DB_PORT"), "5432");
  EXPECT_FALSE(spec->env.count("APP_KEY_FILE"));
  ASSERT_EQ(spec->nodes.size(), 3u);
  EXPECT_EQ(spec->nodes[0].id, "web-1");
  EXPECT_EQ(spec->nodes[2].id, "web-3");
  EXPECT_EQ(spec->nodes[2].port, 13003);
  EXPECT_EQ(spec->RequestNodes().size(), 3u);
  EXPECT_EQ(spec->lb_kind, "haproxy");
  EXPECT_EQ(spec->lb_port, 13000);
  EXPECT_EQ(spec->lb_admin_socket, "/srv/demo/state/haproxy.sock");
  ASSERT_EQ(spec->smoke.size(), 1u);
  EXPECT_EQ(spec->smoke[0].path, "/api/app:getInfo");
  EXPECT_EQ(spec->FindNode("web-2")->port, 13002);
  EXPECT_EQ(spec->FindNode("web-4"), nullptr);
}

TEST(ClusterSpec, WorkerGroupsStayBehindNoLoadBalancer) {
  auto spec = ParseClusterSpec(R"(
[cluster]
release = "bin/slipway"
[[nodes]]
name = "web"
count = 2
port = 14001
[[nodes]]
name = "worker"
port = 14101
worker_mode = "*"
[load_balancer]
kind = "nginx"
port = 14000
)",
                               "/x");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->release, "/x/bin/slipway");
  ASSERT_EQ(spec->nodes.size(), 3u);
  EXPECT_EQ(spec->nodes[2].id, "worker-1");
  EXPECT_FALSE(spec->nodes[2].worker_mode.serves_requests);
  EXPECT_EQ(spec->RequestNodes().size(), 2u);
}

TEST(ClusterSpec, MistakesAreRefusedNamingTheKey) {
  const std::string nodes = "[[nodes]]\nport = 14001\n";
  struct Case {
    std::string toml, expected;
  };
  const Case cases[] = {
      {"[cluster]\nrelease = \"s\"\nrelaese = \"t\"\n" + nodes, "cluster.relaese: unknown key"},
      {"[cluster]\nname = \"x\"\n" + nodes, "cluster.release: missing"},
      {"[cluster]\nrelease = 7\n" + nodes, "cluster.release: must be a string"},
      {"[cluster]\nrelease = \"s\"\n", "nodes: at least one [[nodes]] group is needed"},
      {"[cluster]\nrelease = \"s\"\n[[nodes]]\nport = 70000\n",
       "nodes[1].port: 70000 is not a port"},
      {"[cluster]\nrelease = \"s\"\n[[nodes]]\nport = 1\ncount = 0\n", "nodes[1].count"},
      {"[cluster]\nrelease = \"s\"\n[[nodes]]\nport = 14001\ncount = 2\n[[nodes]]\nname = \"b\"\n"
       "port = 14002\n",
       "port 14002 is used twice"},
      {"[cluster]\nrelease = \"s\"\n[[nodes]]\nport = 1\nworker_mode = \"BAD KIND\"\n",
       "nodes[1].worker_mode"},
      {"[cluster]\nrelease = \"s\"\n" + nodes + "[load_balancer]\nkind = \"traefik\"\nport = 1\n",
       "load_balancer.kind: 'traefik' is not haproxy, nginx or none"},
      {"[cluster]\nrelease = \"s\"\n" + nodes + "[load_balancer]\nkind = \"haproxy\"\n",
       "load_balancer.port: missing"},
      {"[cluster]\nrelease = \"s\"\n" + nodes +
           "[load_balancer]\nkind = \"haproxy\"\nport = 14001\n",
       "is also a node's"},
      {"[cluster]\nrelease = \"s\"\n[[nodes]]\nport = 1\nworker_mode = \"*\"\n[load_balancer]\n"
       "kind = \"haproxy\"\nport = 2\n",
       "no node serves requests"},
      {"[cluster]\nrelease = \"s\"\n" + nodes + "[env]\nSTORAGE_PATH = \"/x\"\n",
       "env.STORAGE_PATH: is set per node"},
      {"[cluster]\nrelease = \"s\"\n" + nodes + "[[verify.smoke]]\npath = \"api\"\n",
       "verify.smoke[1].path: must start with /"},
      {"[cluster]\nrelease = \"s\"\n" + nodes + "[[verify.smoke]]\npath = \"/a\"\nstatus = 42\n",
       "verify.smoke[1].status"},
      {"[cluster\nrelease = \"s\"\n", "spec: line 1"},
      {"[clusters]\n", "clusters: unknown key"},
  };
  for (const Case& c : cases) {
    auto spec = ParseClusterSpec(c.toml, "/x");
    ASSERT_FALSE(spec.ok()) << c.toml;
    EXPECT_NE(spec.status().message().find(c.expected), std::string::npos)
        << "got: " << spec.status().message() << "\nwanted: " << c.expected;
    EXPECT_EQ(spec.status().tag(), "BAD_SPEC") << c.toml;
  }
  EXPECT_EQ(ReadClusterSpec("/nonexistent/cluster.toml").status().tag(), "SPEC_NOT_FOUND");
}

}  // namespace
}  // namespace slipway::ops

namespace slipway::ops {
namespace {

TEST(ClusterSpecScale, AGroupScalesOnConsecutivePortsAndKnowsNodesPastItsCount) {
  auto spec = ParseClusterSpec(R"(
[cluster]
release = "/r"
[[nodes]]
name = "web"
count = 2
port = 14001
[[nodes]]
name = "worker"
port = 14010
worker_mode = "*"
)",
                               "/srv");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  auto five = ScaledSpec(*spec, "web", 5);
  ASSERT_TRUE(five.ok()) << five.status().ToString();
  ASSERT_EQ(five->nodes.size(), 6u);
  EXPECT_EQ(five->nodes[4].id, "web-5");
  EXPECT_EQ(five->nodes[4].port, 14005);
  EXPECT_EQ(five->nodes[5].id, "worker-1");
  // Ten web nodes would take the worker's port.
  auto ten = ScaledSpec(*spec, "web", 10);
  EXPECT_EQ(ten.status().tag(), "BAD_SPEC") << ten.status().ToString();
  EXPECT_EQ(ScaledSpec(*spec, "db", 2).status().tag(), "GROUP_NOT_FOUND");
  EXPECT_EQ(ScaledSpec(*spec, "web", 0).status().tag(), "BAD_SPEC");
  // A node a scale would add is known to the drivers before the count changes.
  auto web4 = spec->NodeById("web-4");
  ASSERT_TRUE(web4.has_value());
  EXPECT_EQ(web4->port, 14004);
  EXPECT_FALSE(spec->NodeById("web-0").has_value());
  EXPECT_FALSE(spec->NodeById("web-x").has_value());
  EXPECT_FALSE(spec->NodeById("db-1").has_value());
  EXPECT_EQ(spec->FindNode("web-4"), nullptr);
}

TEST(ClusterSpecScale, TheCountKeptInTheStateFolderOverridesTheSpecs) {
  testing::TempDir dir;
  std::ofstream(dir.path() / "c.toml") << "[cluster]\nrelease = \"/r\"\n[[nodes]]\nname = \"web\"\n"
                                          "count = 3\nport = 15001\n";
  auto spec = LoadClusterSpec(dir.path() / "c.toml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->nodes.size(), 3u);
  ASSERT_TRUE(WriteScaledCount(*spec, "web", 5).ok());
  auto scaled = LoadClusterSpec(dir.path() / "c.toml");
  ASSERT_TRUE(scaled.ok()) << scaled.status().ToString();
  EXPECT_EQ(scaled->nodes.size(), 5u);
  EXPECT_EQ(scaled->groups[0].count, 5);
}

}  // namespace
}  // namespace slipway::ops
