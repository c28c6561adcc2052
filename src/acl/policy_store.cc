#include "acl/policy_store.h"

#include <algorithm>
#include <mutex>

#include "common/json.h"
#include "common/log.h"
#include "common/strings.h"

namespace tresor::acl {

using nlohmann::json;

// The rules of Vault's built-in default policy (identity templating paths omitted: this
// server has no identity store, so they could never match).
const char* const kDefaultPolicy = R"(# Let a token read its own properties.
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Let a token extend its own lifetime.
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Let a token revoke itself.
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Let a token ask which capabilities it has on a path.
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Let a token read the combined ACL of its policies (used by UIs; internal format).
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Lease renewal by lease id (old and new paths).
path "sys/renew" {
    capabilities = ["update"]
}
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Lease lookup by lease id; requires knowing the id already.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# The token's own private cubbyhole.
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Response wrapping: wrap, look up and unwrap.
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# General-purpose hashing tools.
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# Status of a control group request, given its accessor.
path "sys/control-group/request" {
    capabilities = ["update"]
}

# The authorization endpoint of OIDC providers.
path "identity/oidc/provider/+/authorize" {
    capabilities = ["read", "update"]
}
)";

namespace {

constexpr size_t kMaxCachedAcls = 4096;

Status CheckName(const std::string& name) {
  if (name.empty()) return Status::InvalidRequest("policy name must be provided in the URL");
  if (TrimSpace(name).size() != name.size())
    return Status::InvalidRequest("policy name cannot have leading or trailing whitespace");
  return Status::Ok();
}

std::shared_ptr<const Policy> RootPolicy() {
  static const auto root = [] {
    auto p = std::make_shared<Policy>();
    p->name = "root";
    return std::shared_ptr<const Policy>(p);
  }();
  return root;
}

// What a response-wrapping token may do: read the response in its cubbyhole and unwrap.
std::shared_ptr<const Policy> ResponseWrappingPolicy() {
  static const auto policy = [] {
    auto parsed = ParsePolicy("response-wrapping", R"(
path "cubbyhole/response" {
    capabilities = ["create", "read"]
}
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}
)");
    return std::shared_ptr<const Policy>(std::make_shared<Policy>(std::move(parsed).value()));
  }();
  return policy;
}

}  // namespace

PolicyStore::PolicyStore(Storage* view) : view_(view) {}

Status PolicyStore::Load() {
  {
    std::unique_lock lock(mu_);
    InvalidateLocked();
    policies_.clear();
  }
  ASSIGN_OR_RETURN(auto existing, view_->Get("default"));
  if (!existing) {
    json j = {{"name", "default"}, {"raw", kDefaultPolicy}};
    Status st = view_->Put("default", j.dump());
    // A node that cannot write (a raft follower) leaves this to the active node.
    if (!st.ok()) LOG_WARN("acl: cannot store the default policy: {}", st.ToString());
  }
  return Status::Ok();
}

void PolicyStore::Reset() {
  std::unique_lock lock(mu_);
  InvalidateLocked();
  policies_.clear();
}

void PolicyStore::InvalidateLocked() {
  ++generation_;
  acls_.clear();
}

Result<std::shared_ptr<const Policy>> PolicyStore::LoadPolicy(const std::string& name) {
  if (name == "root") return RootPolicy();
  if (name == "response-wrapping") return ResponseWrappingPolicy();
  uint64_t gen;
  {
    std::shared_lock lock(mu_);
    auto it = policies_.find(name);
    if (it != policies_.end()) return it->second;
    gen = generation_;
  }
  ASSIGN_OR_RETURN(auto raw, view_->Get(name));
  std::shared_ptr<const Policy> policy;
  if (raw) {
    auto j = ParseJsonOrDiscarded(*raw);
    if (!j.is_object() || !j["raw"].is_string()) return Status::Corruption("stored policy is not valid");
    auto parsed = ParsePolicy(name, j["raw"].get<std::string>());
    if (!parsed.ok()) {
      // Only valid policies are ever stored; a failure here means corruption, and an
      // unusable policy grants nothing.
      LOG_ERROR("acl: stored policy {} does not parse: {}", name, parsed.status().message());
    } else {
      policy = std::make_shared<const Policy>(std::move(parsed).value());
    }
  }
  std::unique_lock lock(mu_);
  if (generation_ == gen) policies_[name] = policy;
  return policy;
}

Result<std::shared_ptr<const Acl>> PolicyStore::AclFor(const std::vector<std::string>& names) {
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::string key = Join(sorted, "\n");
  uint64_t gen;
  {
    std::shared_lock lock(mu_);
    auto it = acls_.find(key);
    if (it != acls_.end()) return it->second;
    gen = generation_;
  }
  std::vector<std::shared_ptr<const Policy>> policies;
  for (const auto& n : sorted) {
    ASSIGN_OR_RETURN(auto p, LoadPolicy(n));
    policies.push_back(std::move(p));
  }
  auto acl = Acl::Build(policies);
  std::unique_lock lock(mu_);
  if (generation_ == gen) {
    if (acls_.size() >= kMaxCachedAcls) acls_.clear();
    acls_[key] = acl;
  }
  return acl;
}

Result<core::AccessDecision> PolicyStore::Check(const std::vector<std::string>& policies, logical::Operation op,
                                                const std::string& path, const json& data, int64_t wrap_ttl) {
  ASSIGN_OR_RETURN(auto acl, AclFor(policies));
  Decision d = acl->Allow(op, path, data, wrap_ttl);
  core::AccessDecision out;
  out.allowed = d.allowed;
  out.sudo = d.sudo;
  return out;
}

Result<std::vector<std::string>> PolicyStore::Capabilities(const std::vector<std::string>& policies,
                                                           const std::string& path) {
  ASSIGN_OR_RETURN(auto acl, AclFor(policies));
  return acl->Capabilities(path);
}

Result<std::shared_ptr<const Policy>> PolicyStore::Get(const std::string& raw_name) {
  std::string name = NormalizePolicyName(raw_name);
  RETURN_IF_ERROR(CheckName(name));
  return LoadPolicy(name);
}

Status PolicyStore::Set(const std::string& raw_name, const std::string& text) {
  std::string name = NormalizePolicyName(raw_name);
  RETURN_IF_ERROR(CheckName(name));
  if (name == "root" || name == "response-wrapping")
    return Status::InvalidRequest("cannot update \"" + name + "\" policy");
  ASSIGN_OR_RETURN(auto parsed, ParsePolicy(name, text));
  json j = {{"name", name}, {"raw", text}};
  std::unique_lock lock(mu_);  // serialise writers with cache invalidation
  RETURN_IF_ERROR(view_->Put(name, j.dump()));
  InvalidateLocked();
  policies_[name] = std::make_shared<const Policy>(std::move(parsed));
  return Status::Ok();
}

Status PolicyStore::Delete(const std::string& raw_name) {
  std::string name = NormalizePolicyName(raw_name);
  RETURN_IF_ERROR(CheckName(name));
  if (name == "root" || name == "response-wrapping")
    return Status::InvalidRequest("cannot delete \"" + name + "\" policy");
  if (name == "default") return Status::InvalidRequest("cannot delete \"default\" policy");
  std::unique_lock lock(mu_);
  RETURN_IF_ERROR(view_->Delete(name));
  InvalidateLocked();
  policies_[name] = nullptr;
  return Status::Ok();
}

Result<std::vector<std::string>> PolicyStore::List() {
  std::vector<std::string> out;
  std::vector<std::string> stack = {""};
  while (!stack.empty()) {
    std::string prefix = stack.back();
    stack.pop_back();
    ASSIGN_OR_RETURN(auto keys, view_->List(prefix));
    for (auto& k : keys) {
      if (!k.empty() && k.back() == '/') stack.push_back(prefix + k);
      else out.push_back(prefix + k);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace tresor::acl
