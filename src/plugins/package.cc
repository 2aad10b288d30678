#include "plugins/package.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

namespace slipway::plugins {
namespace {

namespace fs = std::filesystem;

using ArchivePtr = std::unique_ptr<archive, decltype(&archive_read_free)>;

// One archive entry as the first pass accepted it.
struct PlannedEntry {
  std::vector<std::string> parts;  // path components, after "package/" is stripped
  bool is_dir = false;
  bool skip = false;  // the package root itself ("./", "package/")
};

std::string Join(const std::vector<std::string>& parts, size_t from = 0) {
  std::string out;
  for (size_t i = from; i < parts.size(); ++i) {
    if (!out.empty()) out += '/';
    out += parts[i];
  }
  return out;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    int extra = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF.
    if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

// An entry name fit for an error message: control bytes, and bytes of a name that is not UTF-8,
// as \xNN.
std::string Printable(std::string_view name) {
  bool utf8 = IsValidUtf8(name);
  std::string out;
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F || (!utf8 && c >= 0x80)) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += ch;
    }
  }
  return out;
}

Status Refuse(std::string_view name, std::string_view why) {
  return InvalidArgument("package entry '" + Printable(name) + "': " + std::string(why));
}

Status ArchiveError(archive* a, std::string_view context) {
  const char* detail = archive_error_string(a);
  return InvalidArgument("package archive " + std::string(context) + ": " +
                         (detail != nullptr ? detail : "unreadable"));
}

Status IoError(std::string_view what, const fs::path& path, int err) {
  return Internal(std::string(what) + " " + path.string() + ": " + std::strerror(err));
}

Result<ArchivePtr> OpenArchive(std::string_view bytes) {
  ArchivePtr a(archive_read_new(), &archive_read_free);
  if (a == nullptr) return Internal("libarchive: out of memory");
  // Only tar, optionally gzip- or zstd-compressed. libarchive falls back to an external program
  // when built without a decompressor (ARCHIVE_WARN); we never want a child process here.
  if (archive_read_support_filter_gzip(a.get()) != ARCHIVE_OK ||
      archive_read_support_filter_zstd(a.get()) != ARCHIVE_OK ||
      archive_read_support_format_tar(a.get()) != ARCHIVE_OK) {
    return Internal("libarchive lacks gzip, zstd or tar support");
  }
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) {
    return ArchiveError(a.get(), "is not a .tgz");
  }
  return a;
}

// The entry's name as stored (ustar stores bytes as they are; a pax header's UTF-8 name may be
// available only through the _utf8 accessor when the locale cannot represent it).
const char* EntryName(archive_entry* entry) {
  const char* name = archive_entry_pathname(entry);
  return name != nullptr ? name : archive_entry_pathname_utf8(entry);
}

// First pass: checks one header and counts its data. Returns the entry's plan.
Result<PlannedEntry> CheckEntry(archive* a, archive_entry* entry, const UnpackLimits& limits,
                                uint64_t* total_bytes) {
  const char* raw_name = EntryName(entry);
  if (raw_name == nullptr) return InvalidArgument("package entry without a readable name");
  std::string_view name = raw_name;
  if (!IsValidUtf8(name)) return Refuse(name, "name is not valid UTF-8");
  if (name.front() == '/') return Refuse(name, "absolute paths are not allowed");
  PlannedEntry plan;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = std::min(name.find('/', start), name.size());
    std::string_view part = name.substr(start, end - start);
    if (part == "..") return Refuse(name, "'..' is not allowed in a path");
    if (!part.empty() && part != ".") plan.parts.emplace_back(part);
    start = end + 1;
  }

  if (archive_entry_hardlink(entry) != nullptr) return Refuse(name, "hard links are not allowed");
  switch (archive_entry_filetype(entry)) {
    case AE_IFREG:
      break;
    case AE_IFDIR:
      plan.is_dir = true;
      break;
    case AE_IFLNK:
      return Refuse(name, "symbolic links are not allowed");
    default:
      return Refuse(name, "devices, FIFOs and sockets are not allowed");
  }
  if (plan.parts.empty()) {
    if (!plan.is_dir) return Refuse(name, "a file needs a name");
    plan.skip = true;
    return plan;
  }
  if (plan.is_dir) return plan;

  if (archive_entry_sparse_count(entry) > 0) return Refuse(name, "sparse files are not allowed");
  auto too_big = [&](uint64_t file_bytes) -> Status {
    if (file_bytes > limits.max_file_bytes) {
      return Refuse(name,
                    "file is larger than " + std::to_string(limits.max_file_bytes) + " bytes");
    }
    if (*total_bytes + file_bytes > limits.max_total_bytes) {
      return Refuse(name, "package unpacks to more than " + std::to_string(limits.max_total_bytes) +
                              " bytes");
    }
    return Status::Ok();
  };
  // The declared size refuses early; the bytes actually read are what counts.
  if (archive_entry_size_is_set(entry) != 0 && archive_entry_size(entry) > 0) {
    RETURN_IF_ERROR(too_big(static_cast<uint64_t>(archive_entry_size(entry))));
  }
  uint64_t file_bytes = 0;
  const void* block;
  size_t size;
  la_int64_t offset;
  while (true) {
    int r = archive_read_data_block(a, &block, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return ArchiveError(a, "is corrupt at '" + Printable(name) + "'");
    file_bytes += size;
    RETURN_IF_ERROR(too_big(file_bytes));
  }
  *total_bytes += file_bytes;
  return plan;
}

// Strips "package/" when every entry is under it (the root entries aside), then refuses
// duplicates and a file standing where a directory must be.
Status FinishPlan(std::vector<PlannedEntry>& plan) {
  bool strip = false;
  for (const PlannedEntry& e : plan) {
    if (e.skip) continue;
    bool under = e.parts[0] == "package" && (e.parts.size() > 1 || e.is_dir);
    if (!under) {
      strip = false;
      break;
    }
    strip = true;
  }
  if (strip) {
    for (PlannedEntry& e : plan) {
      if (e.skip) continue;
      e.parts.erase(e.parts.begin());
      if (e.parts.empty()) e.skip = true;
    }
  }
  std::set<std::string> files, dirs, seen;
  for (const PlannedEntry& e : plan) {
    if (e.skip) continue;
    std::string path = Join(e.parts);
    if (!seen.insert(path).second) return Refuse(path, "duplicate entry");
    std::string prefix;
    for (size_t i = 0; i + 1 < e.parts.size(); ++i) {
      prefix += (i == 0 ? "" : "/") + e.parts[i];
      if (files.count(prefix) != 0) return Refuse(path, "'" + prefix + "' is a file");
      dirs.insert(prefix);
    }
    if (e.is_dir) {
      if (files.count(path) != 0) return Refuse(path, "duplicate entry");
      dirs.insert(path);
    } else {
      if (dirs.count(path) != 0) return Refuse(path, "a directory of that name exists");
      files.insert(path);
    }
  }
  return Status::Ok();
}

Result<std::vector<PlannedEntry>> Plan(std::string_view archive_bytes, const UnpackLimits& limits) {
  ASSIGN_OR_RETURN(ArchivePtr a, OpenArchive(archive_bytes));
  std::vector<PlannedEntry> plan;
  uint64_t total_bytes = 0;
  archive_entry* entry;
  while (true) {
    int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    // ARCHIVE_WARN covers names the locale cannot convert; the name checks decide on those.
    if (r < ARCHIVE_WARN) {
      return ArchiveError(a.get(), plan.empty() ? "is not a .tgz" : "is corrupt");
    }
    if (plan.size() >= limits.max_entries) {
      return InvalidArgument("package archive has more than " + std::to_string(limits.max_entries) +
                             " entries");
    }
    ASSIGN_OR_RETURN(PlannedEntry e, CheckEntry(a.get(), entry, limits, &total_bytes));
    plan.push_back(std::move(e));
  }
  if (plan.empty()) return InvalidArgument("package archive is empty");
  RETURN_IF_ERROR(FinishPlan(plan));
  return plan;
}

// Creates `root`/parts[0..count) as directories (0755), those that already exist aside.
Status MakeDirs(const fs::path& root, const std::vector<std::string>& parts, size_t count) {
  fs::path path = root;
  for (size_t i = 0; i < count; ++i) {
    path /= parts[i];
    if (::mkdir(path.c_str(), 0755) == 0) {
      if (::chmod(path.c_str(), 0755) != 0) return IoError("cannot chmod", path, errno);
      continue;
    }
    int err = errno;
    struct stat st;
    if (err == EEXIST && ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    if (err == ENAMETOOLONG || err == EEXIST || err == ENOTDIR) {
      return Refuse(Join(parts, 0), std::strerror(err));
    }
    return IoError("cannot create directory", path, err);
  }
  return Status::Ok();
}

Status WriteFile(archive* a, const fs::path& root, const PlannedEntry& e,
                 const UnpackLimits& limits, uint64_t* total_bytes) {
  RETURN_IF_ERROR(MakeDirs(root, e.parts, e.parts.size() - 1));
  fs::path path = root;
  for (const std::string& part : e.parts) path /= part;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    int err = errno;
    if (err == ENAMETOOLONG || err == EEXIST) return Refuse(Join(e.parts), std::strerror(err));
    return IoError("cannot create", path, err);
  }
  struct CloseFd {
    int fd;
    ~CloseFd() { ::close(fd); }
  } closer{fd};
  if (::fchmod(fd, 0644) != 0) return IoError("cannot chmod", path, errno);
  uint64_t file_bytes = 0;
  char buffer[64 * 1024];
  while (true) {
    la_ssize_t n = archive_read_data(a, buffer, sizeof(buffer));
    if (n == 0) break;
    if (n < 0) return ArchiveError(a, "is corrupt at '" + Join(e.parts) + "'");
    file_bytes += static_cast<uint64_t>(n);
    *total_bytes += static_cast<uint64_t>(n);
    // The first pass checked these; an archive that reads differently the second time is refused.
    if (file_bytes > limits.max_file_bytes || *total_bytes > limits.max_total_bytes) {
      return Refuse(Join(e.parts), "grew between reads");
    }
    for (la_ssize_t done = 0; done < n;) {
      ssize_t w = ::write(fd, buffer + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return IoError("cannot write", path, errno);
      done += w;
    }
  }
  return Status::Ok();
}

Status Extract(std::string_view archive_bytes, const std::vector<PlannedEntry>& plan,
               const fs::path& root, const UnpackLimits& limits) {
  ASSIGN_OR_RETURN(ArchivePtr a, OpenArchive(archive_bytes));
  uint64_t total_bytes = 0;
  archive_entry* entry;
  for (const PlannedEntry& e : plan) {
    int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF || r < ARCHIVE_WARN) return ArchiveError(a.get(), "is corrupt");
    if (e.skip) continue;
    if (e.is_dir) {
      RETURN_IF_ERROR(MakeDirs(root, e.parts, e.parts.size()));
    } else {
      RETURN_IF_ERROR(WriteFile(a.get(), root, e, limits, &total_bytes));
    }
  }
  return Status::Ok();
}

// Removes the staging directory unless the unpack succeeded.
class RemoveUnlessKept {
 public:
  explicit RemoveUnlessKept(fs::path dir) : dir_(std::move(dir)) {}
  ~RemoveUnlessKept() {
    if (kept_) return;
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Keep() { kept_ = true; }

 private:
  fs::path dir_;
  bool kept_ = false;
};

}  // namespace

Result<fs::path> UnpackPackage(std::string_view archive_bytes, const fs::path& staging_root,
                               const UnpackLimits& limits) {
  // Everything is checked before the staging directory exists.
  ASSIGN_OR_RETURN(std::vector<PlannedEntry> plan, Plan(archive_bytes, limits));

  std::error_code ec;
  fs::create_directories(staging_root, ec);
  if (ec) return Internal("cannot create " + staging_root.string() + ": " + ec.message());
  std::string name_template = (staging_root / ".staging-XXXXXX").string();
  if (::mkdtemp(name_template.data()) == nullptr) {
    return IoError("cannot create a staging directory in", staging_root, errno);
  }
  fs::path dir = name_template;
  RemoveUnlessKept cleanup(dir);
  if (::chmod(dir.c_str(), 0755) != 0) return IoError("cannot chmod", dir, errno);
  RETURN_IF_ERROR(Extract(archive_bytes, plan, dir, limits));
  cleanup.Keep();
  return dir;
}

Result<std::string> ReadFileBytes(const fs::path& path, size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; fstat refuses it next.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return NotFound(path.string() + " does not exist");
    return IoError("cannot open", path, err);
  }
  struct CloseFd {
    int fd;
    ~CloseFd() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return IoError("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) return InvalidArgument(path.string() + " is not a regular file");
  auto too_large = [&] {
    return ResourceExhausted(path.string() + " is larger than " + std::to_string(max_bytes) +
                             " bytes");
  };
  if (static_cast<uint64_t>(st.st_size) > max_bytes) return too_large();
  std::string data;
  data.resize(static_cast<size_t>(st.st_size));
  size_t used = 0;
  while (true) {
    // One byte of headroom notices a file that grew past the limit since fstat.
    if (used == data.size()) data.resize(std::min(data.size() * 2 + 4096, max_bytes + 1));
    ssize_t n = ::read(fd, data.data() + used, data.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot read", path, errno);
    if (n == 0) break;
    used += static_cast<size_t>(n);
    if (used > max_bytes) return too_large();
  }
  data.resize(used);
  return data;
}

Result<PackageInfo> InspectPackage(const fs::path& dir) {
  auto text = ReadFileBytes(dir / "manifest.json", kMaxManifestBytes);
  if (!text.ok()) {
    switch (text.status().code()) {
      case StatusCode::kNotFound:
        return InvalidArgument("package has no manifest.json");
      case StatusCode::kResourceExhausted:
      case StatusCode::kInvalidArgument:
        return InvalidArgument("manifest.json: " + text.status().message());
      default:
        return std::move(text).TakeStatus();
    }
  }
  ASSIGN_OR_RETURN(Manifest manifest, Manifest::Parse(*text));
  // `main` has no ".." (Manifest::Parse), so only a symbolic link could lead out of the package.
  fs::path library = dir;
  fs::path main_path = manifest.main;
  for (auto it = main_path.begin(); it != main_path.end(); ++it) {
    library /= *it;
    std::error_code ec;
    fs::file_status st = fs::symlink_status(library, ec);
    auto refuse = [&](std::string_view why) {
      return InvalidArgument("manifest.json: \"main\" '" + manifest.main + "' " + std::string(why));
    };
    if (ec || !fs::exists(st)) return refuse("is not in the package");
    if (fs::is_symlink(st)) return refuse("goes through a symbolic link");
    bool last = std::next(it) == main_path.end();
    if (last && !fs::is_regular_file(st)) return refuse("is not a regular file");
    if (!last && !fs::is_directory(st)) return refuse("is not in the package");
  }
  return PackageInfo{std::move(manifest), dir, std::move(library)};
}

}  // namespace slipway::plugins
