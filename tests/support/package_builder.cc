#include "package_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <memory>

namespace slipway::testing {
namespace {

la_ssize_t Append(archive*, void* client_data, const void* buffer, size_t length) {
  static_cast<std::string*>(client_data)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

mode_t FileType(EntryType type) {
  switch (type) {
    case EntryType::kFile:
    case EntryType::kHardlink:
      return AE_IFREG;
    case EntryType::kDir:
      return AE_IFDIR;
    case EntryType::kSymlink:
      return AE_IFLNK;
    case EntryType::kFifo:
      return AE_IFIFO;
    case EntryType::kCharDevice:
      return AE_IFCHR;
  }
  return AE_IFREG;
}

}  // namespace

std::string BuildPackage(const std::vector<PackageEntry>& entries, Compression compression) {
  std::string out;
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            &archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  if (compression == Compression::kGzip) archive_write_add_filter_gzip(a.get());
  if (compression == Compression::kZstd) archive_write_add_filter_zstd(a.get());
  // No block padding: the archive is exactly what the entries need.
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open(a.get(), &out, nullptr, Append, nullptr) != ARCHIVE_OK) {
    ADD_FAILURE() << "archive_write_open: " << archive_error_string(a.get());
    return {};
  }
  for (const PackageEntry& e : entries) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                        &archive_entry_free);
    archive_entry_set_pathname(entry.get(), e.path.c_str());
    archive_entry_set_filetype(entry.get(), FileType(e.type));
    archive_entry_set_perm(entry.get(), static_cast<mode_t>(e.mode));
    archive_entry_set_mtime(entry.get(), 1700000000, 0);
    int64_t size = 0;
    if (e.type == EntryType::kFile) {
      size = e.declared_size >= 0 ? e.declared_size : static_cast<int64_t>(e.content.size());
    }
    archive_entry_set_size(entry.get(), size);
    if (e.type == EntryType::kSymlink) archive_entry_set_symlink(entry.get(), e.content.c_str());
    if (e.type == EntryType::kHardlink) archive_entry_set_hardlink(entry.get(), e.content.c_str());
    if (e.type == EntryType::kCharDevice) archive_entry_set_rdev(entry.get(), makedev(1, 3));
    if (archive_write_header(a.get(), entry.get()) < ARCHIVE_WARN) {
      ADD_FAILURE() << "archive_write_header " << e.path << ": " << archive_error_string(a.get());
      return {};
    }
    if (e.type == EntryType::kFile && !e.content.empty()) {
      archive_write_data(a.get(), e.content.data(), e.content.size());
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    ADD_FAILURE() << "archive_write_close: " << archive_error_string(a.get());
    return {};
  }
  return out;
}

std::string ManifestJson(const std::string& name, const std::string& version, int api_version,
                         const std::string& main, const std::string& extra) {
  return "{" + extra + R"("name": ")" + name + R"(", "version": ")" + version +
         R"(", "api_version": )" + std::to_string(api_version) + R"(, "main": ")" + main +
         R"(", "description": "test package"})";
}

}  // namespace slipway::testing
