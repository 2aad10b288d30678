#include "db/bulk.h"

#include <charconv>
#include <type_traits>
#include <variant>

namespace slipway::db {

void AppendCopyText(std::string* out, std::string_view text) {
  // Runs without a special character are appended whole.
  size_t run = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const char* escaped = c == '\\'   ? "\\\\"
                          : c == '\t' ? "\\t"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                                      : nullptr;
    if (escaped == nullptr) continue;
    out->append(text, run, i - run);
    out->append(escaped, 2);
    run = i + 1;
  }
  out->append(text, run, text.size() - run);
}

void AppendCopyValue(std::string* out, const Value& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          out->append("\\N");
        } else if constexpr (std::is_same_v<T, bool>) {
          out->append(v ? "true" : "false");
        } else if constexpr (std::is_same_v<T, std::string>) {
          AppendCopyText(out, v);
        } else {  // int64_t, double: the shortest text that reads back exactly
          char buf[32];
          auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
          out->append(buf, end);
        }
      },
      value);
}

}  // namespace slipway::db
