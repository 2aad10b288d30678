#include "core/logging.h"

#include <pthread.h>
#include <spdlog/async.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <csignal>
#include <memory>
#include <mutex>

#include "core/json_writer.h"

namespace slipway::core::log {
namespace {

struct State {
  std::mutex mu;  // guards replacing the logger; writes go through the shared_ptr copy
  // Shared with spdlog's registry-free async machinery, which holds its own reference.
  std::shared_ptr<spdlog::logger> logger;
  LogFormat format = LogFormat::kConsole;
};

State& GetState() {
  static State* state = new State();  // never destroyed: loggers may run during static teardown
  return *state;
}

spdlog::level::level_enum ToSpd(Level l) {
  switch (l) {
    case Level::kTrace:
      return spdlog::level::trace;
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
    case Level::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

// Wraps the rendered fragment ("msg":...,"k":v) into a JSON object with time, level, node.
class JsonFormatter final : public spdlog::formatter {
 public:
  JsonFormatter(std::string node, std::string version)
      : node_(std::move(node)), version_(std::move(version)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = "{\"time\":\"";
    AppendTime(msg.time, &line);
    line += "\",\"level\":\"";
    auto level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.size());
    line += "\",\"node\":";
    AppendJsonString(&line, node_);
    line += ",\"version\":";
    AppendJsonString(&line, version_);
    line += ',';
    line.append(msg.payload.data(), msg.payload.size());
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(node_, version_);
  }

 private:
  static void AppendTime(spdlog::log_clock::time_point tp, std::string* out) {
    auto secs = std::chrono::time_point_cast<std::chrono::seconds>(tp);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp - secs).count();
    std::time_t t = spdlog::log_clock::to_time_t(tp);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];  // wide enough for any int the compiler imagines in tm
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms));
    out->append(buf);
  }

  std::string node_, version_;
};

// stdout when it is not a terminal (a file, a pipe, a container log): lines are buffered and
// written in batches, flushed every second, at once for warnings, and at shutdown. A line per
// write() would cost one system call per request.
class BufferedStdoutSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::fwrite(formatted.data(), 1, formatted.size(), stdout);
  }
  void flush_() override { std::fflush(stdout); }
};

bool NeedsQuotes(std::string_view s) {
  if (s.empty()) return true;
  for (char c : s) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

void RenderConsole(std::string_view message, std::initializer_list<Field> fields,
                   std::string* out) {
  out->append(message);
  for (const Field& f : fields) {
    out->push_back(' ');
    out->append(f.key());
    out->push_back('=');
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
            if (NeedsQuotes(v)) {
              AppendJsonString(out, v);
            } else {
              out->append(v);
            }
          } else if constexpr (std::is_same_v<T, bool>) {
            out->append(v ? "true" : "false");
          } else if constexpr (std::is_same_v<T, double>) {
            char buf[32];
            int n = std::snprintf(buf, sizeof(buf), "%.3f", v);
            out->append(buf, n);
          } else {
            out->append(std::to_string(v));
          }
        },
        f.value());
  }
}

void RenderJson(std::string_view message, std::initializer_list<Field> fields, std::string* out) {
  out->append("\"msg\":");
  AppendJsonString(out, message);
  for (const Field& f : fields) {
    out->push_back(',');
    AppendJsonString(out, f.key());
    out->push_back(':');
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
            AppendJsonString(out, v);
          } else if constexpr (std::is_same_v<T, bool>) {
            out->append(v ? "true" : "false");
          } else if constexpr (std::is_same_v<T, double>) {
            AppendJsonDouble(out, v);
          } else {
            out->append(std::to_string(v));
          }
        },
        f.value());
  }
}

std::shared_ptr<spdlog::logger> Current(LogFormat* format) {
  State& s = GetState();
  std::lock_guard lock(s.mu);
  if (!s.logger) {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    s.logger = std::make_shared<spdlog::logger>("slipway", sink);
    s.logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v", spdlog::pattern_time_type::utc);
    s.logger->set_level(spdlog::level::warn);
    s.format = LogFormat::kConsole;
  }
  *format = s.format;
  return s.logger;
}

}  // namespace

void Init(const Options& options) {
  static std::once_flag pool_once;
  std::call_once(pool_once, [] {
    // The logging thread takes no signal: a SIGTERM meant for `serve`'s sigtimedwait could
    // otherwise land on it (the one thread that had not blocked it) and kill the node (143).
    sigset_t all, before;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &before);
    spdlog::init_thread_pool(16384, 1);
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
  });

  spdlog::sink_ptr sink;
  std::shared_ptr<spdlog::logger> logger;
  if (isatty(1)) {
    sink = std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
    logger = std::make_shared<spdlog::async_logger>("slipway", sink, spdlog::thread_pool(),
                                                    spdlog::async_overflow_policy::block);
  } else {
    static std::once_flag buffered_once;  // setvbuf is valid only before the first output
    std::call_once(buffered_once, [] {
      static char buffer[1 << 16];
      std::setvbuf(stdout, buffer, _IOFBF, sizeof(buffer));
    });
    sink = std::make_shared<BufferedStdoutSink>();
    logger = std::make_shared<spdlog::logger>("slipway", sink);
  }
  if (options.format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>(options.node_id, options.version));
  } else {
    auto pattern =
        "%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ [" + options.node_id + " " + options.version + "] %v";
    logger->set_formatter(
        std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
  }
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::warn);

  State& s = GetState();
  std::lock_guard lock(s.mu);
  if (s.logger) s.logger->flush();
  spdlog::drop("slipway");
  spdlog::register_logger(logger);  // so that flush_every reaches it
  static std::once_flag flusher_once;
  std::call_once(flusher_once, [] { spdlog::flush_every(std::chrono::seconds(1)); });
  s.logger = std::move(logger);
  s.format = options.format;
}

void Shutdown() {
  State& s = GetState();
  std::lock_guard lock(s.mu);
  if (s.logger) s.logger->flush();
  spdlog::drop("slipway");
  s.logger.reset();  // the next write falls back to synchronous stderr
}

bool Enabled(Level level) {
  LogFormat format;
  return Current(&format)->should_log(ToSpd(level));
}

void Write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  LogFormat format;
  auto logger = Current(&format);
  auto spd_level = ToSpd(level);
  if (!logger->should_log(spd_level)) return;
  std::string line;
  line.reserve(128);
  if (format == LogFormat::kJson) {
    RenderJson(message, fields, &line);
  } else {
    RenderConsole(message, fields, &line);
  }
  logger->log(spd_level, "{}", line);
}

}  // namespace slipway::core::log
