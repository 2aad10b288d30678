#include "http/query_string.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace slipway::http {
namespace json = boost::json;

namespace {

// A value being assembled the way qs assembles it: arrays may have holes until the end (qs
// compacts them), so they keep explicit indices.
struct Node {
  enum class Kind { kString, kTrue, kArray, kObject };
  Kind kind = Kind::kString;
  std::string text;               // kString
  std::vector<std::string> keys;  // kObject: keys[i] names children[i]
  std::vector<long> indices;      // kArray: indices[i] places children[i]; ascending
  std::vector<Node> children;

  bool container() const { return kind == Kind::kArray || kind == Kind::kObject; }

  static Node String(std::string s) {
    Node n;
    n.text = std::move(s);
    return n;
  }
  static Node Of(Kind kind) {
    Node n;
    n.kind = kind;
    return n;
  }

  // Arrays.
  Node* At(long index) {
    auto it = std::lower_bound(indices.begin(), indices.end(), index);
    if (it == indices.end() || *it != index) return nullptr;
    return &children[static_cast<size_t>(it - indices.begin())];
  }
  void Set(long index, Node child) {
    auto it = std::lower_bound(indices.begin(), indices.end(), index);
    size_t pos = static_cast<size_t>(it - indices.begin());
    if (it != indices.end() && *it == index) {
      children[pos] = std::move(child);
      return;
    }
    indices.insert(it, index);
    children.insert(children.begin() + static_cast<long>(pos), std::move(child));
  }
  void Push(Node child) { Set(indices.empty() ? 0 : indices.back() + 1, std::move(child)); }

  // Objects.
  Node* Find(std::string_view key) {
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == key) return &children[i];
    }
    return nullptr;
  }
  void Put(std::string key, Node child) {
    if (Node* existing = Find(key)) {
      *existing = std::move(child);
      return;
    }
    keys.push_back(std::move(key));
    children.push_back(std::move(child));
  }

  // qs's arrayToObject: indices become keys.
  void ArrayToObject() {
    kind = Kind::kObject;
    keys.clear();
    for (long i : indices) keys.push_back(std::to_string(i));
    indices.clear();
  }
};

// qs's utils.merge(target, source), in place.
void Merge(Node& target, Node source) {
  using Kind = Node::Kind;
  if (!source.container()) {
    if (source.kind == Kind::kString && source.text.empty()) return;  // qs: `if (!source)`
    if (target.kind == Kind::kArray) {
      target.Push(std::move(source));
    } else if (target.kind == Kind::kObject) {
      if (source.kind == Kind::kString) target.Put(source.text, Node::Of(Kind::kTrue));
    } else {
      Node array = Node::Of(Kind::kArray);
      array.Push(std::move(target));
      array.Push(std::move(source));
      target = std::move(array);
    }
    return;
  }
  if (!target.container()) {  // [target].concat(source)
    Node array = Node::Of(Kind::kArray);
    array.Push(std::move(target));
    if (source.kind == Kind::kArray) {
      for (size_t i = 0; i < source.children.size(); ++i) {
        array.Set(1 + source.indices[i], std::move(source.children[i]));
      }
    } else {
      array.Push(std::move(source));
    }
    target = std::move(array);
    return;
  }
  if (target.kind == Kind::kArray && source.kind == Kind::kArray) {
    for (size_t i = 0; i < source.children.size(); ++i) {
      Node& item = source.children[i];
      Node* existing = target.At(source.indices[i]);
      if (existing == nullptr) {
        target.Set(source.indices[i], std::move(item));
      } else if (existing->container() && item.container()) {
        Merge(*existing, std::move(item));
      } else {
        target.Push(std::move(item));
      }
    }
    return;
  }
  if (target.kind == Kind::kArray) target.ArrayToObject();
  if (source.kind == Kind::kArray) source.ArrayToObject();
  for (size_t i = 0; i < source.children.size(); ++i) {
    if (Node* existing = target.Find(source.keys[i])) {
      Merge(*existing, std::move(source.children[i]));
    } else {
      target.Put(std::move(source.keys[i]), std::move(source.children[i]));
    }
  }
}

json::value ToJson(Node&& n) {
  switch (n.kind) {
    case Node::Kind::kString:
      return json::string(n.text);
    case Node::Kind::kTrue:
      return true;
    case Node::Kind::kArray: {
      json::array out;
      out.reserve(n.children.size());
      for (Node& child : n.children) out.push_back(ToJson(std::move(child)));
      return out;
    }
    case Node::Kind::kObject: {
      json::object out;
      for (size_t i = 0; i < n.children.size(); ++i) {
        out[n.keys[i]] = ToJson(std::move(n.children[i]));
      }
      return out;
    }
  }
  return nullptr;
}

// The next "[...]" (no brackets inside) at or after `from`, as [begin, end); npos when none.
std::pair<size_t, size_t> NextSegment(std::string_view key, size_t from) {
  for (size_t i = key.find('[', from); i != std::string_view::npos; i = key.find('[', i + 1)) {
    size_t j = i + 1;
    while (j < key.size() && key[j] != '[' && key[j] != ']') ++j;
    if (j < key.size() && key[j] == ']') return {i, j + 1};
  }
  return {std::string_view::npos, std::string_view::npos};
}

// qs's parseKeys: "a[b][c]" -> ["a", "[b]", "[c]"]; past kMaxQueryDepth levels the rest of the
// key is one more segment, "[" + rest + "]".
std::vector<std::string> SplitKey(std::string_view key) {
  std::vector<std::string> chain;
  auto [begin, end] = NextSegment(key, 0);
  std::string_view parent = begin == std::string_view::npos ? key : key.substr(0, begin);
  if (!parent.empty()) chain.emplace_back(parent);
  int levels = 0;
  while (begin != std::string_view::npos && levels < kMaxQueryDepth) {
    chain.emplace_back(key.substr(begin, end - begin));
    ++levels;
    std::tie(begin, end) = NextSegment(key, end);
  }
  if (begin != std::string_view::npos) {
    chain.push_back("[" + std::string(key.substr(begin)) + "]");
  }
  return chain;
}

// "0".."100" written canonically (no sign, no leading zero): an array index in qs.
bool ArrayIndex(std::string_view s, long* index) {
  if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return false;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v > kMaxQueryArrayIndex) return false;
  *index = v;
  return true;
}

// qs's parseObject: builds {"a": {"b": leaf}} from ["a", "[b]"], innermost first.
Node Build(const std::vector<std::string>& chain, Node leaf) {
  for (size_t i = chain.size(); i-- > 0;) {
    const std::string& root = chain[i];
    if (root == "[]") {
      if (leaf.kind == Node::Kind::kArray) continue;  // [].concat(array) is the array
      Node array = Node::Of(Node::Kind::kArray);
      array.Push(std::move(leaf));
      leaf = std::move(array);
      continue;
    }
    bool bracketed = root.size() >= 2 && root.front() == '[' && root.back() == ']';
    std::string clean = bracketed ? root.substr(1, root.size() - 2) : root;
    long index = 0;
    if (bracketed && ArrayIndex(clean, &index)) {
      Node array = Node::Of(Node::Kind::kArray);
      array.Set(index, std::move(leaf));
      leaf = std::move(array);
    } else {
      Node object = Node::Of(Node::Kind::kObject);
      if (clean != "__proto__") object.Put(std::move(clean), std::move(leaf));
      leaf = std::move(object);
    }
  }
  return leaf;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// A parameter's name as it may appear in an error message: printable ASCII, at most 60 bytes.
std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 60)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (s.size() > 60) out += "...";
  return out;
}

// Percent-decoding with '+' as space; false when an escape is malformed.
bool Decode(std::string_view s, std::string* out) {
  out->clear();
  out->reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= s.size()) return false;
      int hi = HexDigit(s[i + 1]);
      int lo = HexDigit(s[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out->push_back(c);
    }
  }
  return true;
}

Status CheckDecoded(std::string_view decoded, std::string_view name) {
  if (!ValidUtf8(decoded)) {
    return InvalidArgument("query parameter '" + Printable(name) + "' is not valid UTF-8");
  }
  if (decoded.find('\0') != std::string_view::npos) {
    return InvalidArgument("query parameter '" + Printable(name) + "' contains a NUL byte");
  }
  return Status::Ok();
}

}  // namespace

Result<json::object> ParseQueryString(std::string_view raw_query) {
  // First qs's parseValues: decoded key -> value, repeated keys collected into arrays.
  std::vector<std::string> flat_keys;
  std::vector<Node> flat_values;
  size_t count = 0;
  size_t start = 0;
  std::string key;
  std::string value;
  while (start <= raw_query.size()) {
    size_t amp = raw_query.find('&', start);
    if (amp == std::string_view::npos) amp = raw_query.size();
    std::string_view part = raw_query.substr(start, amp - start);
    start = amp + 1;
    if (part.empty()) continue;
    if (++count > kMaxQueryParameters) {
      return InvalidArgument("the query string has more than " +
                             std::to_string(kMaxQueryParameters) + " parameters");
    }
    // As qs: the value starts after "]=" when there is one, so a key may hold '='.
    size_t bracket_equals = part.find("]=");
    size_t eq = bracket_equals == std::string_view::npos ? part.find('=') : bracket_equals + 1;
    std::string_view raw_key = part.substr(0, eq);
    std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    if (!Decode(raw_key, &key)) {
      return InvalidArgument("query parameter '" + Printable(raw_key) +
                             "': malformed percent-encoding in its name");
    }
    RETURN_IF_ERROR(CheckDecoded(key, raw_key));
    if (!Decode(raw_value, &value)) {
      return InvalidArgument("query parameter '" + Printable(key) +
                             "': malformed percent-encoding in its value");
    }
    RETURN_IF_ERROR(CheckDecoded(value, key));
    if (key.empty()) continue;  // qs ignores parameters without a name
    auto it = std::find(flat_keys.begin(), flat_keys.end(), key);
    if (it == flat_keys.end()) {
      flat_keys.push_back(key);
      flat_values.push_back(Node::String(value));
      continue;
    }
    Node& existing = flat_values[static_cast<size_t>(it - flat_keys.begin())];
    if (existing.kind != Node::Kind::kArray) {
      Node array = Node::Of(Node::Kind::kArray);
      array.Push(std::move(existing));
      existing = std::move(array);
    }
    existing.Push(Node::String(value));
  }
  // Then parseKeys/parseObject for each key, merged in order.
  Node root = Node::Of(Node::Kind::kObject);
  for (size_t i = 0; i < flat_keys.size(); ++i) {
    std::vector<std::string> chain = SplitKey(flat_keys[i]);
    Merge(root, Build(chain, std::move(flat_values[i])));
  }
  if (root.kind != Node::Kind::kObject) root.ArrayToObject();
  return std::move(ToJson(std::move(root)).as_object());
}

}  // namespace slipway::http
