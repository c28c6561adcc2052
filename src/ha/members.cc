// Who is in the HA cluster right now: standbys' echoes and sys/ha-status (Vault's
// `operator members`).

#include <algorithm>

#include "common/duration.h"
#include "common/json.h"
#include "common/log.h"
#include "core/envelope.h"
#include "ha/ha_util.h"
#include "ha/raft_ha.h"
#include "http/json_body.h"

namespace tresor::ha {

void RaftHa::SendEcho() {
  if (!port_ || core_->Sealed() || node_->IsRemoved()) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_echo_sent_ < kEchoInterval) return;
  auto rec = CurrentLeaderRecord();
  if (!rec || rec->cluster_addr.empty() || rec->node_id == node_->node_id()) return;
  last_echo_sent_ = now;
  http::HttpRequest req;
  req.method = "POST";
  req.target = req.path = std::string(kEchoPath);
  req.headers["content-type"] = "application/json";
  // DumpJson: never throws, whatever bytes the host name or configured addresses hold.
  req.body = DumpJson(nlohmann::json{{"node_id", node_->node_id()},
                                     {"hostname", core::LocalHostname()},
                                     {"api_addr", opts_.api_addr},
                                     {"cluster_addr", opts_.cluster_addr}});
  auto r = port_->Forward(HostPort(rec->cluster_addr), req);
  if (!r.ok() || r->status != 204)
    LOG_DEBUG("ha: echo to the active node at {} failed: {}", rec->cluster_addr,
              r.ok() ? "status " + std::to_string(r->status) : r.status().message());
}

http::HttpResponse RaftHa::HandleEcho(http::HttpRequest& req) {
  if (!IsWrite(req.method)) return core::JsonResponse(405, {{"errors", nlohmann::json::array()}});
  if (core_->Sealed()) return core::ErrorResponse(Status::Sealed());
  if (!IsActive()) return core::ErrorResponse(Status::Standby());
  auto body = http::ParseJsonBody(req.body, 8);
  if (!body.ok()) return core::ErrorResponse(body.status());
  auto str = [&](const char* k) {
    auto it = body->find(k);
    return it != body->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string id = str("node_id");
  auto cfg = node_->Configuration();
  if (!cfg.ok()) return core::ErrorResponse(cfg.status());
  if (id.empty() || std::none_of(cfg->servers.begin(), cfg->servers.end(),
                                 [&](const raft::RaftServer& s) { return s.node_id == id; }))
    return core::ErrorResponse(Status::InvalidRequest("not a member of this raft cluster"));
  std::lock_guard lock(ap_mu_);
  echoes_[id] = Echo{str("hostname"), str("api_addr"), str("cluster_addr"), std::chrono::system_clock::now()};
  return NoContent();
}

http::HttpResponse RaftHa::HandleHaStatus() {
  auto cfg = node_->Configuration();
  if (!cfg.ok()) return core::ErrorResponse(cfg.status());
  nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
  nodes.push_back(core::HaStatusNode(core::LocalHostname(), opts_.api_addr, opts_.cluster_addr, true, std::nullopt));
  const auto now = std::chrono::system_clock::now();
  std::lock_guard lock(ap_mu_);
  for (const auto& s : cfg->servers) {
    auto it = echoes_.find(s.node_id);
    if (s.node_id == node_->node_id() || it == echoes_.end() || now - it->second.at > kEchoExpiry) continue;
    const Echo& e = it->second;
    nodes.push_back(core::HaStatusNode(e.hostname, e.api_addr, e.cluster_addr, false, FormatRFC3339Nano(e.at)));
  }
  logical::Response resp;  // rendered by core: sys/ha-status is a data-injection path
  resp.data = {{"nodes", std::move(nodes)}};
  return core::RenderLogical(&resp, logical::Operation::kRead, "sys/ha-status", NewUUID());
}

}  // namespace tresor::ha
