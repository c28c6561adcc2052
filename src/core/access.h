// AccessControl: the ACL decision core asks for on every authenticated request.
//
// Implemented by the policy module (compiled, cached policies). Core falls back to
// RootOnlyAccess until one is installed. Implementations are thread-safe and must not parse
// anything on the request path.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "framework/logical.h"

namespace tresor::core {

struct AccessDecision {
  bool allowed = false;
  bool sudo = false;  // the matching rules grant sudo on this path
};

class AccessControl {
 public:
  virtual ~AccessControl() = default;
  // May the holder of `policies` perform `op` on `path` (full API path after /v1/) with
  // request body `data`? `wrap_ttl` is the response-wrapping TTL the request asks for
  // (seconds, 0 = not wrapped), checked against min/max_wrapping_ttl. Denials and parameter
  // violations come back as allowed=false or a PermissionDenied/InvalidRequest status.
  virtual Result<AccessDecision> Check(const std::vector<std::string>& policies, logical::Operation op,
                                       const std::string& path, const nlohmann::json& data,
                                       int64_t wrap_ttl = 0) = 0;
  // Capabilities on `path` for sys/capabilities*: "create", "read", ..., "root", or "deny".
  virtual Result<std::vector<std::string>> Capabilities(const std::vector<std::string>& policies,
                                                        const std::string& path) = 0;
  // Called after unseal and before seal; (re)load policies from storage.
  virtual Status Load() { return Status::Ok(); }
  virtual void Reset() {}
};

// Grants everything to root tokens and nothing to anyone else.
class RootOnlyAccess : public AccessControl {
 public:
  Result<AccessDecision> Check(const std::vector<std::string>& policies, logical::Operation,
                               const std::string&, const nlohmann::json&, int64_t = 0) override {
    for (auto& p : policies)
      if (p == "root") return AccessDecision{true, true};
    return AccessDecision{};
  }
  Result<std::vector<std::string>> Capabilities(const std::vector<std::string>& policies,
                                                const std::string&) override {
    for (auto& p : policies)
      if (p == "root") return std::vector<std::string>{"root"};
    return std::vector<std::string>{"deny"};
  }
};

}  // namespace tresor::core
