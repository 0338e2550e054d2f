// Status and Result: how every fallible call in honeynet reports failure.
// Modelled on LevelDB's Status: cheap when ok, a human-readable message when
// not. Callers check ok() and show message() to the user as it is, so messages
// say what went wrong and, where we know it, what to do about it.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace hn {

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string msg) { return Status(std::move(msg)); }

  bool ok() const { return !msg_.has_value(); }
  const std::string& message() const {
    static const std::string kOk = "ok";
    return msg_ ? *msg_ : kOk;
  }

 private:
  explicit Status(std::string msg) : msg_(std::move(msg)) {}
  std::optional<std::string> msg_;
};

// A value or the Status that explains why there is none.
template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}            // NOLINT: implicit on purpose
  Result(Status status) : status_(std::move(status)) {}    // NOLINT
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace hn
