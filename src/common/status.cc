#include "common/status.h"

namespace tresor {

std::string Status::ToString() const {
  if (ok()) return "OK";
  const char* name = "error";
  switch (code_) {
    case Code::kOk: name = "ok"; break;
    case Code::kInvalidRequest: name = "invalid request"; break;
    case Code::kPermissionDenied: name = "permission denied"; break;
    case Code::kNotFound: name = "not found"; break;
    case Code::kUnsupportedPath: name = "unsupported path"; break;
    case Code::kUnsupportedOperation: name = "unsupported operation"; break;
    case Code::kRequestTooLarge: name = "request too large"; break;
    case Code::kSealed: name = "sealed"; break;
    case Code::kStandby: name = "standby"; break;
    case Code::kUnavailable: name = "unavailable"; break;
    case Code::kTooManyRequests: name = "too many requests"; break;
    case Code::kConflict: name = "conflict"; break;
    case Code::kInternal: name = "internal"; break;
    case Code::kIOError: name = "io error"; break;
    case Code::kCorruption: name = "corruption"; break;
  }
  return std::string(name) + ": " + msg_;
}

}  // namespace tresor
