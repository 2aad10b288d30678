// The cluster spec (issue 15): one TOML file that says what a cluster is, for `slipway cluster`
// and its procedures. `slipway cluster init` writes a commented one (DefaultClusterSpec).
//
//   [cluster]        name; state_dir (journals, pid files, logs; relative paths are taken from
//                    the spec's folder); release (the slipway binary, or a release directory
//                    holding bin/slipway); stop_timeout_s (SIGTERM to SIGKILL)
//   [env]            the environment every node shares (DB_*, REDIS_URL, ...); APP_KEY_FILE
//                    names a file whose first line is the APP_KEY (never the key itself here)
//   [storage]        path: the shared storage (uploads, plugins, backups, migrations);
//                    backups: where an upgrade writes the backup it takes first
//   [[nodes]]        groups of nodes: name, count, port (the first; a group takes consecutive
//                    ports), worker_mode (NocoBase's WORKER_MODE)
//   [load_balancer]  kind (haproxy, nginx or none), port, admin_socket (HAProxy's runtime API)
//   [verify]         timeout_s; account and password_file (who the checks sign in as);
//                    [[verify.smoke]] requests (method, path, status) an upgrade checks
//                    before it declares success
//
// Every key is checked: an unknown one (a typo) is refused with its path, as are missing or
// ill-typed values, ports outside 1..65535 or used twice, an unknown load balancer, an invalid
// WORKER_MODE, and a load balancer with no node that serves requests behind it.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "slipway/status.h"

namespace slipway::ops {

struct ClusterNode {
  std::string id;     // "<group>-<n>", e.g. web-1
  std::string group;  // the [[nodes]] name
  int port = 0;
  core::WorkerMode worker_mode;
};

struct ClusterGroup {
  std::string name;
  int count = 1;
  int port = 0;  // the first node's
  core::WorkerMode worker_mode;
};

struct SmokeRequest {
  std::string method = "GET";
  std::string path;  // "/api/app:getInfo"
  int status = 200;
};

struct ClusterSpec {
  std::filesystem::path file;  // where it was read from
  std::string name;
  std::filesystem::path state_dir;
  std::filesystem::path release;
  int stop_timeout_s = 60;
  std::map<std::string, std::string> env;
  std::filesystem::path app_key_file;  // empty: APP_KEY comes from [env] or is generated
  std::filesystem::path storage;
  std::filesystem::path backups;  // where an upgrade writes its backup (default <state>/backups)
  std::vector<ClusterGroup> groups;
  std::vector<ClusterNode> nodes;  // every node of every group, in order
  std::string lb_kind = "none";    // haproxy, nginx, none
  int lb_port = 0;
  std::filesystem::path lb_admin_socket;
  int verify_timeout_s = 120;
  std::string verify_account;                  // who the checks sign in as
  std::filesystem::path verify_password_file;  // empty: INIT_ROOT_PASSWORD, else admin123
  std::vector<SmokeRequest> smoke;

  // The nodes a load balancer sends requests to (WORKER_MODE serves requests).
  std::vector<const ClusterNode*> RequestNodes() const;
  const ClusterNode* FindNode(std::string_view id) const;
  // A node of one of the groups by id, also one past the group's count ("web-5" of a group of
  // three: its port and WORKER_MODE as a scale would give them), for drivers that start or stop
  // nodes while a scale changes the count.
  std::optional<ClusterNode> NodeById(std::string_view id) const;
  // Whether that node goes behind the load balancer (its WORKER_MODE serves requests).
  bool ServesRequests(std::string_view id) const;
};

// Parses a spec; relative paths are resolved against `base_dir` (the spec's folder).
// InvalidArgument naming the key ("spec: nodes[2].port: ...").
Result<ClusterSpec> ParseClusterSpec(std::string_view toml, const std::filesystem::path& base_dir);
Result<ClusterSpec> ReadClusterSpec(const std::filesystem::path& file);

// The spec with group `group` at `count` nodes (consecutive ports from its first, the same
// WORKER_MODE). InvalidArgument when a port would collide or the count is outside 1..64.
Result<ClusterSpec> ScaledSpec(const ClusterSpec& spec, const std::string& group, int count);
// `slipway cluster scale` keeps a group's count over the spec's in <state>/counts.json
// ({"web": 5}); `LoadClusterSpec` reads the spec and applies it.
Status WriteScaledCount(const ClusterSpec& spec, const std::string& group, int count);
Result<ClusterSpec> LoadClusterSpec(const std::filesystem::path& file);

// A commented spec for a cluster on this machine: three nodes behind HAProxy, PostgreSQL and
// Redis on their default ports, state and storage beside the spec.
// `release` is the binary the nodes run (`slipway cluster init` gives its own).
std::string DefaultClusterSpec(const std::string& release = "/usr/local/bin/slipway");

}  // namespace slipway::ops
