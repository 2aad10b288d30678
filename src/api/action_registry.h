// ActionRegistry: which handler runs for "resource:action". Built once at start from the core's
// and the plugins' registrations; read-only afterwards (so lock-free to read).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "api/action.h"

namespace slipway::api {

class ActionRegistry {
 public:
  void Add(const std::string& resource, const std::string& action, Action a) {
    actions_[resource + ":" + action] = std::move(a);
  }
  const Action* Find(const std::string& key) const {
    auto it = actions_.find(key);
    return it == actions_.end() ? nullptr : &it->second;
  }
  template <typename F>
  void ForEach(F f) const {
    for (const auto& [key, action] : actions_) f(action);
  }
  bool HasResource(const std::string& resource) const {
    auto it = actions_.lower_bound(resource + ":");
    return it != actions_.end() && it->first.compare(0, resource.size() + 1, resource + ":") == 0;
  }

 private:
  std::map<std::string, Action> actions_;
};

}  // namespace slipway::api
