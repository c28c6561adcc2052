#include "auth/token/token_store.h"

#include <algorithm>
#include <chrono>

#include "common/duration.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/log.h"
#include "common/random.h"
#include "common/strings.h"
#include "crypto/hash.h"

namespace tresor::token {

using nlohmann::json;

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Deep enough for any real hierarchy; bounds the work a corrupted parent chain can cause.
constexpr int kMaxDepth = 256;

bool Expired(const TokenEntry& e, int64_t now_ms) { return e.expire_ms != 0 && now_ms >= e.expire_ms; }

}  // namespace

json TokenEntry::ToJson() const {
  return {{"accessor", accessor},
          {"parent", parent},
          {"policies", policies},
          {"meta", meta},
          {"display_name", display_name},
          {"path", path},
          {"entity_id", entity_id},
          {"role_name", role_name},
          {"cubbyhole_id", cubbyhole_id},
          {"type", type},
          {"creation_time", creation_time},
          {"ttl", ttl},
          {"expire_time", expire_time},
          {"expire_ms", expire_ms},
          {"last_renewal_time", last_renewal_time},
          {"explicit_max_ttl", explicit_max_ttl},
          {"period", period},
          {"num_uses", num_uses},
          {"renewable", renewable},
          {"bound_cidrs", bound_cidrs},
          {"internal", internal}};
}

TokenEntry TokenEntry::FromJson(const json& j) {
  TokenEntry e;
  e.accessor = j.value("accessor", "");
  e.parent = j.value("parent", "");
  e.policies = j.value("policies", std::vector<std::string>{});
  e.meta = j.value("meta", std::map<std::string, std::string>{});
  e.display_name = j.value("display_name", "");
  e.path = j.value("path", "");
  e.entity_id = j.value("entity_id", "");
  e.role_name = j.value("role_name", "");
  e.cubbyhole_id = j.value("cubbyhole_id", "");
  e.type = j.value("type", "service");
  e.creation_time = j.value("creation_time", int64_t(0));
  e.ttl = j.value("ttl", int64_t(0));
  e.expire_time = j.value("expire_time", int64_t(0));
  e.expire_ms = j.value("expire_ms", e.expire_time * 1000);
  e.last_renewal_time = j.value("last_renewal_time", int64_t(0));
  e.explicit_max_ttl = j.value("explicit_max_ttl", int64_t(0));
  e.period = j.value("period", int64_t(0));
  e.num_uses = j.value("num_uses", int64_t(0));
  e.renewable = j.value("renewable", false);
  e.bound_cidrs = j.value("bound_cidrs", std::vector<std::string>{});
  if (j.contains("internal")) e.internal = j["internal"];
  return e;
}

bool TokenEntry::IsRoot() const {
  return std::find(policies.begin(), policies.end(), "root") != policies.end();
}

int64_t TokenEntry::RemainingTTL() const {
  if (expire_ms == 0) return 0;
  return std::max<int64_t>(0, (expire_ms - NowMs()) / 1000);
}

std::vector<std::string> SanitizePolicies(std::vector<std::string> policies, bool add_default) {
  std::vector<std::string> out;
  bool root = false;
  for (auto& p : policies) {
    std::string n = ToLower(TrimSpace(p));
    if (n.empty()) continue;
    if (n == "root") {
      root = true;
      break;
    }
    out.push_back(std::move(n));
  }
  if (root) return {"root"};
  if (add_default) out.push_back("default");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<int64_t> CalculateTTL(int64_t ttl, int64_t period, int64_t explicit_max_ttl, int64_t default_ttl,
                             int64_t max_ttl, int64_t issue_time, std::vector<std::string>* warnings) {
  int64_t now = UnixNow();
  if (explicit_max_ttl > 0 && (max_ttl == 0 || explicit_max_ttl < max_ttl)) max_ttl = explicit_max_ttl;
  if (period > 0) {
    int64_t out = period;
    if (explicit_max_ttl > 0) {
      int64_t left = issue_time + explicit_max_ttl - now;
      if (left <= 0) return Status::InvalidRequest("past the max TTL, cannot renew");
      out = std::min(out, left);
    }
    return out;
  }
  int64_t out = ttl > 0 ? ttl : default_ttl;
  if (max_ttl > 0) {
    int64_t left = issue_time + max_ttl - now;
    if (left <= 0) return Status::InvalidRequest("past the max TTL, cannot renew");
    if (out > left) {
      if (warnings)
        warnings->push_back("TTL of \"" + GoDurationString(out) + "\" exceeded the effective max_ttl of \"" +
                            GoDurationString(left) + "\"; TTL value is capped accordingly");
      out = left;
    }
  }
  return out;
}

TokenStore::TokenStore(Storage* view) : view_(view) {}

Status TokenStore::Load() {
  ASSIGN_OR_RETURN(auto salt, view_->Get("salt"));
  if (!salt) {
    salt = RandomBytes(32);
    RETURN_IF_ERROR(view_->Put("salt", *salt));
  }
  auto key = std::make_shared<const crypto::HmacKey>(crypto::HashAlg::kSha256, *salt);
  Wipe(*salt);
  std::lock_guard lock(mu_);
  salt_ = std::move(key);
  cache_.clear();
  ++cache_generation_;
  return Status::Ok();
}

void TokenStore::Reset() {
  std::lock_guard lock(mu_);
  salt_.reset();
  cache_.clear();
  ++cache_generation_;
}

void TokenStore::Forget(const std::string& salted) {
  std::lock_guard lock(mu_);
  cache_.erase(salted);
  ++cache_generation_;
}

std::string TokenStore::Salted(const std::string& kind, const std::string& raw) const {
  std::shared_ptr<const crypto::HmacKey> key;
  {
    std::lock_guard lock(mu_);
    key = salt_;
  }
  // Sealed: no key. Salt with an empty one; nothing can be found under that name anyway
  // since every request is refused while sealed.
  if (!key) return HexEncode(crypto::HmacSha256("", kind + ":" + raw));
  return HexEncode(key->Sign(kind + ":" + raw));
}

std::string TokenStore::SaltedId(const std::string& id) const { return Salted("id", id); }

void TokenStore::OnRevoke(std::function<void(const TokenEntry&)> fn) { on_revoke_.push_back(std::move(fn)); }

bool TokenStore::HasSudo(const std::vector<std::string>& policies, const std::string& path) const {
  if (std::find(policies.begin(), policies.end(), "root") != policies.end()) return true;
  return sudo_check_ ? sudo_check_(policies, path) : false;
}

Status TokenStore::Create(TokenEntry* e) {
  bool custom = !e->id.empty();
  if (!custom) e->id = (e->IsBatch() ? "hvb." : "hvs.") + RandomBase62(24);
  std::string salted = SaltedId(e->id);
  e->salted = salted;
  if (custom) {
    ASSIGN_OR_RETURN(auto existing, view_->Get("id/" + salted));
    if (existing) return Status::InvalidRequest("cannot create a token with a duplicate ID");
  }
  e->accessor = e->IsBatch() ? "" : RandomBase62(24);
  if (e->cubbyhole_id.empty() && !e->IsBatch()) e->cubbyhole_id = RandomBase62(24);
  int64_t now_ms = NowMs();
  if (e->creation_time == 0) e->creation_time = now_ms / 1000;
  e->expire_ms = e->ttl > 0 ? now_ms + e->ttl * 1000 : 0;
  e->expire_time = e->expire_ms ? (e->expire_ms + 999) / 1000 : 0;
  std::vector<TxnOp> ops;
  ops.push_back({TxnOp::Kind::kPut, "id/" + salted, DumpJson(e->ToJson())});
  if (!e->accessor.empty()) ops.push_back({TxnOp::Kind::kPut, "accessor/" + Salted("accessor", e->accessor), salted});
  if (!e->parent.empty()) ops.push_back({TxnOp::Kind::kPut, "parent/" + e->parent + "/" + salted, ""});
  RETURN_IF_ERROR(view_->Transaction(ops));
  Forget(salted);  // a custom id may have been looked up (and found missing) before
  return Status::Ok();
}

Status TokenStore::Save(const TokenEntry& e) {
  std::string salted = SaltedId(e.id);
  RETURN_IF_ERROR(view_->Put("id/" + salted, DumpJson(e.ToJson())));
  Forget(salted);
  return Status::Ok();
}

Result<std::optional<TokenEntry>> TokenStore::LoadSalted(const std::string& salted) {
  uint64_t generation;
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(salted); it != cache_.end()) return std::optional<TokenEntry>(*it->second);
    generation = cache_generation_;
  }
  ASSIGN_OR_RETURN(auto raw, view_->Get("id/" + salted));
  if (!raw) return std::optional<TokenEntry>();
  auto j = ParseJsonOrDiscarded(*raw);
  if (!j.is_object()) return Status::Corruption("token entry is not valid JSON");
  auto e = std::make_shared<TokenEntry>(TokenEntry::FromJson(j));
  e->salted = salted;
  std::lock_guard lock(mu_);
  if (generation == cache_generation_) {
    if (cache_.size() >= kMaxCached) cache_.clear();
    cache_.emplace(salted, e);
  }
  return std::optional<TokenEntry>(*e);
}

Result<bool> TokenStore::AncestorsAlive(const TokenEntry& e) {
  std::string parent = e.parent;
  int64_t now_ms = NowMs();
  for (int depth = 0; !parent.empty(); ++depth) {
    if (depth > kMaxDepth) return false;
    ASSIGN_OR_RETURN(auto p, LoadSalted(parent));
    if (!p) return false;  // the parent is gone: so is everything under it
    if (Expired(*p, now_ms)) {
      RETURN_IF_ERROR(RevokeSalted(parent, true));
      return false;
    }
    if (p->num_uses < 0) return false;  // being revoked after its last use
    parent = p->parent;
  }
  return true;
}

Result<std::optional<TokenEntry>> TokenStore::LookupImpl(const std::string& id, bool allow_pending) {
  if (id.empty()) return std::optional<TokenEntry>();
  std::string salted = SaltedId(id);
  ASSIGN_OR_RETURN(auto e, LoadSalted(salted));
  if (!e) return e;
  e->id = id;
  if (Expired(*e, NowMs())) {
    // Expired: revoke now so the tree and its cubbyhole go with it.
    RETURN_IF_ERROR(RevokeSalted(salted, true));
    return std::optional<TokenEntry>();
  }
  if (e->num_uses < 0 && !allow_pending) return std::optional<TokenEntry>();
  ASSIGN_OR_RETURN(bool alive, AncestorsAlive(*e));
  if (!alive) {
    RETURN_IF_ERROR(RevokeSalted(salted, true));
    return std::optional<TokenEntry>();
  }
  return e;
}

Result<std::optional<TokenEntry>> TokenStore::Lookup(const std::string& id) { return LookupImpl(id, false); }

Result<std::optional<TokenEntry>> TokenStore::LookupInRequest(const std::string& id) {
  return LookupImpl(id, true);
}

Result<std::optional<TokenEntry>> TokenStore::LookupByAccessor(const std::string& accessor) {
  if (accessor.empty()) return std::optional<TokenEntry>();
  ASSIGN_OR_RETURN(auto salted, view_->Get("accessor/" + Salted("accessor", accessor)));
  if (!salted) return std::optional<TokenEntry>();
  ASSIGN_OR_RETURN(auto e, LoadSalted(*salted));
  if (!e) return e;
  if (Expired(*e, NowMs())) {
    RETURN_IF_ERROR(RevokeSalted(*salted, true));
    return std::optional<TokenEntry>();
  }
  if (e->num_uses < 0) return std::optional<TokenEntry>();
  ASSIGN_OR_RETURN(bool alive, AncestorsAlive(*e));
  if (!alive) {
    RETURN_IF_ERROR(RevokeSalted(*salted, true));
    return std::optional<TokenEntry>();
  }
  return e;
}

Result<bool> TokenStore::UseToken(const TokenEntry& entry) {
  if (entry.num_uses == 0) return true;
  std::lock_guard lock(use_mu_);  // two requests must not both take the last use
  std::string salted = SaltedId(entry.id);
  ASSIGN_OR_RETURN(auto cur, LoadSalted(salted));
  if (!cur || cur->num_uses < 0) return false;
  if (cur->num_uses == 0) return true;
  cur->num_uses -= 1;
  if (cur->num_uses == 0) cur->num_uses = -1;  // last use: revoked once the request is done
  RETURN_IF_ERROR(view_->Put("id/" + salted, DumpJson(cur->ToJson())));
  Forget(salted);
  return true;
}

void TokenStore::FinishUse(const TokenEntry& entry) {
  if (entry.num_uses != 1) return;
  Status st = RevokeTree(entry.id);
  if (!st.ok()) LOG_ERROR("token: revoking a used-up token failed: {}", st.ToString());
}

Status TokenStore::RevokeTree(const std::string& id) { return RevokeSalted(SaltedId(id), true); }

Status TokenStore::RevokeOrphan(const std::string& id) { return RevokeSalted(SaltedId(id), false); }

Status TokenStore::RevokeTreeByAccessor(const std::string& accessor) {
  ASSIGN_OR_RETURN(auto salted, view_->Get("accessor/" + Salted("accessor", accessor)));
  if (!salted) return Status::Ok();
  return RevokeSalted(*salted, true);
}

Status TokenStore::RevokeSalted(const std::string& salted, bool recurse, int depth) {
  if (depth > kMaxDepth) return Status::Internal("token hierarchy too deep to revoke");
  // Children first, so no child outlives its parent even if we stop half-way.
  ASSIGN_OR_RETURN(auto children, view_->List("parent/" + salted + "/"));
  for (const auto& child : children) {
    if (recurse) {
      RETURN_IF_ERROR(RevokeSalted(child, true, depth + 1));
      RETURN_IF_ERROR(view_->Delete("parent/" + salted + "/" + child));  // if the child was already gone
    } else {
      ASSIGN_OR_RETURN(auto c, LoadSalted(child));
      if (c) {
        c->parent.clear();
        RETURN_IF_ERROR(view_->Put("id/" + child, DumpJson(c->ToJson())));
        Forget(child);
      }
      RETURN_IF_ERROR(view_->Delete("parent/" + salted + "/" + child));
    }
  }
  ASSIGN_OR_RETURN(auto e, LoadSalted(salted));
  if (!e) return Status::Ok();
  std::vector<TxnOp> ops;
  ops.push_back({TxnOp::Kind::kDelete, "id/" + salted, ""});
  if (!e->accessor.empty()) ops.push_back({TxnOp::Kind::kDelete, "accessor/" + Salted("accessor", e->accessor), ""});
  if (!e->parent.empty()) ops.push_back({TxnOp::Kind::kDelete, "parent/" + e->parent + "/" + salted, ""});
  RETURN_IF_ERROR(view_->Transaction(ops));
  Forget(salted);
  for (auto& fn : on_revoke_) fn(*e);
  return Status::Ok();
}

Result<TokenEntry> TokenStore::Renew(const TokenEntry& entry, int64_t increment, int64_t default_ttl,
                                     int64_t max_ttl, std::vector<std::string>* warnings, int64_t* granted_ttl) {
  if (entry.IsBatch()) return Status::InvalidRequest("batch tokens cannot be renewed");
  if (!entry.renewable || entry.expire_ms == 0) return Status::InvalidRequest("lease is not renewable");
  std::string salted = entry.salted.empty() ? SaltedId(entry.id) : entry.salted;
  std::lock_guard lock(use_mu_);  // keep use-count updates and renewals from overwriting each other
  ASSIGN_OR_RETURN(auto cur, LoadSalted(salted));
  if (!cur) return Status::InvalidRequest("token not found");
  // Without an increment a renewal asks for the token's original TTL again.
  ASSIGN_OR_RETURN(int64_t ttl, CalculateTTL(increment > 0 ? increment : cur->ttl, cur->period,
                                             cur->explicit_max_ttl, default_ttl, max_ttl, cur->creation_time,
                                             warnings));
  int64_t now_ms = NowMs();
  cur->expire_ms = now_ms + ttl * 1000;
  cur->expire_time = (cur->expire_ms + 999) / 1000;
  cur->last_renewal_time = now_ms / 1000;
  RETURN_IF_ERROR(view_->Put("id/" + salted, DumpJson(cur->ToJson())));
  Forget(salted);
  cur->id = entry.id;
  *granted_ttl = ttl;
  return *cur;
}

Result<std::vector<std::string>> TokenStore::ListAccessors() {
  ASSIGN_OR_RETURN(auto keys, view_->List("accessor/"));
  std::vector<std::string> out;
  for (const auto& k : keys) {
    ASSIGN_OR_RETURN(auto salted, view_->Get("accessor/" + k));
    if (!salted) continue;
    ASSIGN_OR_RETURN(auto e, LoadSalted(*salted));
    if (e && !e->accessor.empty()) out.push_back(e->accessor);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<int> TokenStore::Tidy() {
  int revoked = 0;
  int64_t now_ms = NowMs();
  // Expired tokens, and tokens whose parent no longer exists.
  ASSIGN_OR_RETURN(auto ids, view_->List("id/"));
  for (const auto& salted : ids) {
    ASSIGN_OR_RETURN(auto e, LoadSalted(salted));
    if (!e) continue;
    bool dead = Expired(*e, now_ms) || e->num_uses < 0;
    if (!dead && !e->parent.empty()) {
      ASSIGN_OR_RETURN(auto p, LoadSalted(e->parent));
      dead = !p.has_value();
    }
    if (dead) {
      RETURN_IF_ERROR(RevokeSalted(salted, true));
      ++revoked;
    }
  }
  // Accessor entries pointing at nothing.
  ASSIGN_OR_RETURN(auto accessors, view_->List("accessor/"));
  for (const auto& a : accessors) {
    ASSIGN_OR_RETURN(auto salted, view_->Get("accessor/" + a));
    bool dangling = !salted;
    if (salted) {
      ASSIGN_OR_RETURN(auto raw, view_->Get("id/" + *salted));
      dangling = !raw;
    }
    if (dangling) RETURN_IF_ERROR(view_->Delete("accessor/" + a));
  }
  // Parent index entries whose child is gone.
  ASSIGN_OR_RETURN(auto parents, view_->List("parent/"));
  for (const auto& p : parents) {
    ASSIGN_OR_RETURN(auto children, view_->List("parent/" + p));
    for (const auto& c : children) {
      ASSIGN_OR_RETURN(auto raw, view_->Get("id/" + c));
      if (!raw) RETURN_IF_ERROR(view_->Delete("parent/" + p + c));
    }
  }
  return revoked;
}

Result<std::optional<json>> TokenStore::GetRole(const std::string& name) {
  ASSIGN_OR_RETURN(auto raw, view_->Get("roles/" + name));
  if (!raw) return std::optional<json>();
  auto j = ParseJsonOrDiscarded(*raw);
  if (!j.is_object()) return Status::Corruption("token role is not valid JSON");
  return std::optional<json>(std::move(j));
}

Status TokenStore::PutRole(const std::string& name, const json& role) { return view_->Put("roles/" + name, role.dump()); }

Status TokenStore::DeleteRole(const std::string& name) { return view_->Delete("roles/" + name); }

Result<std::vector<std::string>> TokenStore::ListRoles() { return view_->List("roles/"); }

std::shared_ptr<logical::TokenInfo> TokenStore::ToInfo(const TokenEntry& e) {
  auto t = std::make_shared<logical::TokenInfo>();
  t->id = e.id;
  t->accessor = e.accessor;
  t->policies = e.policies;
  t->meta = e.meta;
  t->display_name = e.display_name;
  t->entity_id = e.entity_id;
  t->path = e.path;
  t->type = e.type;
  t->root = e.IsRoot();
  t->orphan = e.parent.empty();
  t->creation_time = e.creation_time;
  t->ttl = e.RemainingTTL();
  t->num_uses = std::max<int64_t>(0, e.num_uses);
  t->cubbyhole_id = e.cubbyhole_id;
  return t;
}

}  // namespace tresor::token
