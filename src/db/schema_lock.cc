#include "db/schema_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace slipway::db {
namespace {

class FileSchemaLock final : public SchemaLock {
 public:
  explicit FileSchemaLock(std::filesystem::path path) : path_(std::move(path)) {}
  ~FileSchemaLock() override { Release(); }

  std::string Describe() const override {
    return "the schema lock " + path_.string() + " (a file lock, held per process)";
  }

  Result<bool> TryAcquire() override {
    if (fd_ >= 0) return true;
    std::error_code ec;
    std::filesystem::create_directories(path_.parent_path(), ec);
    int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return Unavailable("cannot open lock file " + path_.string() + ": " + std::strerror(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) return false;
      return Unavailable("cannot lock " + path_.string() + ": " + std::strerror(err));
    }
    fd_ = fd;
    return true;
  }

  void Release() override {
    if (fd_ < 0) return;
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
    fd_ = -1;
  }

  bool held() const override { return fd_ >= 0; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace

Status SchemaLock::Acquire(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    ASSIGN_OR_RETURN(bool got, TryAcquire());
    if (got) return Status::Ok();
    if (std::chrono::steady_clock::now() >= deadline) {
      return Unavailable(Describe() + " is held by someone else after waiting " +
                         std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::unique_ptr<SchemaLock> MakeFileSchemaLock(std::filesystem::path path) {
  return std::make_unique<FileSchemaLock>(std::move(path));
}

}  // namespace slipway::db
