// Core: the one pipeline every request goes through, and the state it guards.
//
//   sealed? → standby? → token → ACL → router (longest mount prefix) → backend → auth/lease
//
// Core owns the seal state (seal + barrier over the physical storage), the mount tables
// and router, the token store and the access control. It is created once per process by
// the server and lives until shutdown. HandleHttp is called concurrently from the HTTP
// worker pool; Seal/Unseal transitions take an exclusive lock that waits for in-flight
// requests (state_mu_), so no request ever sees a half-unsealed core.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "auth/token/token_store.h"
#include "core/access.h"
#include "core/ha.h"
#include "core/mount_table.h"
#include "core/router.h"
#include "framework/backend.h"
#include "http/http_types.h"
#include "storage/storage.h"

namespace tresor::barrier {
class Barrier;
}
namespace tresor::seal {
class ShamirSeal;
}
namespace tresor::acl {
class PolicyStore;
}

namespace tresor::core {

struct CoreOptions {
  int64_t default_lease_ttl = 768 * 3600;
  int64_t max_lease_ttl = 768 * 3600;
  std::string cluster_name;  // empty: generated at init
  std::string api_addr;
  std::string cluster_addr;
  std::string storage_type = "inmem";
  int max_json_depth = 300;
};

struct InitResult {
  std::vector<std::string> shares;  // raw share bytes; the caller encodes them
  std::string root_token;
};

// What sys/seal-status reports.
struct SealStatus {
  std::string type = "shamir";
  bool initialized = false;
  bool sealed = true;
  int threshold = 0;
  int shares = 0;
  int progress = 0;
  std::string nonce;
  std::string cluster_name;
  std::string cluster_id;
};

class Core {
 public:
  Core(std::unique_ptr<Storage> physical, CoreOptions opts, std::shared_ptr<framework::Registry> registry);
  ~Core();

  // Entry point for every API request (runs on an HTTP worker thread).
  http::HttpResponse HandleHttp(http::HttpRequest& req);

  // Seal lifecycle.
  Result<bool> Initialized();
  Result<InitResult> Initialize(int shares, int threshold);
  // Submits one unseal key (hex or base64 text). Returns the status after it.
  Result<SealStatus> SubmitUnsealKey(const std::string& key);
  Status ResetUnseal();
  Status Seal();
  Result<SealStatus> GetSealStatus();
  bool Sealed() const { return sealed_.load(); }

  // Dev mode: initialise with one share, unseal, mount secret/ as kv v2, and use
  // `root_token` as the root token id if non-empty.
  Result<InitResult> DevInitialize(const std::string& root_token);

  // Mount management (used by the sys backend).
  Status Mount(TableKind table, MountEntry entry);
  Status Unmount(TableKind table, const std::string& path);
  Status Remount(const std::string& from, const std::string& to);
  Status Tune(TableKind table, const std::string& path, const MountConfig& config,
              const std::optional<std::string>& description, const std::optional<nlohmann::json>& options);
  std::vector<std::shared_ptr<const MountEntry>> Mounts(TableKind table) const;
  std::shared_ptr<const MountEntry> MountFor(const std::string& api_path) const { return router_.Match(api_path); }

  token::TokenStore* token_store() { return tokens_.get(); }
  AccessControl* access() { return access_.get(); }
  void SetAccessControl(std::unique_ptr<AccessControl> ac) { access_ = std::move(ac); }
  // The ACL policy store (installed as access() by the constructor); sys/policy uses it.
  acl::PolicyStore* policy_store() { return policy_store_; }
  barrier::Barrier* barrier() { return barrier_.get(); }
  Storage* physical() { return physical_.get(); }
  const CoreOptions& options() const { return opts_; }
  std::chrono::system_clock::time_point active_since() const { return active_since_; }

  // Resolves a client token to its entry; nullopt if missing/expired/revoked.
  Result<std::optional<token::TokenEntry>> LookupToken(const std::string& id) { return tokens_->Lookup(id); }
  // Mints a token for a login response and fills auth->client_token/accessor/lease_duration.
  Status MintToken(logical::Auth* auth, const std::string& path, const logical::Request& req);

  // HA (raft): see core/ha.h. Set once by the server before serving requests.
  void SetHa(HaHook* ha) { ha_ = ha; }
  HaHook* ha() const { return ha_; }
  seal::ShamirSeal* seal() { return seal_.get(); }
  // The node became active while unsealed: reload keyring, mounts, policies and tokens
  // from storage (a standby's copies may be stale).
  Status ReloadActive();
  // Ok if the request's token may use `path` with sudo (root-protected raw endpoints), for
  // the operation its method asks for (a read+sudo policy serves a GET).
  Status AuthorizeSudo(const http::HttpRequest& req, const std::string& path);
  // The logical operation an HTTP method asks for, as Vault maps it (GET → read, or list
  // with ?list=true; LIST → list; PUT/POST → update; ...); nullopt for other methods.
  static std::optional<logical::Operation> OperationFor(const http::HttpRequest& req);
  // The path a request's ACL check and routing use: a listing's ends in '/', as in Vault.
  static std::string RequestPath(logical::Operation op, std::string path);

  int64_t SystemDefaultTTL() const { return opts_.default_lease_ttl; }
  int64_t SystemMaxTTL() const { return opts_.max_lease_ttl; }

 private:
  class MountSystemView;

  // Raw (non-logical) sys handlers: flat JSON, reachable while sealed.
  std::optional<http::HttpResponse> HandleRaw(const std::string& path, http::HttpRequest& req);
  http::HttpResponse HandleLogical(const std::string& path, http::HttpRequest& req);
  http::HttpResponse SealStatusResponse();
  http::HttpResponse HandleInit(http::HttpRequest& req);
  http::HttpResponse HandleUnseal(http::HttpRequest& req);
  http::HttpResponse HandleHealth(http::HttpRequest& req);
  http::HttpResponse HandleLeader(http::HttpRequest& req);
  http::HttpResponse HandleSeal(http::HttpRequest& req);

  // Unseal/seal transitions (state_mu_ held exclusively).
  Status PostUnseal();
  void PreSeal();
  Status LoadMountTable(TableKind table);
  Status PersistMountTable(TableKind table);
  Status SetupMount(MountEntry* e);
  Status SetupDefaultMounts();

  void PeriodicLoop();

  std::unique_ptr<Storage> physical_;
  CoreOptions opts_;
  HaHook* ha_ = nullptr;  // not owned
  std::shared_ptr<framework::Registry> registry_;

  std::unique_ptr<barrier::Barrier> barrier_;
  std::unique_ptr<seal::ShamirSeal> seal_;
  std::unique_ptr<StorageView> token_view_;
  std::unique_ptr<token::TokenStore> tokens_;
  std::unique_ptr<StorageView> policy_view_;
  std::unique_ptr<AccessControl> access_;
  acl::PolicyStore* policy_store_ = nullptr;  // owned by access_
  Router router_;

  // Guards the sealed/unsealed transition against in-flight requests.
  mutable std::shared_mutex state_mu_;
  std::atomic<bool> sealed_{true};
  std::mutex mounts_mu_;  // serialises mount-table changes
  std::string cluster_name_, cluster_id_;  // guarded by state_mu_
  std::chrono::system_clock::time_point active_since_{};

  std::mutex periodic_mu_;
  std::condition_variable periodic_cv_;
  bool stopping_ = false;
  std::thread periodic_;
};

}  // namespace tresor::core
