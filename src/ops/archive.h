// The backup archive (issue 13): one file, tar (pax) compressed with zstd through libarchive,
// optionally encrypted with a password, ending with a manifest that lists every entry with its
// size and SHA-256, and the manifest's own SHA-256 after it.
//
//   <entries...>            e.g. dump/schema.json, dump/rows/posts/000001.ndjson, files/uploads/x
//   manifest.json           {"format": 1, ..., "entries": [{"name", "size", "sha256"}, ...]}
//   manifest.sha256         the hex SHA-256 of manifest.json
//
// Encrypted (a password given): the compressed stream is sealed with libsodium's secretstream
// (XChaCha20-Poly1305) in chunks, under a key derived from the password with Argon2id; the file
// starts with "SLWBKENC" and the key derivation's salt and limits. A flipped byte anywhere fails
// authentication; a truncated file lacks the final tag. Unencrypted archives are a plain
// .tar.zst that tar can read; a flipped byte fails zstd's frame checksum or an entry's SHA-256.
//
// Writing goes to "<path>.partial" (created exclusively); Finish() writes the manifest, fsyncs,
// reads the file back and compares it, byte for byte (its length and SHA-256), with what was
// written, and only then renames it into place and fsyncs the directory. An unfinished writer
// removes its partial file.
//
// Reading checks, before it reports success: the file is one of these archives (not empty, not
// foreign), the password, every entry name (relative, no "..", no "." or empty component, no
// backslash or control character, regular files only, no entry twice), every entry's size and
// SHA-256 against the manifest, the manifest's checksum, and that the manifest lists exactly the
// entries present. Each failure is InvalidArgument naming what failed (the entry, the check).
// Thread-safety: a writer or a read is used by one thread.
#pragma once

#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "slipway/status.h"

namespace slipway::ops {

inline constexpr int kArchiveFormat = 1;

struct ArchiveOptions {
  std::string password;  // empty: not encrypted
  int zstd_level = 1;
  int zstd_threads = 0;  // 0: one per core
};

struct ArchiveEntry {
  std::string name;
  uint64_t size = 0;
  std::string sha256;
};

// Checks an entry name against the rules above; InvalidArgument naming it otherwise.
Status CheckEntryName(std::string_view name);

class ArchiveWriter {
 public:
  static Result<std::unique_ptr<ArchiveWriter>> Create(const std::filesystem::path& path,
                                                       ArchiveOptions options);
  virtual ~ArchiveWriter() = default;
  // An entry from memory (a chunk of a dump).
  virtual Status AddBytes(const std::string& name, std::string_view bytes) = 0;
  // An entry streamed from a file on disk (an upload); its size is read first and must not
  // change while it is copied.
  virtual Status AddFile(const std::string& name, const std::filesystem::path& source) = 0;
  // Writes the manifest (`fields` plus "format" and "entries"), verifies the archive by reading
  // it back, and renames it into place. Returns the manifest as written.
  virtual Result<boost::json::object> Finish(boost::json::object fields) = 0;
  virtual uint64_t bytes_in() const = 0;  // uncompressed bytes added so far
};

struct ArchiveContents {
  boost::json::object manifest;
  std::vector<ArchiveEntry> entries;  // in archive order, manifest files excluded
  uint64_t file_bytes = 0;            // the archive's size on disk
};

// Called with each entry's data as it streams (any slicing; an empty slice for an empty entry
// at its end is not sent). An error stops the read.
using EntryVisitor = std::function<Status(const ArchiveEntry& entry, std::string_view data)>;
// Called as bytes of the archive file are consumed.
using ReadProgress = std::function<void(uint64_t done, uint64_t total)>;

// Which entries a reading wants, by name (called once per entry, in order, on the reading's
// thread). One it does not want is read past: not visited, its size checked but not its
// checksum (for a reading that shares the archive with others, each checking what it uses).
using EntryFilter = std::function<bool(const std::string& name)>;

// Reads and checks the whole archive (see the file comment). `visit` may be null; so may
// `wanted` (every entry).
Result<ArchiveContents> ReadArchive(const std::filesystem::path& path, const std::string& password,
                                    const EntryVisitor& visit = {},
                                    const ReadProgress& progress = {},
                                    const EntryFilter& wanted = {});
// As ReadArchive, with the reading (decryption, decompression, checksums) on a thread of its
// own, a few megabytes ahead of `visit`, which runs on the caller's thread: a restore parses and
// loads rows while the next ones are decoded (core::ReadAhead; in a fiber, one thread).
// `progress` is called on the reading's thread.
Result<ArchiveContents> ReadArchiveAhead(const std::filesystem::path& path,
                                         const std::string& password, const EntryVisitor& visit,
                                         const EntryFilter& wanted = {},
                                         const ReadProgress& progress = {});

}  // namespace slipway::ops
