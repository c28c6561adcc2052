#include "core/envelope.h"

#include "common/json.h"

namespace tresor::core {
namespace {

std::string MultiError(const std::string& msg) { return "1 error occurred:\n\t* " + msg + "\n\n"; }

// Paths whose data keys Vault also copies to the top level of the envelope.
bool IsDataInjectionPath(const std::string& path) {
  static const char* kPrefixes[] = {"sys/mounts", "sys/auth", "sys/policy", "sys/capabilities",
                                    "sys/audit", "sys/config/cors", "sys/config/auditing/request-headers"};
  static const char* kExact[] = {"sys/ha-status", "sys/key-status", "sys/remount", "sys/rotate",
                                 "sys/wrapping/wrap", "sys/rekey/backup", "sys/rekey/recovery-key-backup"};
  for (const char* p : kExact)
    if (path == p) return true;
  for (const char* p : kPrefixes)
    if (path.rfind(p, 0) == 0) return true;
  return false;
}

}  // namespace

http::HttpResponse JsonResponse(int status, const nlohmann::json& body) {
  http::HttpResponse r;
  r.status = status;
  r.body = DumpJson(body);
  return r;
}

http::HttpResponse ErrorResponse(const Status& st) {
  int code = 500;
  nlohmann::json errors = nlohmann::json::array();
  switch (st.code()) {
    case Code::kOk: code = 200; break;
    case Code::kInvalidRequest:
    case Code::kConflict:
      code = 400;
      errors.push_back(st.message());
      break;
    case Code::kPermissionDenied:
      code = 403;
      errors.push_back(MultiError(st.message().empty() ? "permission denied" : st.message()));
      break;
    case Code::kNotFound:
      code = 404;
      if (!st.message().empty()) errors.push_back(st.message());
      break;
    case Code::kUnsupportedPath:
      code = 404;
      errors.push_back(MultiError(st.message()));
      break;
    case Code::kUnsupportedOperation:
      code = 405;
      errors.push_back(MultiError(st.message()));
      break;
    case Code::kRequestTooLarge:
      code = 413;
      errors.push_back(st.message());
      break;
    case Code::kTooManyRequests:
      code = 429;
      errors.push_back(st.message());
      break;
    case Code::kSealed:
      code = 503;
      errors.push_back("Vault is sealed");
      break;
    case Code::kStandby:
    case Code::kUnavailable:
      code = 503;
      errors.push_back(st.message());
      break;
    case Code::kInternal:
    case Code::kIOError:
    case Code::kCorruption:
      code = 500;
      errors.push_back(MultiError(st.message()));
      break;
  }
  // Vault: any error mentioning a sealed barrier is a 503.
  if (st.message().find("Vault is sealed") != std::string::npos) code = 503;
  return JsonResponse(code, {{"errors", errors}});
}

nlohmann::json AuthJson(const logical::Auth& a) {
  nlohmann::json j = {
      {"client_token", a.client_token},
      {"accessor", a.accessor},
      {"policies", a.policies},
  };
  if (!a.token_policies.empty()) j["token_policies"] = a.token_policies;
  if (!a.identity_policies.empty()) j["identity_policies"] = a.identity_policies;
  j["metadata"] = a.metadata.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.metadata);
  j["lease_duration"] = a.lease_duration;
  j["renewable"] = a.renewable;
  j["entity_id"] = a.entity_id;
  j["token_type"] = a.token_type;
  j["orphan"] = a.orphan;
  j["mfa_requirement"] = nullptr;
  j["num_uses"] = a.num_uses;
  return j;
}

http::HttpResponse RenderLogical(const logical::Response* resp, logical::Operation op, const std::string& path,
                                 const std::string& request_id) {
  using logical::Operation;
  if (!resp) {
    if (op == Operation::kRead || op == Operation::kList) return JsonResponse(404, {{"errors", nlohmann::json::array()}});
    http::HttpResponse r;
    r.status = 204;
    r.content_type.clear();
    return r;
  }
  if (resp->raw) return *resp->raw;
  bool empty = resp->data.is_null() && !resp->auth && !resp->secret && resp->warnings.empty();
  if (empty) {
    if (op == Operation::kRead || op == Operation::kList) return JsonResponse(404, {{"errors", nlohmann::json::array()}});
    http::HttpResponse r;
    r.status = 204;
    r.content_type.clear();
    return r;
  }
  http::HttpResponse r;
  r.status = 200;
  if (resp->data.is_object() && IsDataInjectionPath(path)) {
    nlohmann::ordered_json body;
    body["request_id"] = request_id;
    body["lease_id"] = resp->secret ? resp->secret->lease_id : "";
    body["renewable"] = resp->secret ? resp->secret->renewable : false;
    body["lease_duration"] = resp->secret ? resp->secret->ttl : 0;
    body["data"] = resp->data;
    body["wrap_info"] = nullptr;
    body["warnings"] = resp->warnings.empty() ? nlohmann::json(nullptr) : nlohmann::json(resp->warnings);
    body["auth"] = resp->auth ? AuthJson(*resp->auth) : nlohmann::json(nullptr);
    for (auto& [k, v] : resp->data.items())
      if (!body.contains(k)) body[k] = v;
    r.body = DumpJson(body);
    return r;
  }
  // The common case, written straight out in the envelope's key order.
  std::string& out = r.body;
  out.reserve(256);
  out += "{\"request_id\":";
  AppendJsonString(out, request_id);
  out += ",\"lease_id\":";
  AppendJsonString(out, resp->secret ? resp->secret->lease_id : std::string());
  out += resp->secret && resp->secret->renewable ? ",\"renewable\":true" : ",\"renewable\":false";
  out += ",\"lease_duration\":";
  out += std::to_string(resp->secret ? resp->secret->ttl : 0);
  out += ",\"data\":";
  AppendJson(out, resp->data);
  out += ",\"wrap_info\":null,\"warnings\":";
  if (resp->warnings.empty()) {
    out += "null";
  } else {
    out += '[';
    for (size_t i = 0; i < resp->warnings.size(); ++i) {
      if (i) out += ',';
      AppendJsonString(out, resp->warnings[i]);
    }
    out += ']';
  }
  out += ",\"auth\":";
  if (resp->auth) AppendJson(out, AuthJson(*resp->auth));
  else out += "null";
  out += '}';
  return r;
}

}  // namespace tresor::core
