// A NocoBase API client for integration tests: JSON in and out, a token once signed in.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "test_support.h"

namespace slipway::testing {

struct ApiResult {
  int status = 0;
  boost::json::value json;  // null when the body is not JSON
  std::string body;
  std::map<std::string, std::string> headers;

  // The first error's code/message ("" when none).
  std::string code() const;
  std::string message() const;
  const boost::json::value& data() const { return json.at("data"); }
};

class Api {
 public:
  explicit Api(int port) : port_(port) {}

  ApiResult Call(const std::string& method, const std::string& path, const std::string& body = "",
                 const std::vector<std::string>& extra_headers = {}) const;
  ApiResult Get(const std::string& path) const { return Call("GET", path); }
  ApiResult Post(const std::string& path, const boost::json::value& body) const {
    return Call("POST", path, boost::json::serialize(body));
  }
  ApiResult Post(const std::string& path, const std::string& body = "") const {
    return Call("POST", path, body);
  }

  // POSTs `bytes` as the file part `field` of a multipart/form-data body, as curl -F does.
  ApiResult Upload(const std::string& path, const std::string& bytes,
                   const std::string& filename = "upload.bin",
                   const std::string& field = "file") const;

  // Signs in with the basic authenticator; returns the status and keeps the token.
  ApiResult SignIn(const std::string& account, const std::string& password);
  void set_token(std::string token) { token_ = std::move(token); }
  const std::string& token() const { return token_; }
  void set_role(std::string role) { role_ = std::move(role); }

 private:
  int port_;
  std::string token_;
  std::string role_;
};

// URL-encodes a query parameter value.
std::string Encode(std::string_view value);

// Polls asyncTasks:get until the task ends (succeeded, failed or cancelled); returns it, or an
// empty object after a test failure when it does not end within `timeout`.
boost::json::object WaitTask(const Api& api, const std::string& id,
                             std::chrono::seconds timeout = std::chrono::seconds(150));

}  // namespace slipway::testing
