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
// parts.
//
// MultipartReader parses a body incrementally, as it arrives (for uploads streamed to disk): the
// same rules and messages, fed any slicing of the body, with memory bounded by one part's header
// block and the boundary, whatever the parts' sizes. ParseMultipart is MultipartReader over a
// whole body. Thread-safety: ParseMultipart is a pure function; a MultipartReader is used by one
// thread at a time.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "slipway/status.h"

namespace slipway::http {

inline constexpr size_t kMaxMultipartParts = 100;
inline constexpr size_t kMaxMultipartHeaderBytes = 8192;  // one part's header block

struct PartHead {
  std::string name;          // the form field
  std::string filename;      // "" when the part is not a file
  std::string content_type;  // "text/plain" when the part has none
};

// Parses multipart/form-data incrementally: Feed() any slices of the body in order, then
// Finish(). Each part is reported as begin, data (zero or more slices), end. A callback's error
// stops parsing and is returned by the Feed() that ran it; after any error the reader is done and
// every later call returns that error.
class MultipartReader {
 public:
  struct Callbacks {
    std::function<Status(const PartHead&)> begin;  // a part's headers were read
    std::function<Status(std::string_view)> data;  // bytes of the current part (any slicing)
    std::function<Status()> end;                   // the current part ended
  };
  // InvalidArgument for a Content-Type that is not multipart/form-data with a valid boundary.
  static Result<MultipartReader> Create(std::string_view content_type_header, Callbacks cb);

  // InvalidArgument for malformed input (as soon as it is certain), or a callback's error.
  Status Feed(std::string_view bytes);
  // InvalidArgument if the body ended before the closing boundary.
  Status Finish();

 private:
  enum class State { kStart, kPreamble, kAfterDelimiter, kPadding, kHeaders, kData, kEpilogue };

  MultipartReader(std::string boundary, Callbacks cb);
  // Consumes what it can of `in` and returns how many bytes; what it leaves is at most a header
  // block or a boundary's length, kept in pending_ until more arrives.
  Result<size_t> Consume(std::string_view in);
  Status Fail(Status s);

  std::string boundary_;
  std::string delimiter_;  // "\r\n--" + boundary: what ends a part's data
  Callbacks cb_;
  State state_ = State::kStart;
  std::string pending_;
  size_t header_scanned_ = 0;  // header bytes already searched for the empty line
  size_t parts_ = 0;           // parts begun
  Status failed_;
};

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
