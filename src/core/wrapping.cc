// Response wrapping: the pipeline hooks (wrapping.h) and sys/wrapping/* (SysWrappingPaths).
#include "core/wrapping.h"

#include <chrono>
#include <vector>

#include "common/duration.h"
#include "common/log.h"
#include "common/strings.h"
#include "core/core.h"
#include "core/envelope.h"
#include "core/sys_backend.h"
#include "engines/cubbyhole/cubbyhole.h"

namespace tresor::core {

using framework::FieldData;
using framework::FieldType;
using framework::Path;
using logical::Operation;
using logical::Request;
using logical::ResponsePtr;
using nlohmann::json;

namespace wrapping {
namespace {

constexpr const char* kInvalidToken = "wrapping token is not valid or does not exist";

bool IsWrappingToken(const std::vector<std::string>& policies) {
  return policies.size() == 1 && policies[0] == kPolicyName;
}

// The cubbyhole mount's storage and the folder of token `e` in it.
struct Cubby {
  Storage* view = nullptr;
  std::string folder;  // "<namespace>/"
};

Result<Cubby> CubbyFor(Core* core, const std::string& cubbyhole_id, const std::string& token_id) {
  auto m = core->MountFor("cubbyhole/");
  if (!m || !m->view || m->RoutePath() != "cubbyhole/") return Status::Internal("the cubbyhole mount is missing");
  return Cubby{m->view.get(), cubbyhole::NamespaceFor(cubbyhole_id, token_id) + "/"};
}

// The wrapping token named by a request: body `token` (a third party unwraps on the
// holder's behalf) or, without one, the client token itself.
struct Named {
  std::string token;
  bool third_party = false;
};

Result<Named> NamedToken(const Request& req) {
  Named n;
  if (req.data.is_object()) {
    auto it = req.data.find("token");
    if (it != req.data.end() && !it->is_null()) {
      if (!it->is_string()) return Status::InvalidRequest("error validating wrapping token: could not decode token in request body");
      if (it->get_ref<const std::string&>().empty())
        return Status::InvalidRequest("error validating wrapping token: empty token in request body");
      n.token = it->get<std::string>();
      n.third_party = true;
      return n;
    }
  }
  n.token = req.client_token;
  if (n.token.empty()) return Status::InvalidRequest("error validating wrapping token: token is empty");
  return n;
}

struct Stored {
  std::string response;  // the wrapped envelope, as the client would have received it
  int64_t creation_ttl = 0;
  std::string creation_time;
  std::string creation_path;
};

Result<Stored> ReadStored(const Cubby& c) {
  Stored s;
  ASSIGN_OR_RETURN(auto info, c.view->Get(c.folder + "wrapinfo"));
  ASSIGN_OR_RETURN(auto resp, c.view->Get(c.folder + "response"));
  if (!info || !resp) return Status::Internal("no information found; wrapping token may be from a previous Vault version");
  json i = json::parse(*info, nullptr, false), r = json::parse(*resp, nullptr, false);
  if (!i.is_object() || !r.is_object() || !r["response"].is_string())
    return Status::Corruption("wrapping information is not valid");
  s.response = r["response"].get<std::string>();
  s.creation_ttl = i.value("creation_ttl", int64_t{0});
  s.creation_time = i.value("creation_time", std::string());
  s.creation_path = i.value("creation_path", std::string());
  return s;
}

// Mints a wrapping token holding `response_body` and returns its wrap_info.
Result<json> CreateWrappingToken(Core* core, int64_t ttl, const std::string& creation_path,
                                 const std::string& response_body, const std::string& wrapped_accessor) {
  auto now = std::chrono::system_clock::now();
  token::TokenEntry e;
  e.policies = {kPolicyName};
  e.path = creation_path;
  e.ttl = ttl;
  e.explicit_max_ttl = ttl;
  e.num_uses = 1;
  e.renewable = false;
  e.creation_time = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  RETURN_IF_ERROR(core->token_store()->Create(&e));
  std::string created = FormatRFC3339Nano(now);
  auto stored = [&]() -> Status {
    ASSIGN_OR_RETURN(Cubby c, CubbyFor(core, e.cubbyhole_id, e.id));
    json info = {{"creation_ttl", ttl}, {"creation_time", created}, {"creation_path", creation_path}};
    RETURN_IF_ERROR(c.view->Put(c.folder + "response", json{{"response", response_body}}.dump()));
    return c.view->Put(c.folder + "wrapinfo", info.dump());
  }();
  if (!stored.ok()) {
    // Not handed out yet: take it back (with whatever reached its cubbyhole).
    Status rv = core->token_store()->RevokeOrphan(e.id);
    if (!rv.ok()) LOG_WARN("wrapping: cannot revoke an unused wrapping token: {}", rv.ToString());
    return stored;
  }
  nlohmann::ordered_json w;
  w["token"] = e.id;
  w["accessor"] = e.accessor;
  w["ttl"] = ttl;
  w["creation_time"] = created;
  w["creation_path"] = creation_path;
  if (!wrapped_accessor.empty()) w["wrapped_accessor"] = wrapped_accessor;
  return json(w);
}

// The envelope a wrapped request returns: no data, no auth, only wrap_info.
http::HttpResponse WrapInfoEnvelope(const std::string& request_id, const json& wrap_info,
                                    const std::vector<std::string>& warnings) {
  nlohmann::ordered_json body;
  body["request_id"] = request_id;
  body["lease_id"] = "";
  body["renewable"] = false;
  body["lease_duration"] = 0;
  body["data"] = nullptr;
  body["wrap_info"] = wrap_info;
  body["warnings"] = warnings.empty() ? json(nullptr) : json(warnings);
  body["auth"] = nullptr;
  http::HttpResponse r;
  r.body = body.dump();
  return r;
}

// Takes the one use of a wrapping token named in a request body, so that of two racing
// unwraps only one reads the response. Not needed when the token is the client token: the
// pipeline has already used it and revokes it after the request.
Result<std::optional<token::TokenEntry>> ConsumeThirdParty(Core* core, const std::string& id) {
  ASSIGN_OR_RETURN(auto te, core->token_store()->Lookup(id));
  if (!te || !IsWrappingToken(te->policies)) return std::optional<token::TokenEntry>();
  ASSIGN_OR_RETURN(bool used, core->token_store()->UseToken(*te));
  if (!used) return std::optional<token::TokenEntry>();
  return te;
}

// The cubbyhole of the wrapping token that unwrap/rewrap names, spending its single use
// when it was passed in the body (as the client token, the pipeline already spent it).
Result<Cubby> ConsumedCubby(Core* core, const Request& req, const Named& n) {
  std::string cubby_id;
  if (n.third_party) {
    ASSIGN_OR_RETURN(auto te, ConsumeThirdParty(core, n.token));
    if (!te) return Status::InvalidRequest(kInvalidToken);
    cubby_id = te->cubbyhole_id;
  } else {
    if (!req.token || !IsWrappingToken(req.token->policies)) return Status::InvalidRequest(kInvalidToken);
    cubby_id = req.token->cubbyhole_id;
  }
  return CubbyFor(core, cubby_id, n.token);
}

}  // namespace

Result<int64_t> ParseWrapTtlHeader(const http::HttpRequest& req) {
  std::string v = req.Header("x-vault-wrap-ttl");
  if (v.empty()) return int64_t{0};
  std::string t(TrimSpace(v));
  if (!t.empty() && t[0] == '-' && ParseDurationSeconds(t.substr(1)))
    return Status::InvalidRequest("error parsing X-Vault-Wrap-TTL header: requested wrap ttl cannot be negative");
  auto secs = ParseDurationSeconds(t);
  if (!secs) return Status::InvalidRequest("error parsing X-Vault-Wrap-TTL header: time: invalid duration \"" + v + "\"");
  return *secs;
}

std::optional<http::HttpResponse> VerifyWrappingToken(Core* core, const std::string& api_path, const Request& req) {
  if (api_path != "sys/wrapping/unwrap" && api_path != "sys/wrapping/rewrap" && api_path != "sys/wrapping/lookup")
    return std::nullopt;
  auto named = NamedToken(req);
  if (!named.ok()) return ErrorResponse(named.status());
  auto te = core->token_store()->Lookup(named->token);
  if (!te.ok()) return ErrorResponse(te.status());
  if (!*te || !IsWrappingToken((*te)->policies)) return ErrorResponse(Status::InvalidRequest(kInvalidToken));
  return std::nullopt;
}

http::HttpResponse WrapResponse(Core* core, const Request& req, const std::string& api_path,
                                const logical::Response& original) {
  const logical::Response* rp = &original;
  logical::Response trimmed;
  if (api_path == "sys/wrapping/wrap") {
    // sys/wrapping/wrap takes arbitrary input (Vault's TakesArbitraryInput): its fields are
    // the payload, not parameters the endpoint ignored.
    trimmed = original;
    std::erase_if(trimmed.warnings, [](const std::string& w) {
      return w.rfind("Endpoint ignored these unrecognized parameters", 0) == 0;
    });
    rp = &trimmed;
  }
  const logical::Response& resp = *rp;
  // The stored response is the plain envelope (no sys data injection), as Vault stores it.
  http::HttpResponse inner = RenderLogical(&resp, req.operation, "", req.request_id);
  if (inner.status != 200 || inner.body.empty()) return inner;
  std::string wrapped_accessor = resp.auth ? resp.auth->accessor : "";
  auto info = CreateWrappingToken(core, req.wrap_ttl, api_path, inner.body, wrapped_accessor);
  if (!info.ok()) {
    LOG_ERROR("wrapping: cannot wrap a response for {}: {}", api_path, info.status().ToString());
    // The response must not escape unwrapped; a token minted for it is revoked.
    if (resp.auth && !resp.auth->client_token.empty()) {
      Status rv = core->token_store()->RevokeTree(resp.auth->client_token);
      if (!rv.ok()) LOG_WARN("wrapping: cannot revoke the token of a failed wrap: {}", rv.ToString());
    }
    return ErrorResponse(Status::Internal("internal error"));
  }
  return WrapInfoEnvelope(req.request_id, *info, resp.warnings);
}

}  // namespace wrapping

std::vector<Path> SysWrappingPaths(Core* core) {
  using namespace wrapping;
  Path wrap;
  wrap.pattern = "wrapping/wrap";
  wrap.operations[Operation::kUpdate] = [](Request& req, FieldData&) -> Result<ResponsePtr> {
    if (req.wrap_ttl <= 0) return Status::InvalidRequest("endpoint requires response wrapping to be used");
    return framework::Data(req.data.is_object() ? req.data : json::object());
  };
  wrap.help_synopsis = "Response-wraps an arbitrary JSON object.";

  const framework::FieldSchema token_field = {{"token", {FieldType::kString}}};

  Path unwrap;
  unwrap.pattern = "wrapping/unwrap";
  unwrap.fields = token_field;
  unwrap.operations[Operation::kUpdate] = [core](Request& req, FieldData&) -> Result<ResponsePtr> {
    ASSIGN_OR_RETURN(Named n, NamedToken(req));
    ASSIGN_OR_RETURN(Cubby c, ConsumedCubby(core, req, n));
    auto stored = ReadStored(c);
    if (n.third_party) {
      // Single use: gone whether or not the read worked (the client token is revoked by
      // the pipeline after its last use).
      Status rv = core->token_store()->RevokeOrphan(n.token);
      if (!rv.ok()) LOG_WARN("wrapping: cannot revoke an unwrapped token: {}", rv.ToString());
    }
    if (!stored.ok()) return stored.status();
    auto out = std::make_unique<logical::Response>();
    http::HttpResponse raw;
    if (stored->response.empty()) {
      raw.status = 204;
      raw.content_type.clear();
    } else {
      raw.body = std::move(stored->response);
    }
    out->raw = std::move(raw);
    return ResponsePtr(std::move(out));
  };
  unwrap.help_synopsis = "Returns the response a wrapping token holds, and revokes the token.";

  Path lookup;
  lookup.pattern = "wrapping/lookup";
  lookup.fields = token_field;
  auto do_lookup = [core](Request& req, FieldData& d) -> Result<ResponsePtr> {
    std::string tok = d.GetString("token");
    if (tok.empty()) tok = req.client_token;
    if (tok.empty()) return Status::InvalidRequest("missing \"token\" value in input");
    ASSIGN_OR_RETURN(auto te, core->token_store()->Lookup(tok));
    if (!te || !IsWrappingToken(te->policies)) return Status::InvalidRequest(kInvalidToken);
    ASSIGN_OR_RETURN(Cubby c, CubbyFor(core, te->cubbyhole_id, tok));
    ASSIGN_OR_RETURN(Stored s, ReadStored(c));
    return framework::Data(json{{"creation_path", s.creation_path},
                                {"creation_time", s.creation_time},
                                {"creation_ttl", s.creation_ttl}});
  };
  lookup.operations[Operation::kUpdate] = do_lookup;
  lookup.operations[Operation::kRead] = do_lookup;
  lookup.help_synopsis = "Looks up the properties of a response-wrapping token.";

  Path rewrap;
  rewrap.pattern = "wrapping/rewrap";
  rewrap.fields = token_field;
  rewrap.operations[Operation::kUpdate] = [core](Request& req, FieldData&) -> Result<ResponsePtr> {
    ASSIGN_OR_RETURN(Named n, NamedToken(req));
    ASSIGN_OR_RETURN(Cubby c, ConsumedCubby(core, req, n));
    auto stored = ReadStored(c);
    Status failed = stored.ok() ? Status::Ok() : stored.status();
    json info;
    if (stored.ok()) {
      // The new token keeps the original TTL and creation path (shortened by a smaller
      // X-Vault-Wrap-TTL on this request, as Vault takes the shorter of the two).
      int64_t ttl = stored->creation_ttl;
      if (req.wrap_ttl > 0 && req.wrap_ttl < ttl) ttl = req.wrap_ttl;
      auto made = CreateWrappingToken(core, ttl, stored->creation_path, stored->response, "");
      if (made.ok()) info = std::move(made).value();
      else failed = made.status();
    }
    if (n.third_party) {
      Status rv = core->token_store()->RevokeOrphan(n.token);
      if (!rv.ok()) LOG_WARN("wrapping: cannot revoke a rewrapped token: {}", rv.ToString());
    }
    if (!failed.ok()) return failed;
    auto out = std::make_unique<logical::Response>();
    out->raw = WrapInfoEnvelope(req.request_id, info, {});
    return ResponsePtr(std::move(out));
  };
  rewrap.help_synopsis = "Moves a wrapped response to a new wrapping token.";

  return {wrap, unwrap, lookup, rewrap};
}

}  // namespace tresor::core
