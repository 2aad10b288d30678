// The two small clients the cluster drivers need, on plain sockets (no Asio in `ops`): one HTTP/1.1
// request to a node (its health check, its API, for the probe that verifies an upgrade), and one
// command to a Unix socket (HAProxy's runtime API). Each call has a deadline; every failure is a
// Status naming the address (Unavailable when nothing answers).
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "slipway/status.h"

namespace slipway::ops {

struct HttpReply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::string body;
  std::string Header(std::string_view name) const;
};

struct HttpCall {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string method = "GET";
  std::string target;  // "/api/app:getInfo"
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{5000};
};

// One request on a connection of its own ("Connection: close"), the whole answer read (a
// Content-Length or a chunked body).
Result<HttpReply> SendHttp(const HttpCall& call);

// Writes `command` and a newline to the Unix socket at `path` and returns everything it answers
// until it closes the connection.
Result<std::string> UnixSocketCommand(const std::string& path, const std::string& command,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace slipway::ops
