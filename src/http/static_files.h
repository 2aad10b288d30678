// StaticFiles: serves the files under a directory at a URL prefix, GET and HEAD, the way nginx's
// static module does: Content-Type from the extension, strong ETags, Last-Modified, conditional
// requests (304), single byte ranges (206/416). The body is a FileBody that the server streams.
//
// Only regular files are served, reached without following any symlink and through no segment
// that starts with '.': dot files and dot directories (such as a temporary upload directory)
// are never served. A path that is not acceptable is answered 404 like a missing file, so that
// the answer reveals nothing about what exists.
//
// Failures: answers, never Status: 404 (missing or refused path, directory, special file), 405
// for another method (with Allow: GET, HEAD), 416 for an unsatisfiable range, all with NocoBase's
// error body. Thread-safety: immutable after construction; Serve() may run on any number of
// threads at once. It makes blocking file metadata calls (open, fstat), fine on local disks.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "http/message.h"

namespace slipway::http {

class StaticFiles {
 public:
  // `prefix` is a URL path such as "/storage/uploads" (a trailing '/' is ignored); `root` the
  // directory it maps to.
  StaticFiles(std::filesystem::path root, std::string prefix);

  // True when `path` (percent-decoded, no query) starts with prefix + "/".
  bool Matches(std::string_view path) const;
  // The answer to a GET or HEAD under the prefix (see the file comment).
  Response Serve(const Request& request) const;

 private:
  std::filesystem::path root_;
  std::string prefix_;  // with its trailing '/'
};

// The Content-Type for a file extension with its dot (".png" -> "image/png"), case-insensitive;
// "application/octet-stream" when unknown. Text types carry "; charset=utf-8".
std::string_view MimeTypeForExtension(std::string_view ext);

}  // namespace slipway::http
