// SHA-256 over data that arrives in pieces (uploads, and archive entries later), through
// OpenSSL's EVP interface, which uses the CPU's SHA extensions where it has them (about 1.4 GB/s
// here, several times libsodium's portable code, which made hashing the bottleneck of uploads).
//
// Thread-safety: one object per stream; distinct objects may be used on different threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace slipway::core {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(std::string_view bytes);
  // The digest of everything given, as 64 lower-case hex digits. Ends the stream: Update after
  // it starts a new one.
  std::string HexDigest();

 private:
  struct Context;
  std::unique_ptr<Context> ctx_;
};

// The digest of `bytes` at once.
std::string Sha256Hex(std::string_view bytes);

}  // namespace slipway::core
