#include "api_client.h"

#include <gtest/gtest.h>

#include <thread>

namespace slipway::testing {

std::string ApiResult::code() const {
  if (!json.is_object() || !json.as_object().contains("errors")) return "";
  const auto& e = json.at("errors").at(0).as_object();
  return e.contains("code") ? std::string(e.at("code").as_string()) : "";
}

std::string ApiResult::message() const {
  if (!json.is_object() || !json.as_object().contains("errors")) return "";
  return std::string(json.at("errors").at(0).at("message").as_string());
}

ApiResult Api::Call(const std::string& method, const std::string& path, const std::string& body,
                    const std::vector<std::string>& extra_headers) const {
  std::vector<std::string> headers = extra_headers;
  if (!token_.empty()) headers.push_back("Authorization: Bearer " + token_);
  if (!role_.empty()) headers.push_back("X-Role: " + role_);
  HttpResult r = HttpRequest(port_, method, "/api/" + path, body, headers);
  ApiResult out;
  out.status = r.status;
  out.body = r.body;
  out.headers = r.headers;
  boost::system::error_code ec;
  out.json = boost::json::parse(r.body, ec);
  if (ec) out.json = nullptr;
  return out;
}

ApiResult Api::SignIn(const std::string& account, const std::string& password) {
  token_.clear();
  ApiResult r = Call(
      "POST", "auth:signIn",
      boost::json::serialize(boost::json::object{{"account", account}, {"password", password}}),
      {"X-Authenticator: basic"});
  if (r.status == 200) token_ = std::string(r.json.at("data").at("token").as_string());
  return r;
}

std::string Encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

ApiResult Api::Upload(const std::string& path, const std::string& bytes,
                      const std::string& filename, const std::string& field) const {
  const std::string boundary = "----slipway-upload-boundary";
  std::string body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + field +
                     "\"; filename=\"" + filename +
                     "\"\r\nContent-Type: application/octet-stream\r\n\r\n" + bytes + "\r\n--" +
                     boundary + "--\r\n";
  return Call("POST", path, body, {"Content-Type: multipart/form-data; boundary=" + boundary});
}

boost::json::object WaitTask(const Api& api, const std::string& id, std::chrono::seconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    ApiResult r = api.Get("asyncTasks:get?filterByTk=" + id);
    if (r.status == 200) {
      const boost::json::value& state = r.data().at("state");
      if (state == "succeeded" || state == "failed" || state == "cancelled") {
        return r.data().as_object();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "task " << id << " did not end";
  return {};
}

}  // namespace slipway::testing
