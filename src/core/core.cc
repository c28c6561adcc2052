#include "core/core.h"

#include <algorithm>
#include <thread>

#include "acl/policy_store.h"
#include "barrier/barrier.h"
#include "common/duration.h"
#include "common/encoding.h"
#include "common/log.h"
#include "common/random.h"
#include "common/version.h"
#include "core/envelope.h"
#include "core/sys_backend.h"
#include "engines/cubbyhole/cubbyhole.h"
#include "auth/token/token_backend.h"
#include "http/json_body.h"
#include "seal/shamir_seal.h"
#include "common/thread_name.h"

namespace tresor::core {

using logical::Operation;
using nlohmann::json;

// What a mount's backend sees of the system: its tuned TTLs over the system defaults.
class Core::MountSystemView : public framework::SystemView {
 public:
  MountSystemView(const Core* core, std::string route_path) : core_(core), route_path_(std::move(route_path)) {}
  int64_t DefaultLeaseTTL() const override {
    auto e = core_->router_.Exact(route_path_);
    int64_t v = e && e->config.default_lease_ttl ? e->config.default_lease_ttl : core_->opts_.default_lease_ttl;
    return std::min(v, MaxLeaseTTL());
  }
  int64_t MaxLeaseTTL() const override {
    auto e = core_->router_.Exact(route_path_);
    return e && e->config.max_lease_ttl ? e->config.max_lease_ttl : core_->opts_.max_lease_ttl;
  }
  std::string MountPoint() const override { return route_path_; }

 private:
  const Core* core_;
  std::string route_path_;
};

Core::Core(std::unique_ptr<Storage> physical, CoreOptions opts, std::shared_ptr<framework::Registry> registry)
    : physical_(std::move(physical)), opts_(std::move(opts)), registry_(std::move(registry)) {
  barrier_ = std::make_unique<barrier::Barrier>(physical_.get());
  seal_ = std::make_unique<seal::ShamirSeal>(physical_.get(), barrier_.get());
  token_view_ = std::make_unique<StorageView>(barrier_.get(), "sys/token/");
  tokens_ = std::make_unique<token::TokenStore>(token_view_.get());
  policy_view_ = std::make_unique<StorageView>(barrier_.get(), "sys/policy/");
  auto policies = std::make_unique<acl::PolicyStore>(policy_view_.get());
  policy_store_ = policies.get();
  access_ = std::move(policies);
  tokens_->SetSudoCheck([this](const std::vector<std::string>& policies, const std::string& path) {
    auto caps = access_->Capabilities(policies, path);
    if (!caps.ok()) return false;
    for (const auto& c : *caps)
      if (c == "sudo" || c == "root") return true;
    return false;
  });
  // A revoked token takes its cubbyhole with it.
  tokens_->OnRevoke([this](const token::TokenEntry& e) {
    auto m = router_.Exact("cubbyhole/");
    if (m && m->view) {
      Status st = cubbyhole::DestroyTokenStorage(m->view.get(), e.cubbyhole_id, e.id);
      if (!st.ok()) LOG_WARN("core: cannot destroy a revoked token's cubbyhole: {}", st.ToString());
    }
  });
  periodic_ = std::thread([this] {
    SetThreadName("core-periodic");
    PeriodicLoop();
  });
}

Core::~Core() {
  {
    std::lock_guard lock(periodic_mu_);
    stopping_ = true;
  }
  periodic_cv_.notify_all();
  if (periodic_.joinable()) periodic_.join();
  std::unique_lock lock(state_mu_);
  if (!sealed_) PreSeal();
}

// ---------------------------------------------------------------------------------------
// Seal lifecycle

Result<bool> Core::Initialized() { return seal_->Initialized(); }

Result<InitResult> Core::Initialize(int shares, int threshold) {
  std::unique_lock lock(state_mu_);
  ASSIGN_OR_RETURN(bool inited, seal_->Initialized());
  if (inited) return Status::InvalidRequest("Vault is already initialized");
  if (ha_) RETURN_IF_ERROR(ha_->PrepareInit());
  // The seal leaves the barrier unsealed so the root token and cluster identity can be
  // written; Shamir then keeps the node sealed after init, as Vault does.
  ASSIGN_OR_RETURN(auto shares_out, seal_->Initialize(shares, threshold));
  InitResult out;
  Status st = [&]() -> Status {
    RETURN_IF_ERROR(tokens_->Load());
    token::TokenEntry root;
    root.policies = {"root"};
    root.display_name = "root";
    root.path = "auth/token/root";
    RETURN_IF_ERROR(tokens_->Create(&root));
    out.root_token = root.id;
    std::string name = opts_.cluster_name.empty() ? "vault-cluster-" + HexEncode(RandomBytes(4)) : opts_.cluster_name;
    json cluster = {{"name", name}, {"id", NewUUID()}};
    RETURN_IF_ERROR(barrier_->Put("core/cluster/info", cluster.dump()));
    return ha_ ? ha_->OnInit(barrier_.get()) : Status::Ok();
  }();
  tokens_->Reset();
  seal_->Seal();
  RETURN_IF_ERROR(st);
  for (auto& s : shares_out) out.shares.push_back(s.str());
  LOG_INFO("core: initialized with {} shares, threshold {}", shares, threshold);
  return out;
}

Result<SealStatus> Core::SubmitUnsealKey(const std::string& key) {
  std::unique_lock lock(state_mu_);
  ASSIGN_OR_RETURN(bool inited, seal_->Initialized());
  if (!inited) return Status::InvalidRequest("Vault is not initialized");
  if (!sealed_) {
    lock.unlock();
    return GetSealStatus();
  }
  ASSIGN_OR_RETURN(SecureString share, seal::DecodeUnsealKey(key));
  ASSIGN_OR_RETURN(seal::SealState state, seal_->SubmitShare(share.view()));
  if (state.sealed && ha_ && seal_->has_unseal_key()) {
    // Raft join: the shares gave the unseal key; answer the leader, then wait for the
    // root key and keyring to replicate.
    Status st = ha_->OnJoinKeyRecovered();
    if (!st.ok()) {
      seal_->ResetProgress();
      return st;
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      st = seal_->UnsealWithRecoveredKey();
      if (st.code() != Code::kUnavailable || std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!st.ok()) {
      seal_->ResetProgress();
      return st;
    }
    ASSIGN_OR_RETURN(state, seal_->State());
  }
  if (!state.sealed) {
    Status st = PostUnseal();
    if (!st.ok()) {
      LOG_ERROR("core: post-unseal setup failed: {}", st.ToString());
      PreSeal();
      return st;
    }
    LOG_INFO("core: vault is unsealed");
  }
  lock.unlock();
  return GetSealStatus();
}

Status Core::ResetUnseal() {
  std::unique_lock lock(state_mu_);
  if (!sealed_) return Status::InvalidRequest("vault is unsealed");
  seal_->ResetProgress();
  return Status::Ok();
}

Status Core::Seal() {
  std::unique_lock lock(state_mu_);
  if (sealed_) return Status::Ok();
  PreSeal();
  LOG_INFO("core: vault is sealed");
  return Status::Ok();
}

Result<SealStatus> Core::GetSealStatus() {
  ASSIGN_OR_RETURN(seal::SealState st, seal_->State());
  SealStatus s;
  s.type = st.type;
  s.initialized = st.initialized;
  s.sealed = sealed_.load();
  s.shares = st.shares;
  s.threshold = st.threshold;
  s.progress = st.progress;
  s.nonce = st.nonce;
  if (!s.sealed) {
    std::shared_lock lock(state_mu_);
    s.cluster_name = cluster_name_;
    s.cluster_id = cluster_id_;
  }
  return s;
}

Result<InitResult> Core::DevInitialize(const std::string& root_token) {
  ASSIGN_OR_RETURN(InitResult init, Initialize(1, 1));
  ASSIGN_OR_RETURN(SealStatus st, SubmitUnsealKey(HexEncode(init.shares[0])));
  if (st.sealed) return Status::Internal("dev unseal failed");
  if (!root_token.empty() && root_token != init.root_token) {
    RETURN_IF_ERROR(tokens_->RevokeTree(init.root_token));
    token::TokenEntry root;
    root.id = root_token;
    root.policies = {"root"};
    root.display_name = "root";
    root.path = "auth/token/root";
    RETURN_IF_ERROR(tokens_->Create(&root));
    init.root_token = root_token;
  }
  MountEntry kv;
  kv.path = "secret/";
  kv.type = "kv";
  kv.description = "key/value secret storage";
  kv.options = {{"version", "2"}};
  RETURN_IF_ERROR(Mount(TableKind::kSecrets, std::move(kv)));
  return init;
}

Status Core::PostUnseal() {
  RETURN_IF_ERROR(tokens_->Load());
  ASSIGN_OR_RETURN(auto info, barrier_->Get("core/cluster/info"));
  if (info) {
    auto j = json::parse(*info, nullptr, false);
    if (j.is_object()) {
      cluster_name_ = j.value("name", "");
      cluster_id_ = j.value("id", "");
    }
  }
  RETURN_IF_ERROR(access_->Load());
  RETURN_IF_ERROR(LoadMountTable(TableKind::kSecrets));
  RETURN_IF_ERROR(LoadMountTable(TableKind::kAuth));
  RETURN_IF_ERROR(SetupDefaultMounts());
  active_since_ = std::chrono::system_clock::now();
  if (ha_) ha_->OnUnsealed(barrier_.get());
  sealed_ = false;
  return Status::Ok();
}

Status Core::ReloadActive() {
  std::unique_lock lock(state_mu_);
  if (sealed_) return Status::Ok();
  for (auto& e : router_.All()) {
    if (e->backend) e->backend->Cleanup();
  }
  router_.Clear();
  access_->Reset();
  tokens_->Reset();
  Status st = barrier_->ReloadKeyring();
  if (st.ok()) st = PostUnseal();
  if (!st.ok()) {
    LOG_ERROR("core: reload on becoming active failed, sealing: {}", st.ToString());
    PreSeal();
  }
  return st;
}

Status Core::AuthorizeSudo(const http::HttpRequest& req, const std::string& path) {
  std::shared_lock lock(state_mu_);
  if (sealed_) return Status::Sealed();
  std::string tok = req.Header("x-vault-token");
  if (tok.empty()) {
    std::string auth = req.Header("authorization");
    if (auth.rfind("Bearer ", 0) == 0) tok = auth.substr(7);
  }
  ASSIGN_OR_RETURN(auto te, tokens_->Lookup(tok));
  if (!te) return Status::PermissionDenied();
  if (te->IsRoot()) return Status::Ok();
  auto op = OperationFor(req);
  if (!op) return Status::UnsupportedOperation();
  ASSIGN_OR_RETURN(auto d, access_->Check(te->policies, *op, RequestPath(*op, path), json::object()));
  if (!d.allowed || !d.sudo) return Status::PermissionDenied();
  return Status::Ok();
}

void Core::PreSeal() {
  for (auto& e : router_.All()) {
    if (e->backend) e->backend->Cleanup();
  }
  router_.Clear();
  access_->Reset();
  tokens_->Reset();
  seal_->Seal();
  if (ha_) ha_->OnSealed();
  cluster_name_.clear();
  cluster_id_.clear();
  sealed_ = true;
}

// ---------------------------------------------------------------------------------------
// Mount tables

static const char* TableKey(TableKind t) { return t == TableKind::kAuth ? "core/auth" : "core/mounts"; }

Status Core::LoadMountTable(TableKind table) {
  ASSIGN_OR_RETURN(auto raw, barrier_->Get(TableKey(table)));
  if (!raw) return Status::Ok();
  auto j = json::parse(*raw, nullptr, false);
  if (!j.is_object() || !j["entries"].is_array()) return Status::Corruption("mount table is not valid");
  for (auto& ej : j["entries"]) {
    MountEntry e = MountEntry::FromJson(table, ej);
    Status st = SetupMount(&e);
    if (!st.ok()) {
      LOG_ERROR("core: cannot set up mount {} ({}): {}", e.RoutePath(), e.type, st.ToString());
      continue;  // an unknown plugin must not keep the whole vault sealed
    }
    router_.Put(std::make_shared<const MountEntry>(std::move(e)));
  }
  return Status::Ok();
}

Status Core::PersistMountTable(TableKind table) {
  json entries = json::array();
  for (auto& e : router_.All())
    if (e->table == table) entries.push_back(e->ToJson());
  json j = {{"type", table == TableKind::kAuth ? "auth" : "mounts"}, {"entries", entries}};
  return barrier_->Put(TableKey(table), j.dump());
}

Status Core::SetupMount(MountEntry* e) {
  e->view = std::make_shared<StorageView>(barrier_.get(), e->StoragePrefix());
  e->system_view = std::make_shared<MountSystemView>(this, e->RoutePath());
  framework::BackendConfig cfg;
  cfg.storage = e->view.get();
  cfg.system = e->system_view.get();
  cfg.mount_path = e->RoutePath();
  cfg.mount_type = e->type;
  cfg.options = e->options.is_object() ? e->options : json::object();
  if (e->type == "system") {
    e->backend = std::make_shared<SysBackend>(this);
  } else if (e->type == "token") {
    e->backend = token::NewTokenBackend(tokens_.get(), cfg);
  } else {
    auto kind = e->table == TableKind::kAuth ? framework::BackendKind::kAuth : framework::BackendKind::kSecrets;
    std::string type = e->type;
    const framework::Factory* f = registry_->Find(type, kind);
    if (!f) {
      return Status::InvalidRequest("plugin not found in the catalog: " + type);
    }
    ASSIGN_OR_RETURN(auto backend, (*f)(cfg));
    e->backend = std::shared_ptr<framework::Backend>(std::move(backend));
  }
  return e->backend->Initialize();
}

Status Core::SetupDefaultMounts() {
  bool changed_secrets = false, changed_auth = false;
  auto ensure = [&](TableKind table, const std::string& path, const std::string& type, const std::string& desc) -> Status {
    MountEntry probe;
    probe.table = table;
    probe.path = path;
    if (router_.Exact(probe.RoutePath())) return Status::Ok();
    MountEntry e;
    e.table = table;
    e.path = path;
    e.type = type;
    e.description = desc;
    e.uuid = NewUUID();
    e.accessor = type + "_" + HexEncode(RandomBytes(4));
    Status st = SetupMount(&e);
    if (!st.ok()) {
      // A default backend that is not built in yet (e.g. cubbyhole) is skipped, not fatal.
      LOG_WARN("core: default mount {} unavailable: {}", e.RoutePath(), st.message());
      return Status::Ok();
    }
    router_.Put(std::make_shared<const MountEntry>(std::move(e)));
    (table == TableKind::kAuth ? changed_auth : changed_secrets) = true;
    return Status::Ok();
  };
  RETURN_IF_ERROR(ensure(TableKind::kSecrets, "sys/", "system", "system endpoints used for control, policy and debugging"));
  RETURN_IF_ERROR(ensure(TableKind::kSecrets, "cubbyhole/", "cubbyhole", "per-token private secret storage"));
  RETURN_IF_ERROR(ensure(TableKind::kAuth, "token/", "token", "token based credentials"));
  if (changed_secrets) RETURN_IF_ERROR(PersistMountTable(TableKind::kSecrets));
  if (changed_auth) RETURN_IF_ERROR(PersistMountTable(TableKind::kAuth));
  return Status::Ok();
}

static bool ValidMountPath(const std::string& p) {
  if (p.empty() || p == "/") return false;
  if (p.find("..") != std::string::npos || p.find("//") != std::string::npos) return false;
  return true;
}

Status Core::Mount(TableKind table, MountEntry e) {
  std::lock_guard lock(mounts_mu_);
  while (!e.path.empty() && e.path.front() == '/') e.path.erase(0, 1);
  if (!e.path.empty() && e.path.back() != '/') e.path += '/';
  if (!ValidMountPath(e.path)) return Status::InvalidRequest("invalid mount path");
  e.table = table;
  if (table == TableKind::kSecrets) {
    for (const char* reserved : {"sys/", "auth/", "cubbyhole/", "identity/"}) {
      if (e.path.rfind(reserved, 0) == 0)
        return Status::InvalidRequest("cannot mount '" + e.path + "' of type '" + e.type + "' (reserved path)");
    }
    if (e.type == "generic") {
      e.type = "kv";
    }
  }
  if (table == TableKind::kAuth && e.type == "token")
    return Status::InvalidRequest("token credential backend cannot be instantiated");
  if (router_.Conflicts(e.RoutePath()))
    return Status::InvalidRequest("path is already in use at " + e.path);
  if (e.uuid.empty()) e.uuid = NewUUID();
  if (e.accessor.empty()) e.accessor = e.type + "_" + HexEncode(RandomBytes(4));
  if (e.type == "kv" && (!e.options.is_object() || !e.options.contains("version"))) {
    if (!e.options.is_object()) e.options = json::object();
    e.options["version"] = "1";
  }
  RETURN_IF_ERROR(SetupMount(&e));
  auto shared = std::make_shared<const MountEntry>(std::move(e));
  router_.Put(shared);
  Status st = PersistMountTable(table);
  if (!st.ok()) router_.Remove(shared->RoutePath());
  return st;
}

Status Core::Unmount(TableKind table, const std::string& raw_path) {
  std::lock_guard lock(mounts_mu_);
  std::string path = raw_path;
  if (path.empty() || path.back() != '/') path += '/';
  MountEntry probe;
  probe.table = table;
  probe.path = path;
  auto e = router_.Exact(probe.RoutePath());
  if (!e) return Status::Ok();  // Vault: unmounting a missing path is a no-op
  if (IsSingletonType(e->type)) return Status::InvalidRequest("cannot unmount '" + path + "'");
  e->backend->Cleanup();
  router_.Remove(e->RoutePath());
  RETURN_IF_ERROR(PersistMountTable(table));
  // Delete every key below the mount's prefix.
  std::vector<std::string> stack = {""};
  while (!stack.empty()) {
    std::string prefix = stack.back();
    stack.pop_back();
    ASSIGN_OR_RETURN(auto keys, e->view->List(prefix));
    for (auto& k : keys) {
      if (!k.empty() && k.back() == '/') stack.push_back(prefix + k);
      else RETURN_IF_ERROR(e->view->Delete(prefix + k));
    }
  }
  return Status::Ok();
}

Status Core::Remount(const std::string& from_raw, const std::string& to_raw) {
  auto norm = [](std::string p) {
    while (!p.empty() && p.front() == '/') p.erase(0, 1);
    if (!p.empty() && p.back() != '/') p += '/';
    return p;
  };
  std::string from = norm(from_raw), to = norm(to_raw);
  std::lock_guard lock(mounts_mu_);
  bool from_auth = from.rfind("auth/", 0) == 0, to_auth = to.rfind("auth/", 0) == 0;
  if (from_auth != to_auth) return Status::InvalidRequest("cannot remount between auth and secrets mounts");
  auto e = router_.Exact(from);
  if (!e) return Status::InvalidRequest("no matching mount at \"" + from + "\"");
  if (IsSingletonType(e->type)) return Status::InvalidRequest("cannot remount \"" + from + "\"");
  if (!ValidMountPath(to)) return Status::InvalidRequest("invalid destination path");
  if (router_.Conflicts(to)) return Status::InvalidRequest("path already in use at \"" + to + "\"");
  MountEntry moved = *e;  // same uuid → same storage; only the route changes
  moved.path = from_auth ? to.substr(5) : to;
  router_.Remove(from);
  moved.system_view = std::make_shared<MountSystemView>(this, moved.RoutePath());
  router_.Put(std::make_shared<const MountEntry>(std::move(moved)));
  return PersistMountTable(e->table);
}

Status Core::Tune(TableKind table, const std::string& raw_path, const MountConfig& config,
                  const std::optional<std::string>& description, const std::optional<json>& options) {
  std::lock_guard lock(mounts_mu_);
  std::string path = raw_path;
  if (path.empty() || path.back() != '/') path += '/';
  MountEntry probe;
  probe.table = table;
  probe.path = path;
  auto e = router_.Exact(probe.RoutePath());
  if (!e) return Status::InvalidRequest("no mount entry found at " + path);
  int64_t sys_max = opts_.max_lease_ttl;
  int64_t max_ttl = config.max_lease_ttl ? config.max_lease_ttl : sys_max;
  if (config.max_lease_ttl > sys_max)
    return Status::InvalidRequest("tuned value of max_lease_ttl exceeds system max lease TTL");
  if (config.default_lease_ttl && config.default_lease_ttl > max_ttl)
    return Status::InvalidRequest("default lease TTL cannot be greater than max lease TTL");
  MountEntry copy = *e;
  copy.config = config;
  if (description) copy.description = *description;
  if (options) {
    if (!copy.options.is_object()) copy.options = json::object();
    for (auto& [k, v] : options->items()) {
      if (k == "version" && copy.type == "kv" && copy.options.value("version", "1") == "2" && v == "1")
        return Status::InvalidRequest("cannot downgrade mount from version 2");
      copy.options[k] = v;
    }
    bool version_changed = copy.options != e->options;
    if (version_changed && copy.type == "kv") {
      // A KV version change needs a new backend instance over the same storage.
      e->backend->Cleanup();
      RETURN_IF_ERROR(SetupMount(&copy));
    }
  }
  router_.Put(std::make_shared<const MountEntry>(std::move(copy)));
  return PersistMountTable(table);
}

std::vector<std::shared_ptr<const MountEntry>> Core::Mounts(TableKind table) const {
  std::vector<std::shared_ptr<const MountEntry>> out;
  for (auto& e : router_.All())
    if (e->table == table) out.push_back(e);
  return out;
}

// ---------------------------------------------------------------------------------------
// Tokens minted by logins

Status Core::MintToken(logical::Auth* auth, const std::string& path, const logical::Request& req) {
  token::TokenEntry te;
  // Same normalisation as auth/token/create: trimmed, lower-cased, sorted, "default" added.
  std::vector<std::string> policies = token::SanitizePolicies(auth->policies, !auth->no_default_policy);
  te.policies = policies;
  te.meta = auth->metadata;
  te.display_name = auth->display_name;
  te.path = path;
  te.entity_id = auth->entity_id;
  te.type = auth->token_type.empty() ? "service" : auth->token_type;
  te.num_uses = auth->num_uses;
  te.period = auth->period;
  te.explicit_max_ttl = auth->explicit_max_ttl;
  te.renewable = auth->renewable;
  te.bound_cidrs = auth->bound_cidrs;
  te.internal = auth->internal_data;
  int64_t max_ttl = req.mount_max_ttl ? req.mount_max_ttl : opts_.max_lease_ttl;
  if (auth->max_ttl && auth->max_ttl < max_ttl) max_ttl = auth->max_ttl;
  int64_t ttl = auth->ttl ? auth->ttl : (req.mount_default_ttl ? req.mount_default_ttl : opts_.default_lease_ttl);
  if (auth->period) ttl = auth->period;
  else if (ttl > max_ttl) ttl = max_ttl;
  if (auth->explicit_max_ttl && ttl > auth->explicit_max_ttl) ttl = auth->explicit_max_ttl;
  te.ttl = ttl;
  RETURN_IF_ERROR(tokens_->Create(&te));
  auth->client_token = te.id;
  auth->accessor = te.accessor;
  auth->policies = policies;
  auth->token_policies = policies;
  auth->lease_duration = ttl;
  auth->token_type = te.type;
  auth->orphan = true;
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------
// Background work

void Core::PeriodicLoop() {
  std::unique_lock lock(periodic_mu_);
  while (!stopping_) {
    periodic_cv_.wait_for(lock, std::chrono::seconds(60));
    if (stopping_) break;
    lock.unlock();
    {
      std::shared_lock state(state_mu_);
      if (!sealed_) {
        for (auto& e : router_.All())
          if (e->backend) e->backend->Periodic();
      }
    }
    lock.lock();
  }
}

}  // namespace tresor::core
