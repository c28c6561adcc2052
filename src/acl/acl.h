// Acl: a set of policies compiled into one matcher, immutable once built.
//
// Rules for the same pattern are merged across policies (a deny wins and drops everything
// else; otherwise capabilities are unioned and parameter constraints combined). A request
// path is then matched Vault's way:
//   1. an exact rule for the path (for LIST also the path without its trailing '/');
//   2. otherwise the highest-priority non-exact rule among the longest matching `*` prefix
//      and every matching `+` pattern, where priority is decided by, in order: the later
//      first wildcard/glob wins; a non-prefix pattern beats a `*` pattern; fewer `+`
//      segments win; the longer pattern wins; the lexicographically larger pattern wins.
// Only that one rule decides; there is no fallback to less specific rules.
//
// Built by the PolicyStore and shared (shared_ptr<const Acl>) between request threads.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "acl/policy.h"
#include "framework/logical.h"

namespace tresor::acl {

struct Decision {
  bool allowed = false;
  bool sudo = false;       // the matching rule grants sudo
  bool root = false;       // the token holds the root policy
  uint32_t caps = 0;       // capabilities of the matching rule (0: nothing matched)
};

class Acl {
 public:
  // Compiles `policies` (null entries are skipped). A policy named "root" makes a root ACL.
  static std::shared_ptr<const Acl> Build(const std::vector<std::shared_ptr<const Policy>>& policies);

  // May `op` on `path` (full API path without "/v1/", no leading '/') with request
  // parameters `data` go ahead? `wrap_ttl` is the requested response-wrapping TTL in seconds
  // (0: the response is not wrapped).
  Decision Allow(logical::Operation op, const std::string& path, const nlohmann::json& data,
                 int64_t wrap_ttl = 0) const;
  // Capabilities on `path` as sys/capabilities reports them (sorted; "root" for root).
  std::vector<std::string> Capabilities(const std::string& path) const;
  bool root() const { return root_; }

 private:
  struct Wildcard {
    std::string pattern;                 // as written, '*' included
    std::vector<std::string> segments;   // pattern without its trailing '*', split on '/'
    bool is_prefix = false;
    int first_wildcard = 0;              // index of the first '+'
    int wildcards = 0;                   // number of '+' segments
    Permissions perms;
  };
  struct Prefix {
    std::string prefix;
    Permissions perms;
  };

  // The single rule that governs `path`, or null.
  const Permissions* Find(const std::string& path, bool list) const;
  const Permissions* FindNonExact(const std::string& path) const;

  bool root_ = false;
  std::unordered_map<std::string, Permissions> exact_;
  std::vector<Prefix> prefixes_;  // longest first
  std::vector<Wildcard> wildcards_;
};

}  // namespace tresor::acl
