#include "http/multipart.h"

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
Status ParsePartHeaders(std::string_view block, size_t number, Part* part) {
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

}  // namespace

Result<std::vector<Part>> ParseMultipart(std::string_view body,
                                         std::string_view content_type_header) {
  ASSIGN_OR_RETURN(std::string boundary, Boundary(content_type_header));
  const std::string delimiter = "--" + boundary;
  const std::string crlf_delimiter = "\r\n" + delimiter;

  // The first delimiter opens the body or follows a CRLF that ends the preamble.
  size_t pos;
  if (body.substr(0, delimiter.size()) == delimiter) {
    pos = 0;
  } else {
    pos = body.find(crlf_delimiter);
    if (pos == std::string_view::npos) {
      return InvalidArgument("multipart body does not contain the boundary '" + boundary + "'");
    }
    pos += 2;
  }

  std::vector<Part> parts;
  while (true) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") return parts;  // the close delimiter; the rest is epilogue
    while (pos < body.size() && IsSpace(body[pos])) ++pos;  // RFC 2046 transport padding
    if (body.substr(pos, 2) != "\r\n") {
      if (pos >= body.size()) {
        return InvalidArgument("multipart body ends before the closing boundary");
      }
      return InvalidArgument("multipart boundary line after part " + std::to_string(parts.size()) +
                             " is not followed by CRLF");
    }
    pos += 2;
    if (parts.size() == kMaxMultipartParts) {
      return InvalidArgument("multipart body has more than " + std::to_string(kMaxMultipartParts) +
                             " parts");
    }
    size_t number = parts.size() + 1;
    // Headers end at the first empty line; a part with no headers starts with it.
    size_t data_start;
    std::string_view headers;
    if (body.substr(pos, 2) == "\r\n") {
      data_start = pos + 2;
    } else {
      size_t end = body.find("\r\n\r\n", pos);
      if (end == std::string_view::npos || end - pos > kMaxMultipartHeaderBytes) {
        return InvalidArgument("part " + std::to_string(number) +
                               ": headers do not end with an empty line within " +
                               std::to_string(kMaxMultipartHeaderBytes) + " bytes");
      }
      headers = body.substr(pos, end - pos);
      data_start = end + 4;
    }
    Part part;
    RETURN_IF_ERROR(ParsePartHeaders(headers, number, &part));
    size_t data_end = body.find(crlf_delimiter, data_start);
    if (data_end == std::string_view::npos) {
      return InvalidArgument("part " + std::to_string(number) +
                             " is not followed by a boundary (body truncated?)");
    }
    part.data = std::string(body.substr(data_start, data_end - data_start));
    parts.push_back(std::move(part));
    pos = data_end + 2;
  }
}

}  // namespace slipway::http
