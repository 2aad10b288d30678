// Record actions on any collection of the snapshot's schema: list, get, create, update,
// destroy, firstOrCreate, updateOrCreate, on /api/<collection>:<action> and on association
// routes (/api/<source>/<key>/<relation>:<action>), with NocoBase's parameters and envelope.
#pragma once

#include <string_view>

#include "api/action.h"

namespace slipway::api {

bool IsRecordAction(std::string_view action);
Result<http::Response> RunRecordAction(ActionRequest& req);

}  // namespace slipway::api
