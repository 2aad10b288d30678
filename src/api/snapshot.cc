#include "api/snapshot.h"

#include "core/guard.h"

namespace slipway::api {

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
    RETURN_IF_ERROR(
        core::Guard("plugin '" + e.plugin + "'", "record hook", [&] { return e.hook(change); }));
  }
  return Status::Ok();
}

}  // namespace slipway::api
