#include "auth/app_key.h"

#include <sodium.h>
#include <sys/stat.h>

#include <fstream>

#include "core/logging.h"
#include "core/sodium.h"

namespace slipway::auth {

Status EnsureAppKey(const std::filesystem::path& storage, std::string* key) {
  if (!key->empty()) return Status::Ok();
  std::filesystem::path path = storage / ".app-key";
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::ifstream in(path);
    std::getline(in, *key);
    if (key->size() < 32) {
      return FailedPrecondition("the key in " + path.string() +
                                " is shorter than 32 characters; "
                                "remove the file or set APP_KEY");
    }
    return Status::Ok();
  }
  std::filesystem::create_directories(storage, ec);
  if (!core::SodiumReady()) return Internal("libsodium failed to initialise");
  unsigned char raw[32];
  randombytes_buf(raw, sizeof(raw));
  char hex[65];
  sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
  std::string tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << hex << "\n";
    if (!out) return Unavailable("cannot write " + tmp);
  }
  ::chmod(tmp.c_str(), 0600);
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Unavailable("cannot write " + path.string() + ": " + ec.message());
  *key = hex;
  core::log::Warn(
      "APP_KEY is not set: generated one into the storage directory; set APP_KEY "
      "to the same value on every node of a cluster",
      {{"file", path.string()}});
  return Status::Ok();
}

}  // namespace slipway::auth
