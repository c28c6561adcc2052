// HaHook: what Core needs from a high-availability storage layer (raft). Core knows only
// this interface; the raft wiring (src/ha) implements it. Without a hook Core is a single,
// always-active node.
//
// Ownership: not owned by Core; the server keeps it alive longer than any request.
// Threading: every method may be called concurrently from HTTP worker threads; none of
// them may be called with Core's state lock held unless stated.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "http/http_types.h"
#include "storage/storage.h"

namespace tresor::core {

struct HaLeader {
  bool known = false;    // an active node is known
  bool is_self = false;  // this node is the active one
  std::string leader_address;          // api_addr of the active node
  std::string leader_cluster_address;  // cluster_addr of the active node
  std::chrono::system_clock::time_point active_time{};
  uint64_t raft_committed_index = 0;
  uint64_t raft_applied_index = 0;
};

// One entry of sys/ha-status's `nodes` (Vault's HAStatusNode): the active node has no
// last_echo. Used by Core's single-node answer and by the raft HA layer's.
nlohmann::ordered_json HaStatusNode(const std::string& hostname, const std::string& api_address,
                                    const std::string& cluster_address, bool active,
                                    const std::optional<std::string>& last_echo);
// This machine's host name ("" if unknown), as sys/ha-status reports it.
std::string LocalHostname();

class HaHook {
 public:
  virtual ~HaHook() = default;
  // This node is the active one (may serve logical requests itself).
  virtual bool IsActive() = 0;
  virtual HaLeader Leader() = 0;
  // Before sys/init writes anything: make this node writable (raft: bootstrap a
  // single-node cluster and wait for leadership). Called with Core's state lock held.
  virtual Status PrepareInit() = 0;
  // Endpoints the HA layer owns (sys/storage/raft/..., sys/step-down, sys/ha-status).
  // nullopt: not an HA path.
  virtual std::optional<http::HttpResponse> HandleRaw(const std::string& path, http::HttpRequest& req) = 0;
  // Relays a request to the active node and returns its answer unchanged (or a 307 to it
  // when relaying fails).
  virtual http::HttpResponse Forward(const http::HttpRequest& req) = 0;
  // Join mode: the seal has recovered the unseal key from the shares; answer the leader's
  // challenge. An error means the shares were wrong or the leader refused. Called with
  // Core's state lock held.
  virtual Status OnJoinKeyRecovered() = 0;
  // sys/init, while the barrier is briefly unsealed: create what the HA layer keeps in the
  // barrier (raft: the cluster TLS keyring). Called with Core's state lock held.
  virtual Status OnInit(Storage* barrier) {
    (void)barrier;
    return Status::Ok();
  }
  // The node was unsealed (or reloaded as active): `barrier` is readable. Called with Core's
  // state lock held; must not call back into Core.
  virtual void OnUnsealed(Storage* barrier) { (void)barrier; }
  // The node is being sealed. Called with Core's state lock held.
  virtual void OnSealed() {}
};

}  // namespace tresor::core
