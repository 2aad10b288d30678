// UploadSink: the BodySink for file uploads. It parses a multipart/form-data body as it arrives
// (MultipartReader) and writes each file part straight to a temporary file, so an upload of any
// size costs one chunk of memory; text fields are kept in memory, bounded. The handler then
// Claim()s each file it keeps, moving it to its final path with rename(2).
//
// Temporary files are ".upload-<32 random hex digits>" in UploadOptions::temp_dir, created
// O_EXCL with mode 0644. The sink owns them until claimed: its destructor removes every
// unclaimed one, so a request that was interrupted, refused or failed leaves nothing behind.
// Give temp_dir a name starting with '.' under a served directory (StaticFiles never serves
// dot paths), or put it outside, on the same filesystem as the final paths.
//
// Failures (each stops the upload; the server answers it with ErrorResponse): InvalidArgument
// for a malformed body (MultipartReader's messages) or more file parts than max_files;
// ResourceExhausted (413) for a file over max_file_bytes or fields over max_field_bytes;
// Internal for a temporary directory or file that cannot be created or written.
//
// Thread-safety: none needed; the server calls Write() and Finish() on the connection's thread,
// then hands the sink to the handler, which alone uses files(), fields() and Claim().
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"
#include "http/multipart.h"
#include "slipway/status.h"

namespace slipway::http {

struct UploadOptions {
  // Created if missing (mode 0750); files are named ".upload-<random hex>" inside it.
  std::filesystem::path temp_dir;
  // Per file part; 0: no limit. Past it: ResourceExhausted("the file '<filename>' is larger
  // than the limit of N bytes").
  uint64_t max_file_bytes = 0;
  size_t max_files = 1;               // file parts accepted; more: InvalidArgument
  size_t max_field_bytes = 64 << 10;  // all non-file fields together, in memory
};

struct UploadedFile {
  std::string field;         // the form field
  std::string filename;      // as the client sent it: never trust it as a path
  std::string content_type;  // as the client sent it, "text/plain" when none
  std::filesystem::path temp_path;
  uint64_t size = 0;
  std::string sha256_hex;  // of the file's bytes, computed while they streamed in
};

class UploadSink final : public BodySink {
 public:
  // InvalidArgument for a Content-Type that is not multipart/form-data with a valid boundary;
  // Internal when temp_dir cannot be created. Shared: it is a BodyPlan's sink, which the server
  // holds while the body arrives and the handler after.
  static Result<std::shared_ptr<UploadSink>> Create(std::string_view content_type_header,
                                                    UploadOptions options);
  class Key {  // lets only Create() construct (through make_shared)
    friend class UploadSink;
    Key() = default;
  };
  UploadSink(Key, UploadOptions options);
  UploadSink(const UploadSink&) = delete;
  UploadSink& operator=(const UploadSink&) = delete;
  ~UploadSink() override;  // removes every temporary file not claimed

  Status Write(std::string_view bytes) override;
  // Checks that the body was complete and fsyncs each file (durability before a rename makes
  // it final).
  Status Finish() override;

  // Valid after Finish() succeeded; a file part is listed as soon as it begins.
  const std::vector<UploadedFile>& files() const { return files_; }
  // Text fields by name; of a repeated name, the last one.
  const std::map<std::string, std::string>& fields() const { return fields_; }

  // Moves file `index` to `final_path` with rename(2) (same filesystem: no copy) and stops
  // owning it. InvalidArgument for a bad or already claimed index, or before Finish();
  // Internal when the rename fails (the file stays owned, and is removed with the sink).
  Status Claim(size_t index, const std::filesystem::path& final_path);

 private:
  struct OpenFile;  // the descriptor and hash state of a file part

  Status BeginPart(const PartHead& head);
  Status PartData(std::string_view bytes);
  Status EndPart();

  UploadOptions options_;
  std::unique_ptr<MultipartReader> reader_;
  std::vector<UploadedFile> files_;
  std::vector<std::unique_ptr<OpenFile>> open_;  // parallel to files_; null once closed
  std::vector<bool> claimed_;                    // parallel to files_
  std::map<std::string, std::string> fields_;
  size_t field_bytes_ = 0;
  std::string* field_ = nullptr;  // the text field being read, if any
  bool in_file_ = false;          // the current part is files_.back()
  bool finished_ = false;
};

// The streamed upload of `request` and the index of its file part named `field`. InvalidArgument
// naming `action` when the body was not multipart/form-data (it did not stream into an
// UploadSink), or has no file part of that name.
struct UploadedPart {
  UploadSink* sink;
  size_t index;
};
Result<UploadedPart> FindUploadedPart(const Request& request, std::string_view action,
                                      std::string_view field);

}  // namespace slipway::http
