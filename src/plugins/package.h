// Plugin packages on disk: unpacking an uploaded archive safely, and reading what it holds.
//
// A package is a gzip- or zstd-compressed tar (also plain tar) holding manifest.json (see
// manifest.h) and the plugin's shared library at the manifest's `main`. npm tarballs put every
// entry under "package/"; that prefix is stripped when every entry has it.
//
// UnpackPackage treats the archive as hostile. It refuses, with InvalidArgument naming the entry
// and leaving nothing behind: absolute paths, any ".." part, symbolic and hard links, devices,
// FIFOs and sockets, sparse files, names that are not valid UTF-8, duplicate entries (or a file
// where a directory is needed), more than kMaxPackageEntries entries, more than
// kMaxPackageBytes unpacked and any single file over kMaxPackageFileBytes. It reads the archive
// twice from memory: first to check every entry, then to write, so a refused archive never
// touches the disk beyond the staging directory, which is removed. Regular files are written
// 0644 and directories 0755, whatever the archive says; the caller makes the library executable
// if it wants to.
//
// Other failures: Internal for a filesystem error that is not the archive's fault (disk full,
// permissions), with the path and errno text.
//
// Thread-safety: free functions without shared state; concurrent calls with the same
// staging_root are safe (each creates its own directory).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "plugins/manifest.h"
#include "slipway/status.h"

namespace slipway::plugins {

inline constexpr size_t kMaxPackageEntries = 1000;
inline constexpr uint64_t kMaxPackageBytes = uint64_t{256} << 20;      // unpacked, all files
inline constexpr uint64_t kMaxPackageFileBytes = uint64_t{128} << 20;  // one file
inline constexpr size_t kMaxManifestBytes = 1 << 20;

// Limits of one unpack; tests shrink them.
struct UnpackLimits {
  size_t max_entries = kMaxPackageEntries;
  uint64_t max_total_bytes = kMaxPackageBytes;
  uint64_t max_file_bytes = kMaxPackageFileBytes;
};

// Unpacks `archive_bytes` into a new directory under `staging_root` (created if missing), named
// ".staging-XXXXXX", and returns its path. The caller owns the directory (renames or removes it).
Result<std::filesystem::path> UnpackPackage(std::string_view archive_bytes,
                                            const std::filesystem::path& staging_root,
                                            const UnpackLimits& limits = {});

struct PackageInfo {
  Manifest manifest;
  std::filesystem::path dir;      // as given to InspectPackage
  std::filesystem::path library;  // dir / manifest.main
};

// Reads and parses `dir`/manifest.json and checks that `main` is a regular file inside `dir`
// (not reached through a symbolic link). InvalidArgument for a package that fails either,
// naming what is wrong. Whether the manifest's api_version, app_versions and dependencies suit
// this Slipway is the caller's decision (the plugin manager checks them before loading).
Result<PackageInfo> InspectPackage(const std::filesystem::path& dir);

// The whole file. NotFound when it does not exist, InvalidArgument when it is not a regular
// file (a FIFO or a device is refused at once, never waited on), ResourceExhausted when it is
// larger than `max_bytes`, Internal for a read error.
Result<std::string> ReadFileBytes(const std::filesystem::path& path, size_t max_bytes);

}  // namespace slipway::plugins
