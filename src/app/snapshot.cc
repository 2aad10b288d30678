#include "app/snapshot.h"

#include "app/plugin_runtime.h"

namespace slipway::app {

void RecordHookSet::Add(std::string collection, RecordEvent event, RecordHook hook,
                        std::string plugin) {
  entries_.push_back({std::move(collection), event, std::move(hook), std::move(plugin)});
}

bool RecordHookSet::Has(std::string_view collection, RecordEvent event) const {
  for (const Entry& e : entries_) {
    if (e.event == event && (e.collection == "*" || e.collection == collection)) return true;
  }
  return false;
}

Status RecordHookSet::Run(RecordChange& change) const {
  for (const Entry& e : entries_) {
    if (e.event != change.event || (e.collection != "*" && e.collection != change.collection))
      continue;
    RETURN_IF_ERROR(GuardPlugin(e.plugin, "record hook", [&] { return e.hook(change); }));
  }
  return Status::Ok();
}

const PluginRuntime* Snapshot::FindPlugin(std::string_view name) const {
  for (const auto& p : plugins) {
    if (p->name() == name) return p.get();
  }
  return nullptr;
}

}  // namespace slipway::app
