// The one mapping from a Status to an HTTP status and NocoBase's error body:
//   {"errors":[{"message":"...","code":"..."}]}
// The code is the Status tag when set, else the canonical code name (e.g. "NOT_FOUND").
#pragma once

#include "http/message.h"
#include "slipway/status.h"

namespace slipway::http {

int HttpStatusFor(StatusCode code);
Response ErrorResponse(const Status& status);
// For errors the server raises itself before any handler runs (408, 413, 431, 400).
Response ErrorResponse(int http_status, std::string_view message, std::string_view code);

}  // namespace slipway::http
