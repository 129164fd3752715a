// ferry/status.h — error codes, Status and Result<T>.
//
// Errors travel as values inside the runtime (Status / Result<T>) and become
// exceptions (ferry::Error) only at the user-facing blocking calls (Future::get).
// A Status is cheap to copy when ok (empty message); error messages should say
// what failed, on which rank, and what to do about it.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace ferry {

enum class Errc : std::uint8_t {
  ok = 0,
  invalid_argument,   // caller passed something unusable (size, rank, key)
  timeout,            // an operation or a wait ran out of time
  peer_failed,        // the remote rank died or became unreachable
  malformed_message,  // a frame/header failed validation
  unknown_handler,    // an active message named a handler id nobody registered
  not_found,          // unknown object / region / key
  store_full,         // object store arena exhausted
  owner_died,         // the owner of an object is gone
  bootstrap_failed,   // launcher/rendezvous could not exchange addresses
  transport_error,    // backend (UCX/Asio) reported an error
  shut_down,          // operation attempted after shutdown
  type_mismatch,      // stored type differs from requested type
  unsupported,        // feature not available in this build/backend
  internal,           // a bug: an invariant did not hold
  task_failed,        // a remote task or actor method threw (ferry::task_error at get)
  object_lost,        // every copy of an object is gone and it cannot be re-made (ferry::object_lost_error at get)
  actor_died,         // an actor's host died and it has no restarts left (or was not restartable)
};

// The highest code (decoders of codes received from peers check against it).
inline constexpr Errc kLastErrc = Errc::actor_died;

const char* to_string(Errc code) noexcept;

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;  // ok
  Status(Errc code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() noexcept { return Status(); }

  bool is_ok() const noexcept { return code_ == Errc::ok; }
  explicit operator bool() const noexcept { return is_ok(); }
  Errc code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  // "peer_failed: rank 3 closed the connection"
  std::string to_string() const;

 private:
  Errc code_ = Errc::ok;
  std::string message_;
};

// Thrown only at user-facing blocking calls; carries the Status.
class Error : public std::runtime_error {
 public:
  explicit Error(Status status) : std::runtime_error(status.to_string()), status_(std::move(status)) {}
  const Status& status() const noexcept { return status_; }
  Errc code() const noexcept { return status_.code(); }

 private:
  Status status_;
};

// Either a T or a non-ok Status.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.is_ok()) status_ = Status(Errc::internal, "Result constructed from an ok Status without a value");
  }

  bool is_ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return is_ok(); }
  const Status& status() const noexcept { return status_; }

  T& value() & { throw_if_error(); return *value_; }
  const T& value() const& { throw_if_error(); return *value_; }
  T&& value() && { throw_if_error(); return std::move(*value_); }
  T* operator->() { return &value(); }
  T& operator*() & { return value(); }

 private:
  void throw_if_error() const {
    if (!value_) throw Error(status_);
  }
  std::optional<T> value_;
  Status status_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Status status) : status_(std::move(status)) {}  // NOLINT
  bool is_ok() const noexcept { return status_.is_ok(); }
  explicit operator bool() const noexcept { return is_ok(); }
  const Status& status() const noexcept { return status_; }
  void value() const {
    if (!status_.is_ok()) throw Error(status_);
  }

 private:
  Status status_;
};

}  // namespace ferry
