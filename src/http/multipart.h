// multipart/form-data request bodies (RFC 7578 over RFC 2046's multipart syntax): what browsers
// and `curl -F` send to upload files, such as plugin packages to pm:add.
//
//   Content-Type: multipart/form-data; boundary=XYZ        (or boundary="XYZ")
//
//   preamble, ignored
//   --XYZ
//   Content-Disposition: form-data; name="file"; filename="hello-1.0.0.tgz"
//   Content-Type: application/gzip
//
//   <bytes>
//   --XYZ--
//   epilogue, ignored
//
// Lines end with CRLF. Header names are case-insensitive; parameter values may be tokens or
// quoted strings (with backslash escapes). Only Content-Disposition (required: form-data with a
// name) and Content-Type (default "text/plain", as RFC 7578 says) are read; other part headers
// are ignored, filename* included (RFC 7578 forbids it). Names and filenames are returned as
// sent: no percent-decoding and no path stripping; a caller that writes a file must not trust a
// filename.
//
// Failures: InvalidArgument naming what was wrong (the header, the part by its 1-based number):
// a Content-Type that is not multipart/form-data or lacks a valid boundary (1 to 70 characters
// of RFC 2046's set), a body without the boundary, a boundary line followed by anything but
// CRLF, a part without a name, a folded or malformed header, a repeated parameter or
// Content-Disposition, a body that ends before the closing boundary, more than kMaxMultipartParts
// parts. Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "slipway/status.h"

namespace slipway::http {

inline constexpr size_t kMaxMultipartParts = 100;
inline constexpr size_t kMaxMultipartHeaderBytes = 8192;  // one part's header block

struct Part {
  std::string name;          // the form field
  std::string filename;      // "" when the part is not a file
  std::string content_type;  // "text/plain" when the part has none
  std::string data;
};

// `body` is the request body; `content_type_header` the request's Content-Type value.
Result<std::vector<Part>> ParseMultipart(std::string_view body,
                                         std::string_view content_type_header);

}  // namespace slipway::http
