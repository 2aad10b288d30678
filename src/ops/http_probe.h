// The ClusterProbe of drivers.h over a node's own HTTP API, signed in as the spec's
// administrator ([verify] account and password_file): `app:getInfo` for the version, `pm:list`
// for the enabled plugins and their versions, `collections:list` and then every collection's
// first page (`<name>:list`, its `meta.count` for the row count), and the spec's smoke requests.
#pragma once

#include "ops/cluster_spec.h"
#include "ops/drivers.h"

namespace slipway::ops {

class HttpProbe : public ClusterProbe {
 public:
  explicit HttpProbe(const ClusterSpec& spec) : spec_(spec) {}
  Result<boost::json::object> Observe(const std::string& node, bool counts) override;
  Status Smoke(const std::string& node, const std::vector<SmokeRequest>& requests) override;

 private:
  // A token for the node, signed in as the spec's [verify] account (once per Observe or Smoke:
  // nothing here outlives a call).
  Result<std::string> SignIn(int port);
  Result<int> PortOf(const std::string& node) const;

  const ClusterSpec& spec_;
};

// The first line of a file (passwords, keys), without its line end. NotFound naming the file.
Result<std::string> FirstLineOf(const std::filesystem::path& file);

}  // namespace slipway::ops
