// Builds plugin package archives in memory for tests, including malformed ones that no
// well-behaved tool would write: path traversal, absolute paths, links, FIFOs, duplicates,
// names that are not UTF-8, sizes declared but never written.
//
// Failures: a libarchive error is a bug in the test, reported with ADD_FAILURE and an empty
// result. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace slipway::testing {

enum class EntryType { kFile, kDir, kSymlink, kHardlink, kFifo, kCharDevice };

struct PackageEntry {
  std::string path;
  std::string content;  // a file's data, or the target of a symbolic or hard link
  EntryType type = EntryType::kFile;
  int mode = 0644;
  // When set, the header declares this size instead of content.size(); libarchive pads the
  // data with zeros. Lets a test make a large entry cheaply.
  int64_t declared_size = -1;
};

enum class Compression { kGzip, kZstd, kNone };

// A tar (pax) archive of `entries`, in order, compressed as asked.
std::string BuildPackage(const std::vector<PackageEntry>& entries,
                         Compression compression = Compression::kGzip);

// A manifest.json for a package; `extra` is spliced into the object (e.g. R"("x": 1,)").
std::string ManifestJson(const std::string& name = "hello", const std::string& version = "1.0.0",
                         int api_version = 1, const std::string& main = "lib/libslipway_hello.so",
                         const std::string& extra = "");

}  // namespace slipway::testing
