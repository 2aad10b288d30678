#include "db/bulk.h"

#include <charconv>
#include <type_traits>
#include <variant>

namespace slipway::db {

void AppendCopyValue(std::string* out, const Value& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          out->append("\\N");
        } else if constexpr (std::is_same_v<T, bool>) {
          out->append(v ? "true" : "false");
        } else if constexpr (std::is_same_v<T, std::string>) {
          for (char c : v) {
            switch (c) {
              case '\\':
                out->append("\\\\");
                break;
              case '\t':
                out->append("\\t");
                break;
              case '\n':
                out->append("\\n");
                break;
              case '\r':
                out->append("\\r");
                break;
              default:
                out->push_back(c);
            }
          }
        } else {  // int64_t, double: the shortest text that reads back exactly
          char buf[32];
          auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
          out->append(buf, end);
        }
      },
      value);
}

}  // namespace slipway::db
