// asyncTasks:list|get|stop, NocoBase's async task manager's resource over the durable tasks
// (task_store.h): any node answers for any task. A caller sees and stops its own tasks; a role
// that may configure the application (snippet "app") sees and stops every task.
#pragma once

#include "api/action_registry.h"
#include "ops/task_store.h"

namespace slipway::ops {

void RegisterTaskActions(api::ActionRegistry& registry, TaskStore& store);

}  // namespace slipway::ops
