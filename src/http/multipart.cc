#include "http/multipart.h"

#include <algorithm>
#include <utility>

namespace slipway::http {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// RFC 7230 tchar: what a header name or an unquoted parameter value may hold.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 2046 bchars.
bool IsBoundaryChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

// "value; a=b; c=\"d\"": the lower-cased value and its parameters (names lower-cased).
struct HeaderValue {
  std::string value;
  std::vector<std::pair<std::string, std::string>> params;

  const std::string* Param(std::string_view name) const {
    for (const auto& [k, v] : params) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

Result<HeaderValue> ParseHeaderValue(std::string_view text, std::string_view header) {
  auto bad = [&](std::string why) { return InvalidArgument(std::string(header) + ": " + why); };
  HeaderValue out;
  size_t semi = text.find(';');
  out.value = Lower(TrimSpaces(text.substr(0, semi)));
  size_t i = semi == std::string_view::npos ? text.size() : semi + 1;
  while (i < text.size()) {
    while (i < text.size() && (IsSpace(text[i]) || text[i] == ';')) ++i;
    if (i == text.size()) break;
    size_t name_start = i;
    while (i < text.size() && IsTokenChar(text[i])) ++i;
    std::string name = Lower(text.substr(name_start, i - name_start));
    while (i < text.size() && IsSpace(text[i])) ++i;
    if (name.empty() || i == text.size() || text[i] != '=') {
      return bad("malformed parameter at '" + std::string(text.substr(name_start)) + "'");
    }
    ++i;
    while (i < text.size() && IsSpace(text[i])) ++i;
    std::string value;
    if (i < text.size() && text[i] == '"') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        char c = text[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < text.size()) c = text[i++];
        value += c;
      }
      if (!closed) return bad("parameter '" + name + "' has an unterminated quoted string");
    } else {
      size_t value_start = i;
      while (i < text.size() && IsTokenChar(text[i])) ++i;
      value = std::string(text.substr(value_start, i - value_start));
    }
    while (i < text.size() && IsSpace(text[i])) ++i;
    if (i < text.size() && text[i] != ';') {
      return bad("unexpected '" + std::string(1, text[i]) + "' after parameter '" + name + "'");
    }
    if (out.Param(name) != nullptr) return bad("parameter '" + name + "' is repeated");
    out.params.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

Result<std::string> Boundary(std::string_view content_type_header) {
  ASSIGN_OR_RETURN(HeaderValue ct, ParseHeaderValue(content_type_header, "Content-Type"));
  if (ct.value != "multipart/form-data") {
    return InvalidArgument("Content-Type: expected multipart/form-data, got '" + ct.value + "'");
  }
  const std::string* boundary = ct.Param("boundary");
  if (boundary == nullptr) return InvalidArgument("Content-Type: no boundary parameter");
  bool valid = !boundary->empty() && boundary->size() <= 70 && boundary->back() != ' ';
  for (char c : *boundary) valid = valid && IsBoundaryChar(c);
  if (!valid) {
    return InvalidArgument("Content-Type: boundary '" + *boundary +
                           "' must be 1 to 70 letters, digits or '()+_,-./:=? (not ending in a "
                           "space)");
  }
  return *boundary;
}

// The header block of part `number` (without the blank line that ends it).
Status ParsePartHeaders(std::string_view block, size_t number, PartHead* part) {
  std::string where = "part " + std::to_string(number);
  // Checked first: a folded header would otherwise be reported as what its first line lacks.
  if ((!block.empty() && IsSpace(block.front())) || block.find("\r\n ") != std::string_view::npos ||
      block.find("\r\n\t") != std::string_view::npos) {
    return InvalidArgument(where + ": folded header lines are not allowed");
  }
  bool have_disposition = false, have_type = false;
  size_t pos = 0;
  while (pos < block.size()) {
    size_t eol = block.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = block.size();
    std::string_view line = block.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    std::string_view raw_name = line.substr(0, colon);
    bool name_ok = colon != std::string_view::npos && !raw_name.empty();
    for (char c : raw_name) name_ok = name_ok && IsTokenChar(c);
    if (!name_ok) {
      return InvalidArgument(where + ": malformed header line '" + std::string(line) + "'");
    }
    std::string name = Lower(raw_name);
    std::string_view value = TrimSpaces(line.substr(colon + 1));
    if (name == "content-disposition") {
      if (have_disposition) return InvalidArgument(where + ": Content-Disposition is repeated");
      have_disposition = true;
      auto cd = ParseHeaderValue(value, "Content-Disposition");
      if (!cd.ok()) return cd.status().WithContext(where);
      if (cd->value != "form-data") {
        return InvalidArgument(where + ": Content-Disposition must be form-data, not '" +
                               cd->value + "'");
      }
      const std::string* field = cd->Param("name");
      if (field == nullptr) return InvalidArgument(where + ": Content-Disposition has no name");
      part->name = *field;
      if (const std::string* filename = cd->Param("filename")) part->filename = *filename;
    } else if (name == "content-type") {
      if (have_type) return InvalidArgument(where + ": Content-Type is repeated");
      have_type = true;
      part->content_type = std::string(value);
    }
  }
  if (!have_disposition) return InvalidArgument(where + ": no Content-Disposition header");
  if (!have_type) part->content_type = "text/plain";
  return Status::Ok();
}

// The length of the longest proper prefix of `delimiter` that `s` ends with: bytes that may be
// the start of a delimiter whose rest has not arrived yet.
size_t HeldBack(std::string_view s, std::string_view delimiter) {
  for (size_t k = std::min(s.size(), delimiter.size() - 1); k > 0; --k) {
    if (s.substr(s.size() - k) == delimiter.substr(0, k)) return k;
  }
  return 0;
}

Status HeadersTooLong(size_t number) {
  return InvalidArgument("part " + std::to_string(number) +
                         ": headers do not end with an empty line within " +
                         std::to_string(kMaxMultipartHeaderBytes) + " bytes");
}

// When bytes are pending, Feed() appends at most this much of the input to them at a time, so
// that pending_ stays bounded however large the slices fed.
constexpr size_t kAppendStep = 16 << 10;

}  // namespace

MultipartReader::MultipartReader(std::string boundary, Callbacks cb)
    : boundary_(std::move(boundary)), delimiter_("\r\n--" + boundary_), cb_(std::move(cb)) {}

Result<MultipartReader> MultipartReader::Create(std::string_view content_type_header,
                                                Callbacks cb) {
  ASSIGN_OR_RETURN(std::string boundary, Boundary(content_type_header));
  return MultipartReader(std::move(boundary), std::move(cb));
}

Status MultipartReader::Fail(Status s) {
  failed_ = std::move(s);
  pending_.clear();
  pending_.shrink_to_fit();
  return failed_;
}

Status MultipartReader::Feed(std::string_view bytes) {
  if (!failed_.ok()) return failed_;
  while (!bytes.empty()) {
    if (pending_.empty()) {  // the usual case: parse the caller's bytes in place
      Result<size_t> used = Consume(bytes);
      if (!used.ok()) return Fail(used.status());
      pending_.assign(bytes.substr(*used));
      return Status::Ok();
    }
    size_t take = std::min(bytes.size(), kAppendStep);
    pending_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    Result<size_t> used = Consume(pending_);
    if (!used.ok()) return Fail(used.status());
    pending_.erase(0, *used);
  }
  return Status::Ok();
}

Result<size_t> MultipartReader::Consume(std::string_view in) {
  const std::string_view delimiter = delimiter_;
  const std::string_view opening = delimiter.substr(2);  // "--boundary"
  size_t pos = 0;
  while (pos < in.size()) {
    std::string_view rest = in.substr(pos);
    switch (state_) {
      case State::kStart: {
        // The first delimiter opens the body or follows a CRLF that ends the preamble.
        size_t n = std::min(rest.size(), opening.size());
        if (rest.substr(0, n) != opening.substr(0, n)) {
          state_ = State::kPreamble;
          break;
        }
        if (n < opening.size()) return pos;
        pos += opening.size();
        state_ = State::kAfterDelimiter;
        break;
      }
      case State::kPreamble: {
        size_t found = rest.find(delimiter);
        if (found == std::string_view::npos) return in.size() - HeldBack(rest, delimiter);
        pos += found + delimiter.size();
        state_ = State::kAfterDelimiter;
        break;
      }
      case State::kAfterDelimiter:
        if (rest[0] == '-') {
          if (rest.size() < 2) return pos;
          if (rest[1] == '-') {  // the close delimiter; the rest is epilogue
            state_ = State::kEpilogue;
            return in.size();
          }
        }
        state_ = State::kPadding;
        break;
      case State::kPadding: {
        while (pos < in.size() && IsSpace(in[pos])) ++pos;  // RFC 2046 transport padding
        if (pos == in.size() || (in[pos] == '\r' && pos + 1 == in.size())) return pos;
        if (in.substr(pos, 2) != "\r\n") {
          return InvalidArgument("multipart boundary line after part " + std::to_string(parts_) +
                                 " is not followed by CRLF");
        }
        pos += 2;
        if (parts_ == kMaxMultipartParts) {
          return InvalidArgument("multipart body has more than " +
                                 std::to_string(kMaxMultipartParts) + " parts");
        }
        state_ = State::kHeaders;
        header_scanned_ = 0;
        break;
      }
      case State::kHeaders: {
        // Headers end at the first empty line; a part with no headers starts with it.
        if (rest.size() < 2) return pos;
        size_t number = parts_ + 1;
        std::string_view block;
        size_t used = 2;
        if (rest.substr(0, 2) != "\r\n") {
          size_t end = rest.find("\r\n\r\n", header_scanned_ > 3 ? header_scanned_ - 3 : 0);
          if (end == std::string_view::npos) {
            // Any later empty line would start past the limit.
            if (rest.size() >= kMaxMultipartHeaderBytes + 4) return HeadersTooLong(number);
            header_scanned_ = rest.size();
            return pos;
          }
          if (end > kMaxMultipartHeaderBytes) return HeadersTooLong(number);
          block = rest.substr(0, end);
          used = end + 4;
        }
        PartHead head;
        RETURN_IF_ERROR(ParsePartHeaders(block, number, &head));
        ++parts_;
        pos += used;
        state_ = State::kData;
        if (cb_.begin) RETURN_IF_ERROR(cb_.begin(head));
        break;
      }
      case State::kData: {
        size_t found = rest.find(delimiter);
        if (found == std::string_view::npos) {
          size_t data = rest.size() - HeldBack(rest, delimiter);
          if (data > 0 && cb_.data) RETURN_IF_ERROR(cb_.data(rest.substr(0, data)));
          return pos + data;
        }
        if (found > 0 && cb_.data) RETURN_IF_ERROR(cb_.data(rest.substr(0, found)));
        if (cb_.end) RETURN_IF_ERROR(cb_.end());
        pos += found + delimiter.size();
        state_ = State::kAfterDelimiter;
        break;
      }
      case State::kEpilogue:
        return in.size();
    }
  }
  return pos;
}

Status MultipartReader::Finish() {
  if (!failed_.ok()) return failed_;
  switch (state_) {
    case State::kStart:
    case State::kPreamble:
      return Fail(
          InvalidArgument("multipart body does not contain the boundary '" + boundary_ + "'"));
    case State::kAfterDelimiter:
    case State::kPadding:
      if (pending_.empty()) {
        return Fail(InvalidArgument("multipart body ends before the closing boundary"));
      }
      return Fail(InvalidArgument("multipart boundary line after part " + std::to_string(parts_) +
                                  " is not followed by CRLF"));
    case State::kHeaders:
      return Fail(HeadersTooLong(parts_ + 1));
    case State::kData:
      return Fail(InvalidArgument("part " + std::to_string(parts_) +
                                  " is not followed by a boundary (body truncated?)"));
    case State::kEpilogue:
      return Status::Ok();
  }
  return Status::Ok();
}

Result<std::vector<Part>> ParseMultipart(std::string_view body,
                                         std::string_view content_type_header) {
  std::vector<Part> parts;
  MultipartReader::Callbacks cb;
  cb.begin = [&parts](const PartHead& head) {
    parts.push_back(Part{head.name, head.filename, head.content_type, {}});
    return Status::Ok();
  };
  cb.data = [&parts](std::string_view bytes) {
    parts.back().data.append(bytes);
    return Status::Ok();
  };
  ASSIGN_OR_RETURN(MultipartReader reader, MultipartReader::Create(content_type_header, cb));
  RETURN_IF_ERROR(reader.Feed(body));
  RETURN_IF_ERROR(reader.Finish());
  return parts;
}

}  // namespace slipway::http
