// PolicyStore: the ACL policies of this vault and the AccessControl core asks on every request.
//
// Policies live below the barrier at `<name>` in the view core hands over (sys/policy/).
// `default` is created on first unseal with Vault's default rules and may be edited but not
// deleted; `root` and `response-wrapping` (what a wrapping token holds: read its cubbyhole's
// `response`, unwrap) are built in, never stored, and can be neither changed nor deleted.
//
// Caching: a parsed Policy per name (including "does not exist") and a compiled Acl per
// sorted policy set, so a request does no parsing and no storage read once warm. Writing or
// deleting a policy through this class invalidates both caches. On a standby the caches
// would go stale; standbys forward requests to the active node, so only it consults them.
//
// Thread-safe: every method may be called from any worker thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "acl/acl.h"
#include "acl/policy.h"
#include "core/access.h"
#include "storage/storage.h"

namespace tresor::acl {

// Vault's default policy text, stored as `default` on first unseal.
extern const char* const kDefaultPolicy;

class PolicyStore : public core::AccessControl {
 public:
  // `view` is the barrier view of sys/policy/; not owned, outlives the store.
  explicit PolicyStore(Storage* view);

  // core::AccessControl
  Result<core::AccessDecision> Check(const std::vector<std::string>& policies, logical::Operation op,
                                     const std::string& path, const nlohmann::json& data,
                                     int64_t wrap_ttl = 0) override;
  Result<std::vector<std::string>> Capabilities(const std::vector<std::string>& policies,
                                                const std::string& path) override;
  Status Load() override;  // after unseal: creates `default` if missing, drops caches
  void Reset() override;   // before seal: drops caches

  // The compiled ACL for a set of policy names (order and duplicates do not matter; names
  // that do not exist are ignored, as in Vault).
  Result<std::shared_ptr<const Acl>> AclFor(const std::vector<std::string>& policies);

  // CRUD for sys/policy and sys/policies/acl. Names are normalised (lower-cased); a name
  // with surrounding whitespace is refused. Errors are InvalidRequest with Vault's messages.
  Result<std::shared_ptr<const Policy>> Get(const std::string& name);  // null if absent
  Status Set(const std::string& name, const std::string& text);
  Status Delete(const std::string& name);
  // Stored policy names, sorted (`default` included, `root` not).
  Result<std::vector<std::string>> List();

 private:
  Result<std::shared_ptr<const Policy>> LoadPolicy(const std::string& name);
  void InvalidateLocked();

  Storage* view_;
  mutable std::shared_mutex mu_;
  uint64_t generation_ = 0;  // bumped on every change; guards cache fills racing a write
  std::map<std::string, std::shared_ptr<const Policy>> policies_;  // null value: known absent
  std::map<std::string, std::shared_ptr<const Acl>> acls_;         // key: sorted names joined by '\n'
};

}  // namespace tresor::acl
