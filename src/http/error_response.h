// NocoBase's response bodies, written once. Errors: the one mapping from a Status to an HTTP
// status and the error body
//   {"errors":[{"message":"...","code":"..."}]}
// where the code is the Status tag when set, else the canonical code name (e.g. "NOT_FOUND").
// Success: the envelope {"data": ...}, with "meta" for paged lists.
#pragma once

#include <boost/json.hpp>

#include "http/message.h"
#include "slipway/status.h"

namespace slipway::http {

int HttpStatusFor(StatusCode code);
Response ErrorResponse(const Status& status);
// For errors the server raises itself before any handler runs (408, 413, 431, 400).
Response ErrorResponse(int http_status, std::string_view message, std::string_view code);

// 200 with {"data": data}, or {"data": data, "meta": meta}.
Response DataResponse(const boost::json::value& data);
Response DataResponse(const boost::json::value& data, const boost::json::value& meta);

}  // namespace slipway::http
