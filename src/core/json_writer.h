// JsonWriter: appends JSON text straight into a std::string, no document tree in between.
//
// Used on the hot path (rows to response bodies) and by the JSON log format. The writer tracks
// only whether a comma is due; it does not validate nesting, so callers pair Begin/End calls.
// Strings are escaped per RFC 8259; bytes >= 0x80 pass through (input is UTF-8 already, every
// request body having been validated by the JSON parser). Non-finite doubles are written as null.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace slipway::core {

// Appends `s` as a quoted, escaped JSON string.
void AppendJsonString(std::string* out, std::string_view s);

// Whether none of the 8 bytes at `p` is a quote, a backslash or a control character (and, with
// `ascii`, none is above 0x7f): JSON text is scanned a word at a time until one is. Each test
// tells exactly whether any byte matches.
inline bool QuietJsonWord(const char* p, bool ascii) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;
  uint64_t x;
  std::memcpy(&x, p, sizeof(x));
  auto has_zero = [&](uint64_t v) { return (v - kOnes) & ~v & kHighs; };
  const uint64_t below_space = (x - kOnes * 0x20) & ~x & kHighs;
  const uint64_t high = ascii ? x & kHighs : 0;
  return (has_zero(x ^ (kOnes * '"')) | has_zero(x ^ (kOnes * '\\')) | below_space | high) == 0;
}

// Appends the shortest text that reads back as `v`; null when not finite.
void AppendJsonDouble(std::string* out, double v);

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject() { return Open('{'); }
  JsonWriter& EndObject() { return Close('}'); }
  JsonWriter& BeginArray() { return Open('['); }
  JsonWriter& EndArray() { return Close(']'); }

  // Inside an object: the next value's key.
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view v);
  JsonWriter& Int(int64_t v);
  JsonWriter& Double(double v);
  JsonWriter& Bool(bool v);
  JsonWriter& Null();
  // Appends already-serialized JSON as one value.
  JsonWriter& Raw(std::string_view json);

  std::string* out() { return out_; }

 private:
  JsonWriter& Open(char c);
  JsonWriter& Close(char c);
  void BeforeValue();

  std::string* out_;
  std::vector<bool> has_items_;  // one entry per open container
  bool after_key_ = false;
};

}  // namespace slipway::core
