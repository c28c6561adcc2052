// Status and Result: how every layer reports an expected failure.
//
// A Status is a value, not an exception. Each code maps one-to-one to the HTTP status and
// error text Vault gives for that situation (see http_mapping in core), so a backend only
// says *what* went wrong and the edge decides how it looks on the wire. Messages are shown
// to clients: never put secret material in them.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace tresor {

enum class Code {
  kOk = 0,
  kInvalidRequest,       // 400, message shown verbatim (Vault's "error response")
  kPermissionDenied,     // 403, "permission denied" (multierror-wrapped)
  kNotFound,             // 404 with {"errors":[]}: read/list of something absent
  kUnsupportedPath,      // 404 "unsupported path" (multierror-wrapped)
  kUnsupportedOperation, // 405 "unsupported operation" (multierror-wrapped)
  kRequestTooLarge,      // 413
  kSealed,               // 503 "Vault is sealed"
  kStandby,              // 503 / forward: this node is not the active one
  kUnavailable,          // 503 other transient unavailability
  kTooManyRequests,      // 429
  kConflict,             // 400 as well in Vault (e.g. check-and-set mismatch), kept distinct
  kInternal,             // 500 (multierror-wrapped)
  kIOError,              // 500, storage failure
  kCorruption,           // 500, data failed authentication or could not be parsed
};

class Status {
 public:
  Status() = default;
  Status(Code code, std::string msg) : code_(code), msg_(std::move(msg)) {}

  static Status Ok() { return {}; }
  static Status InvalidRequest(std::string m) { return {Code::kInvalidRequest, std::move(m)}; }
  static Status PermissionDenied(std::string m = "permission denied") {
    return {Code::kPermissionDenied, std::move(m)};
  }
  static Status NotFound(std::string m = "") { return {Code::kNotFound, std::move(m)}; }
  static Status UnsupportedPath(std::string m = "unsupported path") {
    return {Code::kUnsupportedPath, std::move(m)};
  }
  static Status UnsupportedOperation(std::string m = "unsupported operation") {
    return {Code::kUnsupportedOperation, std::move(m)};
  }
  static Status Sealed() { return {Code::kSealed, "Vault is sealed"}; }
  static Status Standby(std::string m = "node is not active") { return {Code::kStandby, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string msg_;
};

// Result<T>: a T or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                       // NOLINT: implicit on purpose
  Result(Status status) : v_(std::move(status)) {}                // NOLINT: must not be ok()
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

#define TRESOR_CONCAT_INNER(a, b) a##b
#define TRESOR_CONCAT(a, b) TRESOR_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (a Status) is not ok.
#define RETURN_IF_ERROR(expr)            \
  do {                                   \
    ::tresor::Status _st = (expr);       \
    if (!_st.ok()) return _st;           \
  } while (0)

// ASSIGN_OR_RETURN(auto x, SomethingReturningResult());
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(TRESOR_CONCAT(_res_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

}  // namespace tresor
