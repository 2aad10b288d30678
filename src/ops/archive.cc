#include "ops/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "core/read_ahead.h"
#include "core/sha256.h"
#include "core/sodium.h"

namespace slipway::ops {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'S', 'L', 'W', 'B', 'K', 'E', 'N', 'C'};
constexpr uint8_t kEncryptionVersion = 1;
constexpr size_t kPlainChunk = 64 << 10;
constexpr size_t kSaltBytes = crypto_pwhash_SALTBYTES;  // 16
constexpr size_t kCheckBytes = 16;
constexpr size_t kHeaderBytes = sizeof(kMagic) + 1 + kSaltBytes + 8 + 8 + kCheckBytes +
                                crypto_secretstream_xchacha20poly1305_HEADERBYTES;
constexpr const char* kManifest = "manifest.json";
constexpr const char* kManifestSum = "manifest.sha256";
constexpr size_t kMaxManifestBytes = 64 << 20;
// An unencrypted archive ends with a zstd skippable frame (decoders, tar and zstd included,
// pass over it) holding the SHA-256 of every byte before it: one flipped byte anywhere is found.
constexpr unsigned char kTrailerHead[8] = {0x5E, 0x2A, 0x4D, 0x18, 40, 0, 0, 0};
constexpr char kTrailerTag[8] = {'S', 'L', 'W', 'B', 'K', 'S', 'U', 'M'};
constexpr size_t kTrailerBytes = 8 + 8 + 32;

void PutU64(unsigned char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
uint64_t GetU64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

Status WriteAll(int fd, const void* data, size_t n, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return Internal("cannot write " + what + ": " + std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

// The key of a password, with a check value that tells a wrong password from a damaged file.
Status DeriveKey(const std::string& password, const unsigned char* salt, uint64_t ops, uint64_t mem,
                 unsigned char* key, unsigned char* check) {
  if (!core::SodiumReady()) return Internal("libsodium could not be initialised");
  if (crypto_pwhash(key, crypto_secretstream_xchacha20poly1305_KEYBYTES, password.data(),
                    password.size(), salt, ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Internal("deriving the archive key ran out of memory");
  }
  static const char kLabel[] = "slipway-backup-key-check";
  crypto_generichash(check, kCheckBytes, reinterpret_cast<const unsigned char*>(kLabel),
                     sizeof(kLabel) - 1, key, crypto_secretstream_xchacha20poly1305_KEYBYTES);
  return Status::Ok();
}

// ---- writing --------------------------------------------------------------------------------

class Writer final : public ArchiveWriter {
 public:
  Writer(fs::path path, ArchiveOptions options)
      : path_(std::move(path)), partial_(path_.string() + ".partial"), options_(options) {}
  ~Writer() override {
    if (a_ != nullptr) archive_write_free(a_);
    if (fd_ >= 0) ::close(fd_);
    if (!done_) {
      std::error_code ec;
      fs::remove(partial_, ec);
    }
  }

  Status Open() {
    std::error_code ec;
    if (fs::exists(path_, ec)) return AlreadyExists("'" + path_.string() + "' already exists");
    fd_ = ::open(partial_.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
    if (fd_ < 0) {
      return Internal("cannot create '" + partial_.string() + "': " + std::strerror(errno));
    }
    if (!options_.password.empty()) RETURN_IF_ERROR(StartSealing());
    a_ = archive_write_new();
    if (a_ == nullptr || archive_write_add_filter_zstd(a_) != ARCHIVE_OK ||
        archive_write_set_format_pax_restricted(a_) != ARCHIVE_OK) {
      return Internal("libarchive cannot write tar + zstd");
    }
    std::string level = std::to_string(options_.zstd_level);
    archive_write_set_filter_option(a_, "zstd", "compression-level", level.c_str());
    int threads = options_.zstd_threads > 0 ? options_.zstd_threads
                                            : static_cast<int>(std::thread::hardware_concurrency());
    // Both cores compress (libarchive 3.6 passes it to zstd's multithreading); older ones ignore.
    archive_write_set_filter_option(a_, "zstd", "threads", std::to_string(threads).c_str());
    archive_write_set_bytes_in_last_block(a_, 1);
    if (archive_write_open(a_, this, nullptr, &Writer::OnWrite, nullptr) != ARCHIVE_OK) {
      return Error("opening");
    }
    return Status::Ok();
  }

  Status AddBytes(const std::string& name, std::string_view bytes) override {
    RETURN_IF_ERROR(Begin(name, bytes.size()));
    core::Sha256 sha;
    sha.Update(bytes);
    RETURN_IF_ERROR(Data(bytes));
    return End(name, bytes.size(), sha.HexDigest());
  }

  Status AddFile(const std::string& name, const fs::path& source) override {
    int fd = ::open(source.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return Internal("cannot open '" + source.string() + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return InvalidArgument("'" + source.string() + "' is not a regular file");
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    Status s = Begin(name, size);
    core::Sha256 sha;
    std::vector<char> buf(1 << 20);
    uint64_t copied = 0;
    while (s.ok() && copied < size) {
      ssize_t n = ::read(fd, buf.data(), std::min<uint64_t>(buf.size(), size - copied));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        s = Internal("'" + source.string() + "' shrank while it was archived");
        break;
      }
      std::string_view chunk(buf.data(), static_cast<size_t>(n));
      sha.Update(chunk);
      s = Data(chunk);
      copied += static_cast<uint64_t>(n);
    }
    ::close(fd);
    RETURN_IF_ERROR(s);
    return End(name, size, sha.HexDigest());
  }

  Result<json::object> Finish(json::object fields) override {
    fields["format"] = kArchiveFormat;
    fields["encrypted"] = !options_.password.empty();
    json::array list;
    for (const ArchiveEntry& e : entries_) {
      list.push_back(json::object{{"name", e.name}, {"size", e.size}, {"sha256", e.sha256}});
    }
    fields["entries"] = std::move(list);
    std::string manifest = json::serialize(fields);
    std::string sum = core::Sha256Hex(manifest);
    RETURN_IF_ERROR(Raw(kManifest, manifest));
    RETURN_IF_ERROR(Raw(kManifestSum, sum));
    if (archive_write_close(a_) != ARCHIVE_OK) return Error("closing");
    archive_write_free(a_);
    a_ = nullptr;
    if (sealing_) {
      RETURN_IF_ERROR(Seal(true));
    } else {
      RETURN_IF_ERROR(WriteTrailer());
    }
    if (::fsync(fd_) != 0) return Internal("cannot sync '" + partial_.string() + "'");
    ::close(fd_);
    fd_ = -1;
    // Complete and verified, or not at all: the file read back is, byte for byte, what was
    // written. (Every entry's checksum was taken from the data itself; decoding it all again
    // cost a fifth of the backup's CPU, and `slipway backup verify` does it on request.)
    RETURN_IF_ERROR(ReadBack());
    std::error_code ec;
    fs::rename(partial_, path_, ec);
    if (ec) return Internal("cannot rename the archive into place: " + ec.message());
    done_ = true;
    int dir = ::open(path_.parent_path().empty() ? "." : path_.parent_path().c_str(),
                     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
    return fields;
  }

  uint64_t bytes_in() const override { return bytes_in_; }

 private:
  static la_ssize_t OnWrite(archive*, void* self, const void* data, size_t n) {
    auto* w = static_cast<Writer*>(self);
    Status s = w->Out(data, n);
    if (!s.ok()) {
      w->out_error_ = s;
      return -1;
    }
    return static_cast<la_ssize_t>(n);
  }

  Status Out(const void* data, size_t n) {
    if (!sealing_) {
      file_sha_.Update(std::string_view(static_cast<const char*>(data), n));
      return Write(data, n);
    }
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      size_t take = std::min(n, kPlainChunk - plain_.size());
      plain_.append(p, take);
      p += take;
      n -= take;
      if (plain_.size() == kPlainChunk) RETURN_IF_ERROR(Seal(false));
    }
    return Status::Ok();
  }

  Status StartSealing() {
    if (!core::SodiumReady()) return Internal("libsodium could not be initialised");
    unsigned char header[kHeaderBytes];
    std::memcpy(header, kMagic, sizeof(kMagic));
    size_t at = sizeof(kMagic);
    header[at++] = kEncryptionVersion;
    unsigned char* salt = header + at;
    randombytes_buf(salt, kSaltBytes);
    at += kSaltBytes;
    const uint64_t ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    const uint64_t mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    PutU64(header + at, ops);
    PutU64(header + at + 8, mem);
    at += 16;
    RETURN_IF_ERROR(DeriveKey(options_.password, salt, ops, mem, key_, header + at));
    at += kCheckBytes;
    crypto_secretstream_xchacha20poly1305_init_push(&state_, header + at, key_);
    sealing_ = true;
    return Write(header, sizeof(header));
  }

  Status Seal(bool final) {
    std::vector<unsigned char> out(plain_.size() + crypto_secretstream_xchacha20poly1305_ABYTES +
                                   4);
    unsigned long long clen = 0;
    crypto_secretstream_xchacha20poly1305_push(
        &state_, out.data() + 4, &clen, reinterpret_cast<const unsigned char*>(plain_.data()),
        plain_.size(), nullptr, 0, final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
    for (int i = 0; i < 4; ++i) out[i] = static_cast<unsigned char>(clen >> (8 * i));
    plain_.clear();
    return Write(out.data(), clen + 4);
  }

  // Every byte of the file goes through here, counted and hashed for ReadBack.
  Status Write(const void* data, size_t n) {
    written_sha_.Update(std::string_view(static_cast<const char*>(data), n));
    written_ += n;
    return WriteAll(fd_, data, n, partial_.string());
  }

  Status ReadBack() {
    const std::string expected = written_sha_.HexDigest();
    int fd = ::open(partial_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Internal("cannot read back '" + partial_.string() + "'");
    core::Sha256 sha;
    std::vector<char> buf(1 << 20);
    uint64_t total = 0;
    for (;;) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ::close(fd);
        return Internal("cannot read back '" + partial_.string() + "': " + std::strerror(errno));
      }
      if (n == 0) break;
      sha.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
      total += static_cast<uint64_t>(n);
    }
    ::close(fd);
    if (total != written_ || sha.HexDigest() != expected) {
      return Internal("the archive read back from '" + partial_.string() + "' is not what was " +
                      "written (" + std::to_string(total) + " bytes of " +
                      std::to_string(written_) + ")");
    }
    return Status::Ok();
  }

  Status WriteTrailer() {
    std::string hex = file_sha_.HexDigest();
    unsigned char trailer[kTrailerBytes];
    std::memcpy(trailer, kTrailerHead, 8);
    std::memcpy(trailer + 8, kTrailerTag, 8);
    for (size_t i = 0; i < 32; ++i) {
      trailer[16 + i] = static_cast<unsigned char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
    }
    return Write(trailer, sizeof(trailer));
  }

  Status Begin(const std::string& name, uint64_t size) {
    RETURN_IF_ERROR(CheckEntryName(name));
    if (name == kManifest || name == kManifestSum || !names_.insert(name).second) {
      return InvalidArgument("archive entry '" + name + "' is reserved or added twice");
    }
    return Header(name, size);
  }
  Status Header(const std::string& name, uint64_t size) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0640);
    archive_entry_set_size(e, static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e, static_cast<time_t>(::time(nullptr)), 0);
    int r = archive_write_header(a_, e);
    archive_entry_free(e);
    return r == ARCHIVE_OK ? Status::Ok() : Error("writing the header of '" + name + "'");
  }
  Status Data(std::string_view bytes) {
    while (!bytes.empty()) {
      la_ssize_t n = archive_write_data(a_, bytes.data(), bytes.size());
      if (n <= 0) return Error("writing data");
      bytes.remove_prefix(static_cast<size_t>(n));
      bytes_in_ += static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }
  Status End(const std::string& name, uint64_t size, std::string sha) {
    if (archive_write_finish_entry(a_) != ARCHIVE_OK) return Error("finishing '" + name + "'");
    entries_.push_back({name, size, std::move(sha)});
    return Status::Ok();
  }
  Status Raw(const std::string& name, std::string_view bytes) {
    RETURN_IF_ERROR(Header(name, bytes.size()));
    RETURN_IF_ERROR(Data(bytes));
    return archive_write_finish_entry(a_) == ARCHIVE_OK ? Status::Ok() : Error("finishing");
  }
  Status Error(const std::string& what) {
    if (!out_error_.ok()) return out_error_;
    const char* detail = archive_error_string(a_);
    return Internal("writing the archive (" + what + "): " + (detail ? detail : "failed"));
  }

  fs::path path_, partial_;
  ArchiveOptions options_;
  int fd_ = -1;
  archive* a_ = nullptr;
  bool done_ = false;
  bool sealing_ = false;
  crypto_secretstream_xchacha20poly1305_state state_{};
  unsigned char key_[crypto_secretstream_xchacha20poly1305_KEYBYTES]{};
  std::string plain_;
  Status out_error_;
  std::vector<ArchiveEntry> entries_;
  std::set<std::string> names_;
  uint64_t bytes_in_ = 0;
  core::Sha256 file_sha_;     // of an unencrypted archive's bytes, for its trailer
  core::Sha256 written_sha_;  // of every byte of the file, for ReadBack
  uint64_t written_ = 0;
};

// ---- reading --------------------------------------------------------------------------------

class Source {
 public:
  ~Source() {
    if (fd_ >= 0) ::close(fd_);
    sodium_memzero(key_, sizeof(key_));
  }

  Status Open(const fs::path& path, const std::string& password) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return NotFound("cannot open '" + path.string() + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      return InvalidArgument("'" + path.string() + "' is not a regular file");
    }
    total_ = static_cast<uint64_t>(st.st_size);
    if (total_ == 0) return InvalidArgument("'" + path.string() + "' is empty, not a backup");
    unsigned char head[kHeaderBytes];
    ssize_t n = ::pread(fd_, head, sizeof(head), 0);
    if (n >= 8 && std::memcmp(head, kMagic, sizeof(kMagic)) == 0) {
      if (static_cast<size_t>(n) < kHeaderBytes) {
        return InvalidArgument("the archive is truncated (its encryption header is incomplete)");
      }
      if (password.empty()) {
        return InvalidArgument("the archive is encrypted: give its password", "PASSWORD_REQUIRED");
      }
      size_t at = sizeof(kMagic);
      if (head[at++] != kEncryptionVersion) {
        return InvalidArgument("the archive's encryption format is newer than this version");
      }
      const unsigned char* salt = head + at;
      at += kSaltBytes;
      uint64_t ops = GetU64(head + at), mem = GetU64(head + at + 8);
      at += 16;
      if (ops < 1 || ops > 16 || mem < 8192 || mem > (1ull << 30)) {
        return InvalidArgument("the archive's key derivation limits are out of range");
      }
      unsigned char check[kCheckBytes];
      RETURN_IF_ERROR(DeriveKey(password, salt, ops, mem, key_, check));
      if (sodium_memcmp(check, head + at, kCheckBytes) != 0) {
        return InvalidArgument("the password is wrong", "WRONG_PASSWORD");
      }
      at += kCheckBytes;
      if (crypto_secretstream_xchacha20poly1305_init_pull(&state_, head + at, key_) != 0) {
        return InvalidArgument("the archive's encryption header is damaged");
      }
      sealed_ = true;
      offset_ = kHeaderBytes;
      return Status::Ok();
    }
    static const unsigned char kZstd[4] = {0x28, 0xB5, 0x2F, 0xFD};
    if (n < 4 || std::memcmp(head, kZstd, 4) != 0) {
      return InvalidArgument("'" + path.filename().string() +
                             "' is not a Slipway backup (neither an encrypted backup nor tar + "
                             "zstd)");
    }
    unsigned char trailer[kTrailerBytes];
    if (total_ < kTrailerBytes + 4 ||
        ::pread(fd_, trailer, kTrailerBytes, static_cast<off_t>(total_ - kTrailerBytes)) !=
            static_cast<ssize_t>(kTrailerBytes) ||
        std::memcmp(trailer, kTrailerHead, 8) != 0 ||
        std::memcmp(trailer + 8, kTrailerTag, 8) != 0) {
      return InvalidArgument("the archive is truncated or damaged (its final checksum is missing)");
    }
    std::memcpy(expected_, trailer + 16, 32);
    return Status::Ok();
  }

  // libarchive's read callback: the next block of the compressed stream.
  static la_ssize_t OnRead(archive*, void* self, const void** buffer) {
    auto* s = static_cast<Source*>(self);
    Result<std::string_view> block = s->Next();
    if (!block.ok()) {
      s->error_ = block.status();
      return -1;
    }
    *buffer = block->data();
    return static_cast<la_ssize_t>(block->size());
  }

  // After the last entry: an unencrypted archive's remaining bytes are read and its final
  // checksum compared; an encrypted one must have ended with its final tag.
  Status Finish() {
    if (sealed_) {
      while (!final_seen_) {
        auto more = Next();
        if (!more.ok()) return more.status();
      }
      if (offset_ != total_) return InvalidArgument("the archive has bytes after its end");
      return Status::Ok();
    }
    while (offset_ < total_) {
      auto more = Next();
      if (!more.ok()) return more.status();
      if (more->empty()) break;
    }
    std::string hex = file_sha_.HexDigest();
    static const char kHex[] = "0123456789abcdef";
    std::string want;
    for (unsigned char c : expected_) {
      want += kHex[c >> 4];
      want += kHex[c & 15];
    }
    if (hex != want) {
      return InvalidArgument("the archive is damaged: its checksum does not match", "BAD_CHECKSUM");
    }
    return Status::Ok();
  }

  uint64_t consumed() const { return offset_; }
  uint64_t total() const { return total_; }
  const Status& error() const { return error_; }

 private:
  Result<std::string_view> Next() {
    if (!sealed_) {
      buf_.resize(1 << 20);
      ssize_t n = ::pread(fd_, buf_.data(), buf_.size(), static_cast<off_t>(offset_));
      if (n < 0) return Internal(std::string("reading the archive: ") + std::strerror(errno));
      Hash(std::string_view(buf_.data(), static_cast<size_t>(n)));
      offset_ += static_cast<uint64_t>(n);
      return std::string_view(buf_.data(), static_cast<size_t>(n));
    }
    if (final_seen_) {
      if (offset_ != total_) return InvalidArgument("the archive has bytes after its end");
      return std::string_view();
    }
    unsigned char len[4];
    if (::pread(fd_, len, 4, static_cast<off_t>(offset_)) != 4) {
      return InvalidArgument("the archive is truncated (its encrypted stream ends early)");
    }
    uint32_t clen = len[0] | (len[1] << 8) | (len[2] << 16) | (static_cast<uint32_t>(len[3]) << 24);
    if (clen < crypto_secretstream_xchacha20poly1305_ABYTES ||
        clen > kPlainChunk + crypto_secretstream_xchacha20poly1305_ABYTES) {
      return InvalidArgument(
          "the archive is damaged (a chunk of its encrypted stream has a bad "
          "length)");
    }
    std::vector<unsigned char> c(clen);
    if (::pread(fd_, c.data(), clen, static_cast<off_t>(offset_ + 4)) !=
        static_cast<ssize_t>(clen)) {
      return InvalidArgument("the archive is truncated (its encrypted stream ends early)");
    }
    offset_ += 4 + clen;
    buf_.resize(clen);
    unsigned long long plen = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(&state_,
                                                   reinterpret_cast<unsigned char*>(buf_.data()),
                                                   &plen, &tag, c.data(), clen, nullptr, 0) != 0) {
      return InvalidArgument("the archive is damaged (a chunk fails authentication at byte " +
                             std::to_string(offset_ - 4 - clen) + ")");
    }
    if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) final_seen_ = true;
    if (plen == 0 && final_seen_) return Next();
    return std::string_view(buf_.data(), static_cast<size_t>(plen));
  }

  // Hashes the bytes before the trailer.
  void Hash(std::string_view bytes) {
    const uint64_t end = total_ - kTrailerBytes;
    if (offset_ >= end) return;
    file_sha_.Update(
        bytes.substr(0, static_cast<size_t>(std::min<uint64_t>(bytes.size(), end - offset_))));
  }

  int fd_ = -1;
  uint64_t total_ = 0, offset_ = 0;
  bool sealed_ = false, final_seen_ = false;
  unsigned char expected_[32]{};
  core::Sha256 file_sha_;
  crypto_secretstream_xchacha20poly1305_state state_{};
  unsigned char key_[crypto_secretstream_xchacha20poly1305_KEYBYTES]{};
  std::vector<char> buf_;
  Status error_;
};

}  // namespace

Status CheckEntryName(std::string_view name) {
  auto bad = [&](const std::string& why) {
    std::string shown;
    for (char c : name.substr(0, 200)) {
      shown += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    }
    return InvalidArgument("archive entry '" + shown + "': " + why, "BAD_ENTRY");
  };
  if (name.empty()) return bad("has no name");
  if (name.size() > 1024) return bad("the name is longer than 1024 bytes");
  if (name.front() == '/') return bad("absolute paths are not allowed");
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = std::min(name.find('/', start), name.size());
    std::string_view part = name.substr(start, end - start);
    if (part.empty() || part == ".") return bad("empty or '.' path components are not allowed");
    if (part == "..") return bad("'..' is not allowed in a path");
    start = end + 1;
  }
  for (char c : name) {
    if (c == '\\') return bad("backslashes are not allowed");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return bad("control characters");
  }
  return Status::Ok();
}

Result<std::unique_ptr<ArchiveWriter>> ArchiveWriter::Create(const fs::path& path,
                                                             ArchiveOptions options) {
  auto w = std::make_unique<Writer>(path, std::move(options));
  RETURN_IF_ERROR(w->Open());
  return std::unique_ptr<ArchiveWriter>(std::move(w));
}

Result<ArchiveContents> ReadArchive(const fs::path& path, const std::string& password,
                                    const EntryVisitor& visit, const ReadProgress& progress,
                                    const EntryFilter& wanted) {
  Source source;
  RETURN_IF_ERROR(source.Open(path, password));
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), &archive_read_free);
  if (!a || archive_read_support_filter_zstd(a.get()) != ARCHIVE_OK ||
      archive_read_support_format_tar(a.get()) != ARCHIVE_OK) {
    return Internal("libarchive cannot read tar + zstd");
  }
  auto failed = [&](const std::string& what) -> Status {
    if (!source.error().ok()) return source.error();
    const char* detail = archive_error_string(a.get());
    return InvalidArgument("the archive is damaged or truncated (" + what +
                           (detail ? std::string(": ") + detail : std::string()) + ")");
  };
  if (archive_read_open(a.get(), &source, nullptr, &Source::OnRead, nullptr) != ARCHIVE_OK) {
    return failed("opening");
  }
  ArchiveContents out;
  std::string manifest_text, manifest_sum;
  std::set<std::string> seen, unchecked;
  archive_entry* e = nullptr;
  for (;;) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) return failed("reading an entry's header");
    const char* raw = archive_entry_pathname(e);
    std::string name = raw ? raw : "";
    RETURN_IF_ERROR(CheckEntryName(name));
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) != nullptr) {
      return InvalidArgument("archive entry '" + name + "': only regular files are allowed",
                             "BAD_ENTRY");
    }
    if (!seen.insert(name).second) {
      return InvalidArgument("archive entry '" + name + "' appears twice", "BAD_ENTRY");
    }
    const bool is_manifest = name == kManifest || name == kManifestSum;
    const bool skip = !is_manifest && wanted && !wanted(name);
    if (skip) unchecked.insert(name);
    ArchiveEntry entry{name, 0, ""};
    core::Sha256 sha;
    std::string* keep = name == kManifest      ? &manifest_text
                        : name == kManifestSum ? &manifest_sum
                                               : nullptr;
    for (;;) {
      // Each block as the decompressor holds it (no copy of what a reading passes over).
      const void* block = nullptr;
      size_t n = 0;
      la_int64_t at = 0;
      int got = archive_read_data_block(a.get(), &block, &n, &at);
      if (got == ARCHIVE_EOF) break;
      if (got != ARCHIVE_OK) return failed("reading '" + name + "'");
      if (at != static_cast<la_int64_t>(entry.size)) {
        return InvalidArgument("archive entry '" + name + "' has holes: not a regular file",
                               "BAD_ENTRY");
      }
      if (n == 0) continue;
      std::string_view chunk(static_cast<const char*>(block), n);
      entry.size += static_cast<uint64_t>(n);
      if (progress) progress(source.consumed(), source.total());
      if (keep != nullptr) {
        if (keep->size() + chunk.size() > kMaxManifestBytes) {
          return InvalidArgument("the archive's manifest is too large");
        }
        keep->append(chunk);
        continue;
      }
      if (skip) continue;
      sha.Update(chunk);
      if (visit) RETURN_IF_ERROR(visit(entry, chunk));
    }
    if (is_manifest) continue;
    if (!manifest_text.empty()) {
      return InvalidArgument("archive entry '" + name + "' comes after the manifest", "BAD_ENTRY");
    }
    entry.sha256 = skip ? "" : sha.HexDigest();
    out.entries.push_back(std::move(entry));
  }
  RETURN_IF_ERROR(source.Finish());
  if (manifest_text.empty() || manifest_sum.empty()) {
    return InvalidArgument("the archive has no manifest: it is truncated or not a Slipway backup");
  }
  if (core::Sha256Hex(manifest_text) != manifest_sum) {
    return InvalidArgument("the manifest's checksum does not match: the manifest was changed",
                           "BAD_MANIFEST");
  }
  boost::system::error_code ec;
  json::value manifest = json::parse(manifest_text, ec);
  if (ec || !manifest.is_object()) return InvalidArgument("the manifest is not a JSON object");
  out.manifest = std::move(manifest.as_object());
  const json::value* format = out.manifest.if_contains("format");
  if (format == nullptr || !format->is_int64()) {
    return InvalidArgument("the manifest has no format version");
  }
  if (format->as_int64() > kArchiveFormat) {
    return InvalidArgument("the archive's format " + std::to_string(format->as_int64()) +
                               " is newer than this version reads (" +
                               std::to_string(kArchiveFormat) + ")",
                           "NEWER_FORMAT");
  }
  const json::value* listed = out.manifest.if_contains("entries");
  if (listed == nullptr || !listed->is_array())
    return InvalidArgument("the manifest lists nothing");
  std::map<std::string, const json::object*> by_name;
  for (const json::value& v : listed->as_array()) {
    if (!v.is_object() || !v.as_object().contains("name")) {
      return InvalidArgument("the manifest has a malformed entry");
    }
    by_name[std::string(v.at("name").as_string())] = &v.as_object();
  }
  for (const ArchiveEntry& e2 : out.entries) {
    auto it = by_name.find(e2.name);
    if (it == by_name.end()) {
      return InvalidArgument("archive entry '" + e2.name + "' is not in the manifest", "BAD_ENTRY");
    }
    const json::object& m = *it->second;
    const json::value* size = m.if_contains("size");
    const json::value* sum = m.if_contains("sha256");
    bool size_ok =
        size && ((size->is_int64() && size->as_int64() == static_cast<int64_t>(e2.size)) ||
                 (size->is_uint64() && size->as_uint64() == e2.size));
    const bool sum_ok = unchecked.count(e2.name) > 0 ||
                        (sum != nullptr && sum->is_string() && sum->as_string() == e2.sha256);
    if (!size_ok || !sum_ok) {
      return InvalidArgument("archive entry '" + e2.name +
                                 "' does not match its checksum in the manifest: it is damaged",
                             "BAD_CHECKSUM");
    }
    by_name.erase(it);
  }
  if (!by_name.empty()) {
    return InvalidArgument("archive entry '" + by_name.begin()->first +
                               "' is in the manifest but missing from the archive",
                           "BAD_ENTRY");
  }
  out.file_bytes = source.total();
  if (progress) progress(source.total(), source.total());
  return out;
}

Result<ArchiveContents> ReadArchiveAhead(const fs::path& path, const std::string& password,
                                         const EntryVisitor& visit, const EntryFilter& wanted,
                                         const ReadProgress& progress) {
  struct Slice {
    ArchiveEntry entry;
    std::string data;
  };
  std::optional<ArchiveContents> contents;
  Status read = core::ReadAhead<Slice>(
      /*limit=*/8 << 20, [](const Slice& s) { return s.data.size(); },
      [&](const std::function<Status(Slice)>& push) -> Status {
        auto all = ReadArchive(
            path, password,
            [&](const ArchiveEntry& e, std::string_view data) {
              return push(Slice{e, std::string(data)});
            },
            progress, wanted);
        if (!all.ok()) return all.status();
        contents = std::move(*all);
        return Status::Ok();
      },
      [&](Slice& slice) { return visit(slice.entry, slice.data); });
  if (!read.ok()) return read;
  return std::move(*contents);
}

}  // namespace slipway::ops
