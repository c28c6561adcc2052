// ACL policies: parsing Vault's policy language (HCL or its JSON form) into path rules.
//
// A policy is a list of `path "<pattern>" { ... }` blocks. A pattern is an exact path, a
// prefix ending in `*`, or contains `+` segment wildcards (optionally also ending in `*`).
// Each rule grants capabilities (create/read/update/patch/delete/list/sudo/scan, or deny)
// and may constrain request parameters and response-wrapping TTLs.
//
// Parsing happens only when a policy is written or first loaded; the request path sees only
// the compiled form (acl.h). Pure value types; safe to use from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace tresor::acl {

// Capability bits. kDeny is exclusive: a rule that denies carries no other bit.
enum Capability : uint32_t {
  kDeny = 1u << 0,
  kCreate = 1u << 1,
  kRead = 1u << 2,
  kUpdate = 1u << 3,
  kDelete = 1u << 4,
  kList = 1u << 5,
  kSudo = 1u << 6,
  kPatch = 1u << 7,
  kScan = 1u << 8,
};

// Capability names for a bitmap, in Vault's reporting order (deny alone if denied or empty).
std::vector<std::string> CapabilityNames(uint32_t bits);

// Parameter constraints: parameter name (lower-cased) -> allowed/denied values. An empty
// value list means "any value". nullopt = the rule did not mention the clause at all.
using ParamMap = std::map<std::string, std::vector<nlohmann::json>>;

struct Permissions {
  uint32_t caps = 0;
  int64_t min_wrapping_ttl = 0;  // seconds; 0 = none
  int64_t max_wrapping_ttl = 0;
  std::optional<ParamMap> allowed_parameters;
  std::optional<ParamMap> denied_parameters;
  std::vector<std::string> required_parameters;
};

struct PathRule {
  std::string path;            // without a leading '/'; a pure prefix rule has its '*' removed
  bool is_prefix = false;      // pattern ended in '*' and has no '+' segments
  bool has_segment_wildcards = false;  // '+' segments; a trailing '*' is kept in `path`
  Permissions perms;
};

struct Policy {
  std::string name;
  std::string raw;  // the text as written, returned by reads
  std::vector<PathRule> paths;
};

// Parses `text` (HCL, or JSON when it starts with '{'). Errors are InvalidRequest with a
// message starting "failed to parse policy: ".
Result<Policy> ParsePolicy(std::string_view name, std::string_view text);

// Vault's policy-name normalisation: lower-cased. (Leading/trailing whitespace is rejected by
// the policy store, so " root" can never alias "root".)
std::string NormalizePolicyName(std::string_view name);

// Glob match used for parameter values and role policy globs: a leading and/or trailing
// '*' means suffix / prefix / substring match; otherwise exact. ("*" alone matches only "*"
// for parameter values, as in Vault.)
bool GlobbedStringsMatch(std::string_view pattern, std::string_view value);

}  // namespace tresor::acl
