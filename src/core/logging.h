// Structured logging: one call site, two renderings.
//
//   log::Info("request", {{"method", "GET"}, {"path", path}, {"status", 200}, {"ms", 0.4}});
//
// On a terminal (LOG_FORMAT=console, the default) a line reads
//   2026-11-25T10:49:19.123Z INFO  [host:13000 0.1.0] request method=GET path=/api/x status=200
// and with LOG_FORMAT=json it is one JSON object per line with "time", "level", "node",
// "version", "msg" and the fields as keys. Every line names the node and the binary version.
//
// Thread-safe. Lines are rendered on the caller's thread. On a terminal a background thread
// (spdlog's async logger) writes them, so a request never waits on the terminal. Elsewhere (a
// file, a pipe, a container log) they go into a 64 KiB buffer that is written when full, every
// second, at once for warnings and at shutdown: no thread is woken per line, which at tens of
// thousands of requests a second would cost more than the line. Before Init() lines go to
// stderr synchronously at level warn, which is what unit tests see.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "core/config.h"

namespace slipway::core::log {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// A key and a value; holds views, so it must not outlive the call it is passed to.
class Field {
 public:
  Field(std::string_view key, std::string_view v) : key_(key), value_(v) {}
  Field(std::string_view key, const std::string& v) : key_(key), value_(std::string_view(v)) {}
  Field(std::string_view key, const char* v) : key_(key), value_(std::string_view(v)) {}
  Field(std::string_view key, int v) : key_(key), value_(static_cast<int64_t>(v)) {}
  Field(std::string_view key, long v) : key_(key), value_(static_cast<int64_t>(v)) {}
  Field(std::string_view key, long long v) : key_(key), value_(static_cast<int64_t>(v)) {}
  Field(std::string_view key, unsigned v) : key_(key), value_(static_cast<int64_t>(v)) {}
  Field(std::string_view key, unsigned long v) : key_(key), value_(static_cast<int64_t>(v)) {}
  Field(std::string_view key, unsigned long long v) : key_(key), value_(static_cast<int64_t>(v)) {}
  Field(std::string_view key, double v) : key_(key), value_(v) {}
  Field(std::string_view key, bool v) : key_(key), value_(v) {}

  std::string_view key() const { return key_; }
  const std::variant<std::string_view, int64_t, double, bool>& value() const { return value_; }

 private:
  std::string_view key_;
  std::variant<std::string_view, int64_t, double, bool> value_;
};

struct Options {
  LogFormat format = LogFormat::kConsole;
  std::string level = "info";
  std::string node_id;
  std::string version;
};

// Replaces the process logger. Safe to call again (tests, the CLI after loading config).
void Init(const Options& options);
// Flushes and stops the background writer; later lines go to stderr synchronously.
void Shutdown();

bool Enabled(Level level);
void Write(Level level, std::string_view message, std::initializer_list<Field> fields);

inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kDebug, m, f);
}
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, m, f);
}
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, m, f);
}
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kError, m, f);
}

}  // namespace slipway::core::log
