#include "core/guard.h"

#include <exception>
#include <string>

namespace slipway::core {

Status Guard(std::string_view who, std::string_view what, const std::function<Status()>& fn) {
  const std::string name =
      what.empty() ? std::string(who) : std::string(who) + " " + std::string(what);
  try {
    Status s = fn();
    return s.ok() ? s : s.WithContext(name);
  } catch (const std::exception& e) {
    return Internal(name + " threw: " + e.what());
  } catch (...) {
    return Internal(name + " threw an exception that is not a std::exception");
  }
}

}  // namespace slipway::core
