#include "data/access.h"

namespace slipway::data {

Status NoPermission(const RecordAccess& access, std::string_view what) {
  return PermissionDenied("No permissions: " + access.Who() + " may not " + std::string(what),
                          "NO_PERMISSION");
}

}  // namespace slipway::data
