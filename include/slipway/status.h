// Status and Result<T>: how everything in Slipway that can fail says so.
//
// A Status is a code chosen by what the caller should do next (Abseil's canonical codes), a
// human message naming what was wrong, and an optional machine-readable `tag` (NocoBase's error
// codes such as "APP_OUTDATED" or "ROLE_NOT_FOUND_ERR") that clients may switch on.
// Result<T> holds either a T or a non-OK Status.
//
// Both are plain values: cheap to move, safe to pass between threads, no shared state. An OK
// Status allocates nothing. Third-party exceptions never cross a module boundary: the adapter that
// calls the library catches them and returns a Status.
#pragma once

#include <cassert>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace slipway {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // bad input; fix the request (HTTP 400)
  kNotFound,            // the named thing does not exist (404)
  kAlreadyExists,       // a unique value is taken (409)
  kPermissionDenied,    // known caller, not allowed (403)
  kUnauthenticated,     // no or bad credentials (401)
  kFailedPrecondition,  // fix the state first, e.g. upgrade required (409 or CLI 78)
  kAborted,             // retry at a higher level, e.g. lock lost (409)
  kUnavailable,         // retry the same call later: maintenance, starting (503)
  kResourceExhausted,   // too much: body, page, rate (413/429)
  kDeadlineExceeded,    // took too long (504)
  kUnimplemented,       // no such action (404/501)
  kInternal,            // a bug or an unexpected failure below us (500)
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message, std::string tag = {})
      : code_(code), message_(std::move(message)), tag_(std::move(tag)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // Machine-readable error code for clients ("" when none was set).
  const std::string& tag() const { return tag_; }

  // Returns a copy whose message is "<context>: <message>"; code and tag are kept.
  Status WithContext(std::string_view context) const;

  // "NOT_FOUND: collection 'posts' not found" style, for logs.
  std::string ToString() const;

  // Lets a test or a caller that cannot propagate mark the value as looked at.
  void IgnoreError() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string tag_;
};

inline Status InvalidArgument(std::string m, std::string tag = {}) {
  return Status(StatusCode::kInvalidArgument, std::move(m), std::move(tag));
}
inline Status NotFound(std::string m, std::string tag = {}) {
  return Status(StatusCode::kNotFound, std::move(m), std::move(tag));
}
inline Status AlreadyExists(std::string m, std::string tag = {}) {
  return Status(StatusCode::kAlreadyExists, std::move(m), std::move(tag));
}
inline Status PermissionDenied(std::string m, std::string tag = {}) {
  return Status(StatusCode::kPermissionDenied, std::move(m), std::move(tag));
}
inline Status Unauthenticated(std::string m, std::string tag = {}) {
  return Status(StatusCode::kUnauthenticated, std::move(m), std::move(tag));
}
inline Status FailedPrecondition(std::string m, std::string tag = {}) {
  return Status(StatusCode::kFailedPrecondition, std::move(m), std::move(tag));
}
inline Status Aborted(std::string m, std::string tag = {}) {
  return Status(StatusCode::kAborted, std::move(m), std::move(tag));
}
inline Status Unavailable(std::string m, std::string tag = {}) {
  return Status(StatusCode::kUnavailable, std::move(m), std::move(tag));
}
inline Status ResourceExhausted(std::string m, std::string tag = {}) {
  return Status(StatusCode::kResourceExhausted, std::move(m), std::move(tag));
}
inline Status DeadlineExceeded(std::string m, std::string tag = {}) {
  return Status(StatusCode::kDeadlineExceeded, std::move(m), std::move(tag));
}
inline Status Unimplemented(std::string m, std::string tag = {}) {
  return Status(StatusCode::kUnimplemented, std::move(m), std::move(tag));
}
inline Status Internal(std::string m, std::string tag = {}) {
  return Status(StatusCode::kInternal, std::move(m), std::move(tag));
}

// Thrown by Result::value() (and by * and ->) when the Result holds an error: a bug in the caller,
// which had to check ok() first. The message names the error. The server's guards (every action,
// hook, task and fiber) turn it into an Internal error for that one call.
class BadResultAccess : public std::logic_error {
 public:
  explicit BadResultAccess(const Status& status)
      : std::logic_error("Result::value() on an error: " + status.ToString()) {}
};

// Either a value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result constructed from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  Status TakeStatus() && { return ok() ? Status() : std::move(std::get<Status>(v_)); }

  T& value() & {
    Check();
    return std::get<T>(v_);
  }
  const T& value() const& {
    Check();
    return std::get<T>(v_);
  }
  T&& value() && {
    Check();
    return std::get<T>(std::move(v_));
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void Check() const {
    if (!ok()) throw BadResultAccess(std::get<Status>(v_));
  }
  std::variant<Status, T> v_;
};

}  // namespace slipway

#define SLIPWAY_CONCAT_INNER(a, b) a##b
#define SLIPWAY_CONCAT(a, b) SLIPWAY_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function when it is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::slipway::Status slipway_status_ = (expr);        \
    if (!slipway_status_.ok()) return slipway_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` declares x from a Result<T>, or returns its Status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  SLIPWAY_ASSIGN_OR_RETURN_IMPL(SLIPWAY_CONCAT(slipway_result_, __LINE__), lhs, expr)
#define SLIPWAY_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).TakeStatus();  \
  lhs = std::move(tmp).value()
