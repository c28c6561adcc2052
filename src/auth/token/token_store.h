// TokenStore: creation, lookup, renewal and revocation of tokens, persisted below the barrier.
//
// Tokens are never stored in the clear. Inside the store's view (sys/token/):
//   salt                          per-cluster random HMAC key
//   id/<salted id>                the entry (JSON; the raw id is not in it)
//   accessor/<salted accessor>    -> salted id (service tokens only)
//   parent/<salted parent>/<salted child>   the parent index; revoking a parent walks it
//   roles/<name>                  token roles (auth/token/roles/*)
// where the salted form is HMAC-SHA256(salt, kind ":" raw).
//
// Liveness: Lookup refuses a token that has expired (millisecond precision), whose uses are
// exhausted, or any of whose ancestors is gone or expired -- so a child never outlives its
// parent even between revocation sweeps. Expired trees are revoked when found.
//
// Entries are cached in memory, decoded, after their first load (a request's token lookup
// was a storage read, a decryption and a JSON parse). Every write of an entry goes through
// this class and drops it from the cache; Load and Reset empty the cache, and core calls
// them whenever storage may have changed under it (unseal, becoming the active node, a
// snapshot restore).
//
// Thread-safe. Owned by core; Load after unseal, Reset on seal.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/secure.h"
#include "common/status.h"
#include "crypto/hash.h"
#include "framework/logical.h"
#include "storage/storage.h"

namespace tresor::token {

struct TokenEntry {
  std::string id;        // raw token; not persisted (the key is its salted hash)
  std::string salted;    // its salted hash, filled by lookups; not persisted
  std::string accessor;  // raw accessor; persisted inside the (encrypted) entry; empty for batch
  std::string parent;    // salted hash of the parent's id; empty for orphans
  std::vector<std::string> policies;
  std::map<std::string, std::string> meta;
  std::string display_name;
  std::string path;  // "auth/token/root", "auth/token/create", "auth/userpass/login/bob"
  std::string entity_id;
  std::string role_name;
  std::string cubbyhole_id;  // random; names the token's cubbyhole storage
  std::string type = "service";  // service | batch
  int64_t creation_time = 0;     // unix seconds (issue time)
  int64_t ttl = 0;               // TTL granted at creation (creation_ttl); 0 = never expires
  int64_t expire_time = 0;       // unix seconds, for display; 0 = never
  int64_t expire_ms = 0;         // unix milliseconds, what liveness checks use; 0 = never
  int64_t last_renewal_time = 0;
  int64_t explicit_max_ttl = 0;
  int64_t period = 0;
  int64_t num_uses = 0;  // remaining uses; 0 = unlimited; -1 = last use in progress
  bool renewable = false;
  std::vector<std::string> bound_cidrs;
  nlohmann::json internal = nlohmann::json::object();  // auth method data for renewals

  nlohmann::json ToJson() const;  // persisted form (without id)
  static TokenEntry FromJson(const nlohmann::json& j);
  bool IsRoot() const;  // holds exactly the policy named "root"
  bool IsBatch() const { return type == "batch"; }
  // Seconds left (rounded up), 0 if the token never expires.
  int64_t RemainingTTL() const;
};

// Vault's policy sanitising: trim + lower-case, drop empties, "root" swallows every other
// policy, add "default" if asked (unless root), sort and de-duplicate.
std::vector<std::string> SanitizePolicies(std::vector<std::string> policies, bool add_default);

// The effective TTL for a token (Vault's CalculateTTL): `period` wins if set; otherwise the
// requested `ttl` (or `default_ttl`), capped so the token never lives past `issue_time` +
// min(max_ttl, explicit_max_ttl). Appends a warning when capping. Fails if the token is
// already past its maximum.
Result<int64_t> CalculateTTL(int64_t ttl, int64_t period, int64_t explicit_max_ttl, int64_t default_ttl,
                             int64_t max_ttl, int64_t issue_time, std::vector<std::string>* warnings);

class TokenStore {
 public:
  // `view` is the store's storage view (sys/token/), below the barrier; not owned.
  explicit TokenStore(Storage* view);

  // Loads (or creates) the salt. Call after unseal, before any other method.
  Status Load();
  void Reset();  // on seal: forget the salt

  // Fills entry.id (if empty), entry.accessor (service tokens), cubbyhole_id, stamps
  // creation/expiry from entry.ttl, and persists. Ids are "hvs."/"hvb." + 24 base62.
  // A caller-chosen id that already exists is refused.
  Status Create(TokenEntry* entry);
  // The live entry for `id`, or nullopt if unknown, expired, revoked or used up.
  Result<std::optional<TokenEntry>> Lookup(const std::string& id);
  // Like Lookup, but also returns a token whose last use is the request in progress (so a
  // num_uses=1 token can still read itself during that one request).
  Result<std::optional<TokenEntry>> LookupInRequest(const std::string& id);
  // By accessor; the returned entry has an empty `id` (the raw token is not recoverable).
  Result<std::optional<TokenEntry>> LookupByAccessor(const std::string& accessor);
  // Consumes one use of a limited-use token. False if it has no use left.
  Result<bool> UseToken(const TokenEntry& entry);
  // After the request: if `entry` (as looked up before UseToken) was on its last use,
  // revoke it now, as Vault does.
  void FinishUse(const TokenEntry& entry);
  // Revokes `id` and every token created under it.
  Status RevokeTree(const std::string& id);
  Status RevokeTreeByAccessor(const std::string& accessor);
  // Revokes only `id`; its children become orphans.
  Status RevokeOrphan(const std::string& id);
  Status Save(const TokenEntry& entry);  // after metadata changes (entry.id must be set)
  // Extends a token's lease: new TTL from CalculateTTL(increment, ...), stored in
  // `*granted_ttl` (seconds: the renewal's lease_duration; counting it from expire_ms later
  // would lose the milliseconds already spent). `entry` must come from a lookup (by id or
  // accessor); the saved entry is returned.
  Result<TokenEntry> Renew(const TokenEntry& entry, int64_t increment, int64_t default_ttl, int64_t max_ttl,
                           std::vector<std::string>* warnings, int64_t* granted_ttl);
  // Every raw accessor (auth/token/accessors).
  Result<std::vector<std::string>> ListAccessors();
  // Removes dangling index entries and revokes expired tokens and tokens whose parent is
  // gone. Returns how many tokens were revoked.
  Result<int> Tidy();

  // Roles (auth/token/roles/<name>), stored as JSON objects.
  Result<std::optional<nlohmann::json>> GetRole(const std::string& name);
  Status PutRole(const std::string& name, const nlohmann::json& role);
  Status DeleteRole(const std::string& name);
  Result<std::vector<std::string>> ListRoles();

  std::string SaltedId(const std::string& id) const;
  // Called for every revoked token (e.g. to destroy its cubbyhole). Register before use.
  void OnRevoke(std::function<void(const TokenEntry&)> fn);
  // How the token backend asks whether `policies` grant sudo on `path` (installed by core;
  // the default says yes only for root).
  using SudoCheck = std::function<bool(const std::vector<std::string>& policies, const std::string& path)>;
  void SetSudoCheck(SudoCheck fn) { sudo_check_ = std::move(fn); }
  bool HasSudo(const std::vector<std::string>& policies, const std::string& path) const;

  // Converts an entry into what backends see as the caller.
  static std::shared_ptr<logical::TokenInfo> ToInfo(const TokenEntry& e);

 private:
  Result<std::optional<TokenEntry>> LookupImpl(const std::string& id, bool allow_pending);
  Result<std::optional<TokenEntry>> LoadSalted(const std::string& salted);
  // Whether every ancestor of `e` is alive; revokes an expired ancestor's tree if found.
  Result<bool> AncestorsAlive(const TokenEntry& e);
  Status RevokeSalted(const std::string& salted, bool recurse, int depth = 0);
  std::string Salted(const std::string& kind, const std::string& raw) const;
  // Call after every write or delete of id/<salted> (after the storage call returns).
  void Forget(const std::string& salted);

  Storage* view_;
  mutable std::mutex mu_;
  std::shared_ptr<const crypto::HmacKey> salt_;  // guarded by mu_; null while sealed
  // Decoded entries by salted id; guarded by mu_. A load may only fill the cache if no
  // entry was forgotten since it began reading (cache_generation_ unchanged), so a reader
  // racing a writer never puts back the old value.
  std::unordered_map<std::string, std::shared_ptr<const TokenEntry>> cache_;
  uint64_t cache_generation_ = 0;
  static constexpr size_t kMaxCached = 200000;  // then start over: simple and bounded
  std::mutex use_mu_;  // serialises use-count updates
  std::vector<std::function<void(const TokenEntry&)>> on_revoke_;
  SudoCheck sudo_check_;
};

}  // namespace tresor::token
