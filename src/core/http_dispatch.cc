// Core's HTTP edge: raw sys handlers (flat JSON, reachable while sealed) and the logical
// request pipeline. See core.h for the order of checks.
#include <algorithm>

#include "barrier/barrier.h"
#include "common/duration.h"
#include "common/encoding.h"
#include "common/log.h"
#include "common/random.h"
#include "common/strings.h"
#include "common/version.h"
#include "core/core.h"
#include "core/envelope.h"
#include "core/wrapping.h"
#include "http/json_body.h"
#include "seal/shamir_seal.h"

namespace tresor::core {

using logical::Operation;
using nlohmann::json;

namespace {

std::string ClientToken(const http::HttpRequest& req) {
  std::string t = req.Header("x-vault-token");
  if (!t.empty()) return t;
  std::string auth = req.Header("authorization");
  if (auth.rfind("Bearer ", 0) == 0) return std::string(TrimSpace(auth.substr(7)));
  return "";
}

std::optional<bool> ParseGoBool(const std::string& s) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False") return false;
  return std::nullopt;
}

http::HttpResponse MethodNotAllowed() { return JsonResponse(405, {{"errors", json::array()}}); }

// Case-insensitive lookup of a body field (Vault's unseal struct has no JSON tags).
const json* FieldCI(const json& body, const std::string& name) {
  if (!body.is_object()) return nullptr;
  for (auto it = body.begin(); it != body.end(); ++it)
    if (ToLower(it.key()) == name) return &it.value();
  return nullptr;
}

}  // namespace

http::HttpResponse Core::HandleHttp(http::HttpRequest& req) {
  const std::string& path = req.path;
  if (path.rfind("/v1/", 0) != 0) {
    return JsonResponse(404, {{"errors", json::array()}});
  }
  // Unclean paths ("//", "/./", "..") were already redirected by the HTTP layer.
  std::string rel = path.substr(4);
  if (auto raw = HandleRaw(rel, req)) return std::move(*raw);
  return HandleLogical(rel, req);
}

std::optional<http::HttpResponse> Core::HandleRaw(const std::string& path, http::HttpRequest& req) {
  const std::string& m = req.method;
  if (ha_ && (path.rfind("sys/storage/raft/", 0) == 0 || path == "sys/step-down" || path == "sys/ha-status")) {
    if (auto r = ha_->HandleRaw(path, req)) return r;
  }
  if (path == "sys/seal-status") {
    if (m != "GET") return MethodNotAllowed();
    return SealStatusResponse();
  }
  if (path == "sys/init") {
    if (m == "GET") {
      auto inited = Initialized();
      if (!inited.ok()) return ErrorResponse(inited.status());
      return JsonResponse(200, {{"initialized", *inited}});
    }
    if (m == "PUT" || m == "POST") return HandleInit(req);
    return MethodNotAllowed();
  }
  if (path == "sys/unseal") {
    if (m != "PUT" && m != "POST") return MethodNotAllowed();
    return HandleUnseal(req);
  }
  if (path == "sys/health") {
    if (m != "GET" && m != "HEAD") return MethodNotAllowed();
    return HandleHealth(req);
  }
  if (path == "sys/leader") {
    if (m != "GET") return MethodNotAllowed();
    return HandleLeader(req);
  }
  if (path == "sys/seal") {
    if (m != "PUT" && m != "POST") return MethodNotAllowed();
    return HandleSeal(req);
  }
  if (path == "sys/ha-status") {  // here only without an HA layer: this node is all there is
    if (m != "GET") return MethodNotAllowed();
    if (Sealed()) return ErrorResponse(Status::Sealed());
    Status auth = AuthorizeSudo(req, path);
    if (!auth.ok()) return ErrorResponse(auth);
    logical::Response resp;
    resp.data = {{"nodes", nlohmann::json::array({HaStatusNode(LocalHostname(), opts_.api_addr, opts_.cluster_addr,
                                                                 true, std::nullopt)})}};
    return RenderLogical(&resp, logical::Operation::kRead, path, NewUUID());
  }
  return std::nullopt;
}

http::HttpResponse Core::SealStatusResponse() {
  auto st = GetSealStatus();
  if (!st.ok()) return ErrorResponse(st.status());
  nlohmann::ordered_json j;
  j["type"] = st->type;
  j["initialized"] = st->initialized;
  j["sealed"] = st->sealed;
  j["t"] = st->threshold;
  j["n"] = st->shares;
  j["progress"] = st->progress;
  j["nonce"] = st->nonce;
  j["version"] = kVaultApiVersion;
  j["build_date"] = kBuildDate;
  j["migration"] = false;
  if (!st->sealed) {
    j["cluster_name"] = st->cluster_name;
    j["cluster_id"] = st->cluster_id;
  }
  j["recovery_seal"] = false;
  j["storage_type"] = opts_.storage_type;
  http::HttpResponse r;
  r.body = j.dump();
  return r;
}

http::HttpResponse Core::HandleInit(http::HttpRequest& req) {
  auto body = http::ParseJsonBody(req.body, opts_.max_json_depth);
  if (!body.ok()) return ErrorResponse(body.status());
  const json& b = *body;
  auto int_field = [&](const char* name) -> std::optional<int64_t> {
    auto it = b.find(name);
    if (it == b.end() || it->is_null()) return 0;
    if (it->is_number_integer()) return it->get<int64_t>();
    if (it->is_string()) {
      try {
        return std::stoll(it->get<std::string>());
      } catch (...) {
      }
    }
    return std::nullopt;
  };
  auto shares = int_field("secret_shares"), threshold = int_field("secret_threshold");
  auto rshares = int_field("recovery_shares"), rthreshold = int_field("recovery_threshold");
  if (!shares || !threshold || !rshares || !rthreshold)
    return ErrorResponse(Status::InvalidRequest("failed to parse JSON input: invalid number"));
  if (*rshares != 0 || *rthreshold != 0 || (b.contains("recovery_pgp_keys") && !b["recovery_pgp_keys"].is_null() &&
                                            !b["recovery_pgp_keys"].empty()))
    return ErrorResponse(Status::InvalidRequest("parameters specific to auto unseal seals present"));
  if (b.contains("pgp_keys") && b["pgp_keys"].is_array() && !b["pgp_keys"].empty())
    return ErrorResponse(Status::InvalidRequest("PGP-encrypted unseal keys are not supported by this server"));
  auto res = Initialize(int(*shares), int(*threshold));
  if (!res.ok()) return ErrorResponse(res.status());
  json keys = json::array(), keys_b64 = json::array();
  for (auto& s : res->shares) {
    keys.push_back(HexEncode(s));
    keys_b64.push_back(Base64Encode(s));
  }
  nlohmann::ordered_json out;
  out["keys"] = keys;
  out["keys_base64"] = keys_b64;
  out["root_token"] = res->root_token;
  http::HttpResponse r;
  r.body = out.dump();
  for (auto& s : res->shares) Wipe(s);
  return r;
}

http::HttpResponse Core::HandleUnseal(http::HttpRequest& req) {
  auto body = http::ParseJsonBody(req.body, opts_.max_json_depth);
  if (!body.ok()) return ErrorResponse(body.status());
  const json* reset = FieldCI(*body, "reset");
  const json* key = FieldCI(*body, "key");
  bool do_reset = false;
  if (reset) {
    if (reset->is_boolean()) do_reset = reset->get<bool>();
    else if (reset->is_string()) do_reset = ParseGoBool(reset->get<std::string>()).value_or(false);
  }
  if (do_reset) {
    Status st = ResetUnseal();
    if (!st.ok()) return ErrorResponse(st);
    return SealStatusResponse();
  }
  if (!key || !key->is_string() || key->get<std::string>().empty())
    return ErrorResponse(Status::InvalidRequest("'key' must be specified in request body as JSON, or 'reset' set to true"));
  auto res = SubmitUnsealKey(key->get<std::string>());
  if (!res.ok()) return ErrorResponse(res.status());
  return SealStatusResponse();
}

http::HttpResponse Core::HandleHealth(http::HttpRequest& req) {
  auto code_param = [&](const char* name, int def) -> std::optional<int> {
    if (!req.HasQueryParam(name)) return def;
    std::string v = req.QueryParam(name);
    try {
      size_t pos = 0;
      int c = std::stoi(v, &pos);
      if (pos == v.size()) return c;
    } catch (...) {
    }
    return std::nullopt;
  };
  auto bool_param = [&](const char* name) -> std::optional<bool> {
    if (!req.HasQueryParam(name)) return false;
    std::string v = req.QueryParam(name);
    if (v.empty()) return true;
    return ParseGoBool(v);
  };
  auto standbyok = bool_param("standbyok");
  auto perfstandbyok = bool_param("perfstandbyok");
  auto activecode = code_param("activecode", 200), standbycode = code_param("standbycode", 429),
       drcode = code_param("drsecondarycode", 472), perfcode = code_param("performancestandbycode", 473),
       sealedcode = code_param("sealedcode", 503), uninitcode = code_param("uninitcode", 501);
  if (!standbyok || !perfstandbyok) return JsonResponse(400, {{"errors", json::array()}});
  if (!activecode || !standbycode || !drcode || !perfcode || !sealedcode || !uninitcode)
    return JsonResponse(400, {{"errors", json::array()}});
  auto st = GetSealStatus();
  if (!st.ok()) return ErrorResponse(st.status());
  int code = *activecode;
  bool standby = ha_ && !st->sealed && !ha_->IsActive();
  if (!st->initialized) code = *uninitcode;
  else if (st->sealed) code = *sealedcode;
  else if (standby && !*standbyok) code = *standbycode;
  nlohmann::ordered_json j;
  j["initialized"] = st->initialized;
  j["sealed"] = st->sealed;
  j["standby"] = standby;
  j["performance_standby"] = false;
  j["replication_performance_mode"] = "disabled";
  j["replication_dr_mode"] = "disabled";
  j["server_time_utc"] = UnixNow();
  j["version"] = kVaultApiVersion;
  if (!st->sealed) {
    j["cluster_name"] = st->cluster_name;
    j["cluster_id"] = st->cluster_id;
  }
  http::HttpResponse r;
  r.status = code;
  if (req.method != "HEAD") r.body = j.dump();
  return r;
}

http::HttpResponse Core::HandleLeader(http::HttpRequest&) {
  nlohmann::ordered_json j;
  if (ha_) {
    if (Sealed()) return ErrorResponse(Status::Sealed());
    HaLeader l = ha_->Leader();
    j["ha_enabled"] = true;
    j["is_self"] = l.is_self;
    j["active_time"] = l.known && l.active_time.time_since_epoch().count() != 0 ? FormatRFC3339Nano(l.active_time)
                                                                                 : "0001-01-01T00:00:00Z";
    j["leader_address"] = l.leader_address;
    j["leader_cluster_address"] = l.leader_cluster_address;
    j["performance_standby"] = false;
    j["performance_standby_last_remote_wal"] = 0;
    if (l.raft_committed_index) j["raft_committed_index"] = l.raft_committed_index;
    if (l.raft_applied_index) j["raft_applied_index"] = l.raft_applied_index;
    http::HttpResponse r;
    r.body = j.dump();
    return r;
  }
  j["ha_enabled"] = false;
  j["is_self"] = false;
  j["active_time"] = "0001-01-01T00:00:00Z";
  j["leader_address"] = "";
  j["leader_cluster_address"] = "";
  j["performance_standby"] = false;
  j["performance_standby_last_remote_wal"] = 0;
  http::HttpResponse r;
  r.body = j.dump();
  return r;
}

http::HttpResponse Core::HandleSeal(http::HttpRequest& req) {
  if (Sealed()) {
    http::HttpResponse r;
    r.status = 204;
    r.content_type.clear();
    return r;
  }
  {
    std::shared_lock lock(state_mu_);
    if (sealed_) return ErrorResponse(Status::Sealed());
    auto te = tokens_->Lookup(ClientToken(req));
    if (!te.ok()) return ErrorResponse(te.status());
    if (!*te) return ErrorResponse(Status::PermissionDenied());
    auto d = access_->Check((*te)->policies, Operation::kUpdate, "sys/seal", json::object());
    if (!d.ok()) return ErrorResponse(d.status());
    if (!d->allowed || !d->sudo) return ErrorResponse(Status::PermissionDenied());
  }
  Status st = Seal();
  if (!st.ok()) return ErrorResponse(st);
  http::HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

std::optional<Operation> Core::OperationFor(const http::HttpRequest& hreq) {
  const std::string& m = hreq.method;
  bool list_param = false;
  if (hreq.HasQueryParam("list")) list_param = ParseGoBool(hreq.QueryParam("list")).value_or(false);
  if (m == "GET" || m == "HEAD") return list_param ? Operation::kList : Operation::kRead;
  if (m == "LIST") return Operation::kList;
  if (m == "PUT" || m == "POST") return Operation::kUpdate;
  if (m == "DELETE") return Operation::kDelete;
  if (m == "PATCH") return Operation::kPatch;
  return std::nullopt;
}

std::string Core::RequestPath(Operation op, std::string path) {
  if (op == Operation::kList && !path.empty() && path.back() != '/') path += '/';
  return path;
}

http::HttpResponse Core::HandleLogical(const std::string& path, http::HttpRequest& hreq) {
  std::shared_lock lock(state_mu_);
  if (sealed_) return ErrorResponse(Status::Sealed());
  if (ha_ && !ha_->IsActive()) {
    lock.unlock();
    return ha_->Forward(hreq);
  }

  logical::Request req;
  req.request_id = NewUUID();
  auto op = OperationFor(hreq);
  if (!op) return ErrorResponse(Status::UnsupportedOperation());
  req.operation = *op;

  std::string api_path = RequestPath(req.operation, path);

  if (req.operation == Operation::kRead || req.operation == Operation::kList || req.operation == Operation::kDelete) {
    for (auto& [k, v] : hreq.query) {
      if (k == "list") continue;
      req.data[k] = v;
    }
  } else {
    bool binary = api_path == "sys/storage/raft/snapshot" || api_path == "sys/storage/raft/snapshot-force";
    if (binary) {
      req.raw_body = hreq.body;  // only binary endpoints read it; a JSON body is in req.data
    } else {
      auto body = http::ParseJsonBody(hreq.body, opts_.max_json_depth);
      if (!body.ok()) return ErrorResponse(body.status());
      req.data = std::move(body).value();
    }
  }
  req.headers = hreq.headers;
  req.remote_addr = hreq.remote_addr;
  req.client_token = ClientToken(hreq);
  auto wrap_ttl = wrapping::ParseWrapTtlHeader(hreq);
  if (!wrap_ttl.ok()) return ErrorResponse(wrap_ttl.status());
  req.wrap_ttl = *wrap_ttl;
  if (auto bad = wrapping::VerifyWrappingToken(this, api_path, req)) return std::move(*bad);

  auto mount = router_.Match(api_path);
  if (!mount) {
    // As in Vault the ACL is consulted before routing: only a caller allowed on the path
    // learns that nothing is mounted there.
    auto looked = tokens_->Lookup(req.client_token);
    if (!looked.ok()) return ErrorResponse(looked.status());
    if (!*looked) return ErrorResponse(Status::PermissionDenied());
    if (!(*looked)->IsRoot()) {
      auto d = access_->Check((*looked)->policies, req.operation, api_path, req.data, req.wrap_ttl);
      if (!d.ok()) return ErrorResponse(d.status());
      if (!d->allowed) return ErrorResponse(Status::PermissionDenied());
    }
    return ErrorResponse(Status::NotFound("no handler for route \"" + api_path + "\". route entry not found."));
  }
  std::string route = mount->RoutePath();
  req.path = api_path.size() >= route.size() ? api_path.substr(route.size()) : "";
  req.mount_point = route;
  req.mount_type = mount->type;
  req.mount_accessor = mount->accessor;
  req.storage = mount->view.get();
  req.mount_default_ttl = mount->system_view->DefaultLeaseTTL();
  req.mount_max_ttl = mount->system_view->MaxLeaseTTL();

  const auto& special = mount->backend->special_paths();
  bool unauth = framework::MatchesSpecialPath(special.unauthenticated, req.path);
  std::optional<token::TokenEntry> te;
  if (!req.client_token.empty() || !unauth) {
    auto looked = tokens_->Lookup(req.client_token);
    if (!looked.ok()) return ErrorResponse(looked.status());
    te = std::move(*looked);
    if (!te && !unauth) return ErrorResponse(Status::PermissionDenied());
    if (te) req.token = token::TokenStore::ToInfo(*te);
  }

  // Create vs update decides which capability a write needs.
  if (req.operation == Operation::kUpdate) {
    auto exists = mount->backend->Exists(req);
    if (exists.ok() && exists->has_value() && !**exists) req.operation = Operation::kCreate;
  }

  if (!unauth) {
    bool needs_sudo = framework::MatchesSpecialPath(special.root, req.path);
    if (!te->IsRoot()) {
      auto d = access_->Check(te->policies, req.operation, api_path, req.data, req.wrap_ttl);
      if (!d.ok()) return ErrorResponse(d.status());
      if (!d->allowed || (needs_sudo && !d->sudo)) return ErrorResponse(Status::PermissionDenied());
      if (req.operation == Operation::kList) {
        // A recursive listing descends only into folders the caller may list itself.
        req.can_list = [this, &te, &req](const std::string& rel) {
          auto sub = access_->Check(te->policies, Operation::kList, req.mount_point + rel, json::object());
          return sub.ok() && sub->allowed;
        };
      }
    }
    auto used = tokens_->UseToken(*te);
    if (!used.ok()) return ErrorResponse(used.status());
    if (!*used) return ErrorResponse(Status::PermissionDenied());
  }

  auto res = mount->backend->HandleRequest(req);
  if (!unauth) tokens_->FinishUse(*te);  // a token's last use revokes it after the request
  if (!res.ok() && ha_ && res.status().code() == Code::kStandby) {
    // Leadership moved before the write was submitted (nothing was applied): forward it.
    lock.unlock();
    return ha_->Forward(hreq);
  }
  if (!res.ok()) return ErrorResponse(res.status());
  logical::ResponsePtr resp = std::move(res).value();
  // Token-store responses (create, renew) describe a token that already exists.
  if (resp && resp->auth && resp->auth->client_token.empty() && resp->auth->accessor.empty()) {
    Status st = MintToken(&*resp->auth, api_path, req);
    if (!st.ok()) return ErrorResponse(st);
  }
  if (resp && resp->secret && resp->secret->leased && resp->secret->lease_id.empty()) {
    resp->secret->lease_id = api_path + "/" + RandomBase62(24);
  }
  if (req.wrap_ttl > 0 && resp && !resp->raw) return wrapping::WrapResponse(this, req, api_path, *resp);
  return RenderLogical(resp.get(), req.operation, api_path, req.request_id);
}

}  // namespace tresor::core
