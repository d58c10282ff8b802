// Status: the result of an operation that can fail, carried as a value.
//
// Contract: a Status is either OK or holds an error code and a human-readable message that says
// what was wrong and, where it helps, what to do about it. Success allocates nothing. A Status
// is a plain value: copyable, movable, not synchronized (do not share one object between
// threads while it is being assigned).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace kvcache {

class Status {
 public:
  enum class Code : uint8_t {
    kOk = 0,
    kNotFound,
    kInvalidArgument,  // bad input from the caller; nothing was changed
    kNoSpace,          // the memory budget cannot make room (e.g. everything left is pinned)
    kUnavailable,      // a data source is down or timed out
    kIOError,          // a data source failed
    kAborted,          // the operation was cancelled
  };

  Status() = default;
  Status(const Status& other)
      : code_(other.code_),
        message_(other.message_ ? std::make_unique<std::string>(*other.message_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) *this = Status(other);
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg) { return Status(Code::kNotFound, msg); }
  static Status InvalidArgument(std::string_view msg) {
    return Status(Code::kInvalidArgument, msg);
  }
  static Status NoSpace(std::string_view msg) { return Status(Code::kNoSpace, msg); }
  static Status Unavailable(std::string_view msg) { return Status(Code::kUnavailable, msg); }
  static Status IOError(std::string_view msg) { return Status(Code::kIOError, msg); }
  static Status Aborted(std::string_view msg) { return Status(Code::kAborted, msg); }

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsNoSpace() const { return code_ == Code::kNoSpace; }
  Code code() const { return code_; }
  const std::string& message() const { return message_ ? *message_ : EmptyMessage(); }

  // "OK", or the code's name followed by the message, e.g. "InvalidArgument: empty key".
  std::string ToString() const;

 private:
  Status(Code code, std::string_view msg)
      : code_(code), message_(std::make_unique<std::string>(msg)) {}
  static const std::string& EmptyMessage();

  // An OK status is a code and a null pointer: returned and moved along every write's path, it
  // costs a few stores, where an empty std::string member cost a move of 32 bytes each time.
  Code code_ = Code::kOk;
  std::unique_ptr<std::string> message_;  // null when OK
};

}  // namespace kvcache
