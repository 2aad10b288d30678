#include "http/upload_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "core/logging.h"
#include "core/sha256.h"
#include "core/sodium.h"

namespace slipway::http {
namespace {

std::string ErrnoText(int error) { return std::strerror(error); }

// Creates `dir` and its missing parents; the directory itself with mode 0750.
Status MakeTempDir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return Status::Ok();
  if (dir.has_parent_path()) std::filesystem::create_directories(dir.parent_path(), ec);
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return Internal("cannot create the upload directory " + dir.string() + ": " + ErrnoText(errno));
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return Internal("the upload directory " + dir.string() + " is not a directory");
  }
  return Status::Ok();
}

std::string HexOf(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    hex += kDigits[bytes[i] >> 4];
    hex += kDigits[bytes[i] & 15];
  }
  return hex;
}

}  // namespace

struct UploadSink::OpenFile {
  OpenFile() = default;
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  ~OpenFile() {
    if (fd >= 0) ::close(fd);
  }

  int fd = -1;
  uint64_t flushed = 0;  // bytes handed to writeback (sync_file_range)
  core::Sha256 sha256;
};

Result<std::shared_ptr<UploadSink>> UploadSink::Create(std::string_view content_type_header,
                                                       UploadOptions options) {
  if (!core::SodiumReady()) return Internal("libsodium could not be initialised");
  auto sink = std::make_shared<UploadSink>(Key(), std::move(options));
  MultipartReader::Callbacks cb;
  UploadSink* self = sink.get();  // the reader is the sink's own member
  cb.begin = [self](const PartHead& head) { return self->BeginPart(head); };
  cb.data = [self](std::string_view bytes) { return self->PartData(bytes); };
  cb.end = [self] { return self->EndPart(); };
  ASSIGN_OR_RETURN(MultipartReader reader,
                   MultipartReader::Create(content_type_header, std::move(cb)));
  sink->reader_ = std::make_unique<MultipartReader>(std::move(reader));
  RETURN_IF_ERROR(MakeTempDir(sink->options_.temp_dir));
  return sink;
}

UploadSink::UploadSink(Key, UploadOptions options) : options_(std::move(options)) {}

UploadSink::~UploadSink() {
  open_.clear();  // close before unlinking
  for (size_t i = 0; i < files_.size(); ++i) {
    if (claimed_[i]) continue;
    if (::unlink(files_[i].temp_path.c_str()) != 0 && errno != ENOENT) {
      core::log::Warn("cannot remove an upload's temporary file",
                      {{"path", files_[i].temp_path.string()}, {"error", ErrnoText(errno)}});
    }
  }
}

Status UploadSink::Write(std::string_view bytes) { return reader_->Feed(bytes); }

Status UploadSink::BeginPart(const PartHead& head) {
  if (head.filename.empty()) {  // a text field
    field_ = &fields_[head.name];
    field_bytes_ -= field_->size();  // a repeated name replaces the earlier value
    field_->clear();
    return Status::Ok();
  }
  if (files_.size() >= options_.max_files) {
    return InvalidArgument("at most " + std::to_string(options_.max_files) +
                           " file(s) may be uploaded at once");
  }
  unsigned char random[16];
  randombytes_buf(random, sizeof(random));
  std::filesystem::path path = options_.temp_dir / (".upload-" + HexOf(random, sizeof(random)));
  auto file = std::make_unique<OpenFile>();
  file->fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (file->fd < 0) {
    return Internal("cannot create the upload file " + path.string() + ": " + ErrnoText(errno));
  }
  files_.push_back({head.name, head.filename, head.content_type, std::move(path), 0, ""});
  open_.push_back(std::move(file));
  claimed_.push_back(false);
  in_file_ = true;
  return Status::Ok();
}

Status UploadSink::PartData(std::string_view bytes) {
  if (!in_file_) {
    if (bytes.size() > options_.max_field_bytes - field_bytes_) {
      return ResourceExhausted("the form fields are larger than the limit of " +
                               std::to_string(options_.max_field_bytes) + " bytes");
    }
    field_bytes_ += bytes.size();
    field_->append(bytes);
    return Status::Ok();
  }
  UploadedFile& uploaded = files_.back();
  if (options_.max_file_bytes > 0 && bytes.size() > options_.max_file_bytes - uploaded.size) {
    return ResourceExhausted("the file '" + uploaded.filename + "' is larger than the limit of " +
                             std::to_string(options_.max_file_bytes) + " bytes");
  }
  OpenFile& file = *open_.back();
  file.sha256.Update(bytes);
  while (!bytes.empty()) {
    ssize_t n = ::write(file.fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return Internal("cannot write the upload file " + uploaded.temp_path.string() + ": " +
                      ErrnoText(errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
    uploaded.size += static_cast<uint64_t>(n);
  }
  // Write back as the file grows, and wait for what was written a window ago, so that a large
  // upload never leaves gigabytes dirty in the page cache: the final fsync is short, and the
  // database's own fsyncs (a node's heartbeat) do not queue behind a flush of the whole file.
  constexpr uint64_t kWindow = 8 << 20;
  while (uploaded.size - file.flushed >= kWindow) {
    ::sync_file_range(file.fd, static_cast<off_t>(file.flushed), kWindow, SYNC_FILE_RANGE_WRITE);
    if (file.flushed >= kWindow) {
      ::sync_file_range(
          file.fd, static_cast<off_t>(file.flushed - kWindow), kWindow,
          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    }
    file.flushed += kWindow;
  }
  return Status::Ok();
}

Status UploadSink::EndPart() {
  if (!in_file_) {
    field_ = nullptr;
    return Status::Ok();
  }
  in_file_ = false;
  files_.back().sha256_hex = open_.back()->sha256.HexDigest();
  return Status::Ok();
}

Status UploadSink::Finish() {
  RETURN_IF_ERROR(reader_->Finish());
  for (size_t i = 0; i < open_.size(); ++i) {
    if (::fsync(open_[i]->fd) != 0) {
      return Internal("cannot sync the upload file " + files_[i].temp_path.string() + ": " +
                      ErrnoText(errno));
    }
  }
  open_.clear();
  finished_ = true;
  return Status::Ok();
}

Status UploadSink::Claim(size_t index, const std::filesystem::path& final_path) {
  if (!finished_) return InvalidArgument("the upload is not complete");
  if (index >= files_.size()) {
    return InvalidArgument("there is no uploaded file " + std::to_string(index));
  }
  if (claimed_[index]) {
    return InvalidArgument("the uploaded file " + std::to_string(index) + " was already claimed");
  }
  if (::rename(files_[index].temp_path.c_str(), final_path.c_str()) != 0) {
    return Internal("cannot move the upload to " + final_path.string() + ": " + ErrnoText(errno));
  }
  claimed_[index] = true;
  return Status::Ok();
}

Result<UploadedPart> FindUploadedPart(const Request& request, std::string_view action,
                                      std::string_view field) {
  auto* sink = dynamic_cast<UploadSink*>(request.sink.get());
  if (sink == nullptr) {
    return InvalidArgument(std::string(action) +
                           " takes a multipart/form-data upload with the file in the field '" +
                           std::string(field) + "'");
  }
  for (size_t i = sink->files().size(); i-- > 0;) {
    if (sink->files()[i].field == field) return UploadedPart{sink, i};
  }
  return InvalidArgument("the upload has no file in the field '" + std::string(field) + "'");
}

}  // namespace slipway::http
