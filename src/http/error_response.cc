#include "http/error_response.h"

#include "core/json_writer.h"

namespace slipway::http {

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kUnimplemented:
      return 404;
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kAborted:
      return 409;
    case StatusCode::kResourceExhausted:
      return 413;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

Response ErrorResponse(int http_status, std::string_view message, std::string_view code) {
  std::string body;
  core::JsonWriter w(&body);
  w.BeginObject().Key("errors").BeginArray().BeginObject();
  w.Key("message").String(message);
  w.Key("code").String(code);
  w.EndObject().EndArray().EndObject();
  return Response::Json(http_status, std::move(body));
}

Response ErrorResponse(const Status& status) {
  std::string_view code = status.tag().empty() ? StatusCodeName(status.code()) : status.tag();
  Response r = ErrorResponse(HttpStatusFor(status.code()), status.message(), code);
  if (status.code() == StatusCode::kUnavailable) r.headers.push_back({"retry-after", "5"});
  return r;
}

Response DataResponse(const boost::json::value& data) {
  return Response::Json(200, boost::json::serialize(boost::json::object{{"data", data}}));
}

Response DataResponse(const boost::json::value& data, const boost::json::value& meta) {
  return Response::Json(
      200, boost::json::serialize(boost::json::object{{"data", data}, {"meta", meta}}));
}

}  // namespace slipway::http
