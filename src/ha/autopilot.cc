// Autopilot on the active node: sys/storage/raft/autopilot/{configuration,state}, server
// health from the leader's replication progress, and dead-server cleanup.
//
// Health is derived from what the raft leader sees, not from standby heartbeats as in
// Vault: a follower's last contact is the time since it last acknowledged the leader's log
// (RaftNode::PeerContacts; an idle leader appends a barrier every second so that this
// stays meaningful without writes). A follower is healthy when that contact is within
// last_contact_threshold, it trails the leader by at most max_trailing_logs entries, and it
// is not dead. With cleanup_dead_servers, a server whose contact exceeds
// dead_server_last_contact_threshold is reported "left" and removed (RaftNode::RemovePeer)
// by the rules of hashicorp/raft-autopilot: dead non-voters first, then dead voters one at
// a time while the voters left stay >= min_quorum and at most (voters-1)/2 are removed.
#include <algorithm>
#include <set>

#include "common/duration.h"
#include "common/log.h"
#include "common/version.h"
#include "core/envelope.h"
#include "framework/field.h"
#include "ha/ha_util.h"
#include "ha/raft_ha.h"
#include "http/json_body.h"

namespace tresor::ha {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

constexpr const char* kAutopilotKey = "core/raft/autopilot/configuration";

// Go's time.Duration.String() for a count of milliseconds ("0s", "516ms", "1m1.5s").
std::string GoDurationMs(int64_t ms) {
  if (ms <= 0) return "0s";
  if (ms < 1000) return std::to_string(ms) + "ms";
  int64_t h = ms / 3600000, m = (ms / 60000) % 60, s = (ms / 1000) % 60, frac = ms % 1000;
  std::string out;
  if (h > 0) out += std::to_string(h) + "h";
  if (h > 0 || m > 0) out += std::to_string(m) + "m";
  out += std::to_string(s);
  if (frac) {
    char b[8];
    std::snprintf(b, sizeof b, ".%03lld", static_cast<long long>(frac));
    std::string f(b);
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "s";
}

// Go's %#v of an unsigned integer (Vault's min_quorum error prints it this way).
std::string GoHex(int64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

std::string Shown(const json& raw) { return raw.is_string() ? raw.get<std::string>() : raw.dump(); }

// Vault's framework message for an input that does not convert to the field's type.
Status FieldError(const std::string& name, const json& raw, const std::string& why) {
  return Status::InvalidRequest("Field validation failed: error converting input " + Shown(raw) + " for field \"" +
                                name + "\": " + why);
}

enum class Kind { kBool, kDuration, kInt };

struct FieldDef {
  const char* name;
  Kind kind;
};

constexpr FieldDef kFields[] = {
    {"cleanup_dead_servers", Kind::kBool},       {"last_contact_threshold", Kind::kDuration},
    {"dead_server_last_contact_threshold", Kind::kDuration}, {"max_trailing_logs", Kind::kInt},
    {"min_quorum", Kind::kInt},                   {"server_stabilization_time", Kind::kDuration},
    {"disable_upgrade_migration", Kind::kBool},
};

// Converts one input value (JSON number, bool or string, as the CLI and hvac send them).
Result<json> ConvertValue(const FieldDef& f, const json& raw) {
  using framework::FieldType;
  switch (f.kind) {
    case Kind::kBool: {
      auto v = framework::ConvertField(FieldType::kBool, raw);
      if (!v.ok()) return FieldError(f.name, raw, "strconv.ParseBool: parsing \"" + Shown(raw) + "\": invalid syntax");
      return *v;
    }
    case Kind::kDuration: {
      auto v = framework::ConvertField(FieldType::kDurationSecond, raw);
      if (!v.ok()) return FieldError(f.name, raw, "time: invalid duration \"" + Shown(raw) + "\"");
      return *v;
    }
    case Kind::kInt: {
      auto v = framework::ConvertField(FieldType::kInt, raw);
      if (!v.ok())
        return FieldError(f.name, raw,
                          "cannot parse '" + Shown(raw) + "' as int: strconv.ParseInt: parsing \"" + Shown(raw) +
                              "\": invalid syntax");
      if (v->get<int64_t>() < 0) return FieldError(f.name, raw, "value must not be negative");
      return *v;
    }
  }
  return Status::Internal("unknown field kind");
}

void Apply(AutopilotConfig* c, const std::string& name, const json& v) {
  if (name == "cleanup_dead_servers") c->cleanup_dead_servers = v.get<bool>();
  else if (name == "last_contact_threshold") c->last_contact_threshold = v.get<int64_t>();
  else if (name == "dead_server_last_contact_threshold") c->dead_server_last_contact_threshold = v.get<int64_t>();
  else if (name == "max_trailing_logs") c->max_trailing_logs = v.get<int64_t>();
  else if (name == "min_quorum") c->min_quorum = v.get<int64_t>();
  else if (name == "server_stabilization_time") c->server_stabilization_time = v.get<int64_t>();
  else if (name == "disable_upgrade_migration") c->disable_upgrade_migration = v.get<bool>();
}

// The stored object holds only the fields an operator set (as Vault persists them).
Result<json> LoadStored(raft::RaftStorage* storage) {
  ASSIGN_OR_RETURN(auto raw, storage->Get(kAutopilotKey));
  json stored = json::object();
  if (raw) {
    json j = json::parse(*raw, nullptr, false);
    if (j.is_object()) stored = std::move(j);
  }
  return stored;
}

}  // namespace

Result<AutopilotConfig> RaftHa::LoadAutopilotConfig() {
  ASSIGN_OR_RETURN(json stored, LoadStored(storage_));
  AutopilotConfig c;
  for (const auto& f : kFields) {
    if (!stored.contains(f.name)) continue;
    auto v = ConvertValue(f, stored[f.name]);  // older versions stored Go duration strings
    if (v.ok()) Apply(&c, f.name, *v);
  }
  return c;
}

http::HttpResponse RaftHa::HandleAutopilotConfig(http::HttpRequest& req) {
  if (req.method == "GET") {
    auto c = LoadAutopilotConfig();
    if (!c.ok()) return core::ErrorResponse(c.status());
    ojson j;
    j["cleanup_dead_servers"] = c->cleanup_dead_servers;
    j["last_contact_threshold"] = GoDurationString(c->last_contact_threshold);
    j["dead_server_last_contact_threshold"] = GoDurationString(c->dead_server_last_contact_threshold);
    j["max_trailing_logs"] = c->max_trailing_logs;
    j["min_quorum"] = c->min_quorum;
    j["server_stabilization_time"] = GoDurationString(c->server_stabilization_time);
    j["disable_upgrade_migration"] = c->disable_upgrade_migration;
    return DataEnvelope(j);
  }
  if (!IsWrite(req.method)) return core::JsonResponse(405, {{"errors", json::array()}});
  auto body = http::ParseJsonBody(req.body, 64);
  if (!body.ok()) return core::ErrorResponse(body.status());
  auto stored = LoadStored(storage_);
  if (!stored.ok()) return core::ErrorResponse(stored.status());
  bool persist = false;
  if (body->is_object()) {
    for (const auto& f : kFields) {
      auto it = body->find(f.name);
      if (it == body->end() || it->is_null()) continue;
      auto v = ConvertValue(f, *it);
      if (!v.ok()) return core::ErrorResponse(v.status());
      (*stored)[f.name] = *v;
      persist = true;
    }
  }
  AutopilotConfig eff;
  for (const auto& f : kFields)
    if (stored->contains(f.name)) {
      auto v = ConvertValue(f, (*stored)[f.name]);
      if (v.ok()) Apply(&eff, f.name, *v);
    }
  if (eff.cleanup_dead_servers && eff.min_quorum < 3) {
    return core::ErrorResponse(Status::InvalidRequest(
        "min_quorum must be set when cleanup_dead_servers is set and it should at least be 3; "
        "cleanup_dead_servers: true, min_quorum: " +
        GoHex(eff.min_quorum)));
  }
  if (persist) {
    Status st = storage_->Put(kAutopilotKey, stored->dump());
    if (!st.ok()) return core::ErrorResponse(st);
    LOG_INFO("ha: autopilot configuration updated: {}", stored->dump());
  }
  return NoContent();
}

ojson RaftHa::AutopilotState(const AutopilotConfig& cfg) {
  auto conf = node_->Configuration();
  if (!conf.ok()) return nullptr;
  std::map<uint64_t, raft::PeerContact> contacts;
  for (auto& c : node_->PeerContacts()) contacts[c.raft_id] = c;
  raft::RaftStatus rs = node_->GetStatus();
  auto now = std::chrono::system_clock::now();
  ojson servers = ojson::object();
  json voters = json::array(), non_voters = json::array();
  std::string leader;
  int healthy_voters = 0;
  bool all_healthy = true;
  std::lock_guard lock(ap_mu_);
  std::set<std::string> seen;
  for (auto& s : conf->servers) {
    bool self = s.raft_id == node_->raft_id();
    auto it = contacts.find(s.raft_id);
    bool known = self || it != contacts.end();
    int64_t contact_ms = self || !known ? 0 : it->second.last_contact_ms;
    uint64_t last_index = self ? rs.last_index : (known ? it->second.match_index : 0);
    bool dead = !self && known && cfg.cleanup_dead_servers &&
                contact_ms > cfg.dead_server_last_contact_threshold * 1000;
    bool healthy = self || (known && !dead && contact_ms <= cfg.last_contact_threshold * 1000 &&
                            last_index + static_cast<uint64_t>(cfg.max_trailing_logs) >= rs.last_index);
    auto& h = health_[s.node_id];
    if (h.second == std::chrono::system_clock::time_point{} || h.first != healthy) h = {healthy, now};
    seen.insert(s.node_id);
    ojson o;
    o["id"] = s.node_id;
    o["name"] = s.node_id;
    o["address"] = s.address;
    o["node_status"] = dead ? "left" : "alive";
    o["last_contact"] = GoDurationMs(contact_ms);
    o["last_term"] = rs.term;
    o["last_index"] = last_index;
    o["healthy"] = healthy;
    o["stable_since"] = FormatRFC3339Nano(h.second);
    o["status"] = s.leader ? "leader" : (s.voter ? "voter" : "non-voter");
    o["version"] = kVaultApiVersion;
    o["node_type"] = "voter";
    servers[s.node_id] = o;
    if (s.leader) leader = s.node_id;
    (s.voter ? voters : non_voters).push_back(s.node_id);
    if (s.voter && healthy) healthy_voters++;
    all_healthy = all_healthy && healthy;
  }
  for (auto it = health_.begin(); it != health_.end();) it = seen.count(it->first) ? std::next(it) : health_.erase(it);
  int quorum = static_cast<int>(voters.size()) / 2 + 1;
  ojson j;
  j["healthy"] = all_healthy;
  j["failure_tolerance"] = std::max(0, healthy_voters - quorum);
  j["servers"] = servers;
  j["leader"] = leader;
  j["voters"] = voters;
  if (!non_voters.empty()) j["non_voters"] = non_voters;
  return j;
}

http::HttpResponse RaftHa::HandleAutopilotState() {
  auto cfg = LoadAutopilotConfig();
  if (!cfg.ok()) return core::ErrorResponse(cfg.status());
  ojson st = AutopilotState(*cfg);
  if (st.is_null()) return core::ErrorResponse(Status::Unavailable("raft configuration unavailable"));
  return DataEnvelope(st);
}

void RaftHa::PruneDeadServers(const AutopilotConfig& cfg, const ojson& state) {
  if (!cfg.cleanup_dead_servers || !state.is_object()) return;
  std::vector<std::string> dead_voters, dead_non_voters;
  int voters = 0;
  for (auto& [id, s] : state["servers"].items()) {
    bool voter = s["status"] != "non-voter";
    voters += voter ? 1 : 0;
    if (s["node_status"] == "left") (voter ? dead_voters : dead_non_voters).push_back(id);
  }
  for (auto& id : dead_non_voters) {
    LOG_INFO("ha: autopilot: removing dead non-voter {}", id);
    {
      std::lock_guard lock(ap_mu_);
      removing_.insert(id);
    }
    Status st = node_->RemovePeer(id);
    {
      std::lock_guard lock(ap_mu_);
      removing_.erase(id);
    }
    if (!st.ok()) LOG_WARN("ha: autopilot: removing {} failed: {}", id, st.message());
  }
  int max_removal = (voters - 1) / 2;
  for (auto& id : dead_voters) {
    if (voters - 1 < cfg.min_quorum) {
      LOG_DEBUG("ha: autopilot: not removing dead server {}: fewer voters than min_quorum would remain", id);
      continue;
    }
    if (max_removal < 1) {
      LOG_DEBUG("ha: autopilot: not removing dead server {}: removing a majority is not safe", id);
      continue;
    }
    LOG_INFO("ha: autopilot: removing dead server {} (no contact for longer than {})", id,
             GoDurationString(cfg.dead_server_last_contact_threshold));
    {
      std::lock_guard lock(ap_mu_);
      removing_.insert(id);
    }
    Status st = node_->RemovePeer(id);
    {
      std::lock_guard lock(ap_mu_);
      removing_.erase(id);
    }
    if (!st.ok()) {
      LOG_WARN("ha: autopilot: removing {} failed: {}", id, st.message());
      continue;
    }
    voters--;
    max_removal--;
  }
}

void RaftHa::PromoteStableNonVoters(const AutopilotConfig& cfg, const ojson& state) {
  if (!state.is_object()) return;
  auto conf = node_->Configuration();
  if (!conf.ok()) return;
  auto now = std::chrono::system_clock::now();
  for (const auto& srv : conf->servers) {
    if (srv.voter || srv.raft_id == node_->raft_id()) continue;
    auto it = state["servers"].find(srv.node_id);
    if (it == state["servers"].end() || !(*it)["healthy"].get<bool>() || (*it)["node_status"] != "alive") continue;
    std::chrono::system_clock::time_point since;
    {
      std::lock_guard lock(ap_mu_);
      auto h = health_.find(srv.node_id);
      if (h == health_.end() || !h->second.first || removing_.count(srv.node_id)) continue;
      since = h->second.second;
    }
    if (now - since < std::chrono::seconds(cfg.server_stabilization_time)) continue;
    auto rec = node_->fsm()->Node(srv.raft_id);
    if (!rec || rec->removed) continue;  // being removed, or not registered (yet)
    Status st = node_->PromoteToVoter(srv.node_id);
    if (st.ok())
      LOG_INFO("ha: autopilot: promoted {} to voter (stable for {})", srv.node_id,
               GoDurationString(cfg.server_stabilization_time));
    else
      LOG_WARN("ha: autopilot: promoting {} failed: {}", srv.node_id, st.message());
  }
}

void RaftHa::AutopilotLoop() {
  for (;;) {
    {
      std::unique_lock lock(stop_mu_);
      if (stop_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) return;
    }
    CheckRemovedWhileDown();
    if (core_->Sealed()) warmed_for_.clear();  // sealing dropped every cluster connection
    else if (!IsActive()) {
      WarmForwarding();
      SendEcho();
    }
    if (!IsActive() || core_->Sealed()) {
      if (was_active_) {
        std::lock_guard lock(ap_mu_);
        health_.clear();
        auto_status_.clear();
        echoes_.clear();
      }
      was_active_ = false;
      continue;
    }
    was_active_ = true;
    auto cfg = LoadAutopilotConfig();
    if (cfg.ok()) {
      ojson state = AutopilotState(*cfg);
      PruneDeadServers(*cfg, state);
      PromoteStableNonVoters(*cfg, state);
    }
    RunScheduledSnapshots();
  }
}

}  // namespace tresor::ha
