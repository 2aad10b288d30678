#include "http/static_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <utility>

#include "core/logging.h"
#include "http/error_response.h"

namespace slipway::http {
namespace {

struct MimeType {
  std::string_view extension;
  std::string_view type;
};

constexpr MimeType kMimeTypes[] = {
    {".html", "text/html; charset=utf-8"},
    {".htm", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
    {".log", "text/plain; charset=utf-8"},
    {".md", "text/markdown; charset=utf-8"},
    {".csv", "text/csv; charset=utf-8"},
    {".xml", "application/xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".webp", "image/webp"},
    {".avif", "image/avif"},
    {".svg", "image/svg+xml"},
    {".ico", "image/x-icon"},
    {".bmp", "image/bmp"},
    {".tif", "image/tiff"},
    {".tiff", "image/tiff"},
    {".heic", "image/heic"},
    {".pdf", "application/pdf"},
    {".zip", "application/zip"},
    {".gz", "application/gzip"},
    {".tgz", "application/gzip"},
    {".tar", "application/x-tar"},
    {".7z", "application/x-7z-compressed"},
    {".rar", "application/vnd.rar"},
    {".mp4", "video/mp4"},
    {".webm", "video/webm"},
    {".mov", "video/quicktime"},
    {".avi", "video/x-msvideo"},
    {".mp3", "audio/mpeg"},
    {".wav", "audio/wav"},
    {".ogg", "audio/ogg"},
    {".m4a", "audio/mp4"},
    {".flac", "audio/flac"},
    {".woff", "font/woff"},
    {".woff2", "font/woff2"},
    {".ttf", "font/ttf"},
    {".otf", "font/otf"},
    {".wasm", "application/wasm"},
    {".doc", "application/msword"},
    {".xls", "application/vnd.ms-excel"},
    {".ppt", "application/vnd.ms-powerpoint"},
    {".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {".pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {".odt", "application/vnd.oasis.opendocument.text"},
    {".ods", "application/vnd.oasis.opendocument.spreadsheet"},
    {".rtf", "application/rtf"},
};

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A descriptor closed when it goes out of scope.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  void Reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

constexpr std::string_view kDayNames[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::string_view kMonthNames[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// RFC 9110 section 5.6.7's IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string HttpDate(time_t t) {
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                kDayNames[tm.tm_wday].data(), tm.tm_mday, kMonthNames[tm.tm_mon].data(),
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

// Parses an IMF-fixdate. The obsolete RFC 850 and asctime forms are not accepted: a header in
// them is ignored, which only costs a full response instead of a 304 or a range.
std::optional<time_t> ParseHttpDate(std::string_view s) {
  s = TrimOws(s);
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s[25] != ' ' || s.substr(26) != "GMT") {
    return std::nullopt;
  }
  auto number = [&](size_t at, size_t len, int* out) {
    int v = 0;
    for (size_t i = at; i < at + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
  };
  struct tm tm {};
  int month = -1;
  for (int m = 0; m < 12; ++m) {
    if (s.substr(8, 3) == kMonthNames[m]) month = m;
  }
  int year = 0;
  if (month < 0 || !number(5, 2, &tm.tm_mday) || !number(12, 4, &year) ||
      !number(17, 2, &tm.tm_hour) || !number(20, 2, &tm.tm_min) || !number(23, 2, &tm.tm_sec) ||
      tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  tm.tm_mon = month;
  tm.tm_year = year - 1900;
  return timegm(&tm);
}

// Whether an If-None-Match list names `etag`, by weak comparison (RFC 9110 section 8.8.3.2):
// "W/" prefixes are disregarded. "*" matches any current representation.
bool NoneMatchListHas(std::string_view list, std::string_view etag) {
  size_t i = 0;
  while (i < list.size()) {
    char c = list[i];
    if (c == ' ' || c == '\t' || c == ',') {
      ++i;
      continue;
    }
    if (c == '*') return true;
    if (list.substr(i, 2) == "W/") i += 2;
    if (i >= list.size() || list[i] != '"') return false;  // malformed: no match
    size_t close = list.find('"', i + 1);
    if (close == std::string_view::npos) return false;
    if (list.substr(i, close + 1 - i) == etag) return true;
    i = close + 1;
  }
  return false;
}

enum class RangeKind { kNone, kWhole, kSingle, kUnsatisfiable };

struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
};

// Digits to a number, saturating at UINT64_MAX; false for an empty or non-digit string.
bool ParseRangeNumber(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t digit = static_cast<uint64_t>(c - '0');
    v = v > (UINT64_MAX - digit) / 10 ? UINT64_MAX : v * 10 + digit;
  }
  *out = v;
  return true;
}

// RFC 9110 section 14.1.2 byte ranges for a file of `size` bytes. kNone: no usable Range (absent,
// another unit, or malformed: ignored, as section 14.2 allows); kWhole: several ranges, answered
// with the whole file (also allowed); kSingle: one satisfiable range, in *range.
RangeKind ParseRangeHeader(std::string_view header, uint64_t size, ByteRange* range) {
  header = TrimOws(header);
  if (header.size() < 6 || !EqualsIgnoringCase(header.substr(0, 6), "bytes=")) {
    return RangeKind::kNone;
  }
  std::string_view specs = header.substr(6);
  size_t count = 0;
  std::string_view only;
  while (!specs.empty()) {
    size_t comma = specs.find(',');
    std::string_view spec = TrimOws(specs.substr(0, comma));
    specs = comma == std::string_view::npos ? std::string_view() : specs.substr(comma + 1);
    if (spec.empty()) continue;  // empty list elements are allowed
    size_t dash = spec.find('-');
    if (dash == std::string_view::npos) return RangeKind::kNone;
    uint64_t a = 0, b = 0;
    std::string_view first = spec.substr(0, dash), last = spec.substr(dash + 1);
    if (first.empty() ? !ParseRangeNumber(last, &b)
                      : !ParseRangeNumber(first, &a) ||
                            (!last.empty() && (!ParseRangeNumber(last, &b) || b < a))) {
      return RangeKind::kNone;
    }
    ++count;
    only = spec;
  }
  if (count == 0) return RangeKind::kNone;
  if (count > 1) return RangeKind::kWhole;
  size_t dash = only.find('-');
  std::string_view first = only.substr(0, dash), last = only.substr(dash + 1);
  uint64_t a = 0, b = 0;
  if (first.empty()) {  // the last n bytes
    ParseRangeNumber(last, &b);
    if (b == 0 || size == 0) return RangeKind::kUnsatisfiable;
    *range = {size - std::min(b, size), size - 1};
    return RangeKind::kSingle;
  }
  ParseRangeNumber(first, &a);
  if (a >= size) return RangeKind::kUnsatisfiable;
  b = size - 1;
  if (!last.empty()) {
    ParseRangeNumber(last, &b);
    b = std::min(b, size - 1);
  }
  *range = {a, b};
  return RangeKind::kSingle;
}

Response NotFoundResponse() { return ErrorResponse(404, "the file was not found", "NOT_FOUND"); }

// A path segment that may be served: not empty, not "." or "..", no dot file, nothing a
// filesystem or another OS would read as a separator.
bool ServableSegment(std::string_view segment) {
  return !segment.empty() && segment.front() != '.' &&
         segment.find('\0') == std::string_view::npos &&
         segment.find('\\') == std::string_view::npos;
}

}  // namespace

std::string_view MimeTypeForExtension(std::string_view ext) {
  for (const MimeType& m : kMimeTypes) {
    if (EqualsIgnoringCase(m.extension, ext)) return m.type;
  }
  return "application/octet-stream";
}

StaticFiles::StaticFiles(std::filesystem::path root, std::string prefix)
    : root_(std::move(root)), prefix_(std::move(prefix)) {
  while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
  prefix_ += '/';
}

bool StaticFiles::Matches(std::string_view path) const { return path.starts_with(prefix_); }

Response StaticFiles::Serve(const Request& request) const {
  if (request.method != Method::kGet && request.method != Method::kHead) {
    Response r = ErrorResponse(405, "only GET and HEAD are allowed here", "METHOD_NOT_ALLOWED");
    r.headers.push_back({"allow", "GET, HEAD"});
    return r;
  }
  if (!Matches(request.path)) return NotFoundResponse();
  std::string_view relative = std::string_view(request.path).substr(prefix_.size());

  // Walk the path one segment at a time, never following a symlink (O_NOFOLLOW fails with
  // ELOOP on one), so that nothing outside root_ can be reached whatever the tree holds.
  FdCloser dir(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) {
    core::log::Warn("cannot open the static files root",
                    {{"root", root_.string()}, {"error", std::strerror(errno)}});
    return NotFoundResponse();
  }
  FdCloser file(-1);
  while (true) {
    size_t slash = relative.find('/');
    std::string segment(relative.substr(0, slash));
    if (!ServableSegment(segment)) return NotFoundResponse();
    if (slash == std::string_view::npos) {
      // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below anyway).
      file.Reset(::openat(dir.get(), segment.c_str(),
                          O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
      break;
    }
    int next =
        ::openat(dir.get(), segment.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) return NotFoundResponse();
    dir.Reset(next);
    relative.remove_prefix(slash + 1);
  }
  struct stat st {};
  if (file.get() < 0 || ::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return NotFoundResponse();
  }

  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint64_t mtime_ns = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000u +
                            static_cast<uint64_t>(st.st_mtim.tv_nsec);
  char etag_buf[72];
  std::snprintf(etag_buf, sizeof(etag_buf), "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"", mtime_ns,
                size, static_cast<uint64_t>(st.st_ino));
  const std::string etag = etag_buf;
  const std::string last_modified = HttpDate(st.st_mtim.tv_sec);

  Response r;
  r.headers.push_back({"etag", etag});
  r.headers.push_back({"last-modified", last_modified});

  // RFC 9110 section 13.2.2: If-None-Match, or else If-Modified-Since, then Range.
  std::string_view none_match = request.header("if-none-match");
  bool not_modified = false;
  if (!none_match.empty()) {
    not_modified = NoneMatchListHas(none_match, etag);
  } else if (auto since = ParseHttpDate(request.header("if-modified-since"))) {
    not_modified = st.st_mtim.tv_sec <= *since;
  }
  if (not_modified) {
    r.status = 304;
    r.content_type.clear();
    return r;
  }

  r.headers.push_back({"accept-ranges", "bytes"});
  r.headers.push_back({"x-content-type-options", "nosniff"});
  std::string_view name = request.path;
  name = name.substr(name.rfind('/') + 1);
  size_t dot = name.rfind('.');
  r.content_type = MimeTypeForExtension(dot == std::string_view::npos ? "" : name.substr(dot));
  r.file =
      FileBody{(root_ / std::string_view(request.path).substr(prefix_.size())).string(), 0, size};

  // Ranges are defined for GET only (section 14.2).
  std::string_view range_header = request.header("range");
  if (request.method != Method::kGet || range_header.empty()) return r;
  std::string_view if_range = TrimOws(request.header("if-range"));
  if (!if_range.empty()) {
    // A range applies only to the representation the client already has part of: the same
    // strong ETag, or exactly its Last-Modified date.
    bool same = false;
    if (if_range.front() == '"') {
      same = if_range == etag;
    } else if (!if_range.starts_with("W/")) {  // a weak tag never matches
      std::optional<time_t> date = ParseHttpDate(if_range);
      same = date && *date == st.st_mtim.tv_sec;
    }
    if (!same) return r;
  }
  ByteRange range;
  switch (ParseRangeHeader(range_header, size, &range)) {
    case RangeKind::kNone:
    case RangeKind::kWhole:
      return r;
    case RangeKind::kUnsatisfiable: {
      Response refused = ErrorResponse(
          416, "the range is not satisfiable for a file of " + std::to_string(size) + " bytes",
          "RANGE_NOT_SATISFIABLE");
      refused.headers.push_back({"content-range", "bytes */" + std::to_string(size)});
      return refused;
    }
    case RangeKind::kSingle:
      break;
  }
  r.status = 206;
  r.headers.push_back({"content-range", "bytes " + std::to_string(range.first) + "-" +
                                            std::to_string(range.last) + "/" +
                                            std::to_string(size)});
  r.file->offset = range.first;
  r.file->length = range.last - range.first + 1;
  return r;
}

}  // namespace slipway::http
