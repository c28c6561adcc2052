// KV version 1: each secret is one JSON object stored at its own path in the mount's view.
#include "common/duration.h"
#include "common/json.h"
#include "engines/kv/kv.h"
#include "engines/kv/kv_internal.h"
#include "engines/kv/listing.h"

namespace tresor::kv {
namespace {

using framework::Field;
using framework::FieldData;
using framework::FieldType;
using framework::Path;
using logical::Operation;
using logical::Request;
using logical::ResponsePtr;
using json = nlohmann::json;

class KvV1Backend : public framework::FrameworkBackend {
 public:
  explicit KvV1Backend(const framework::BackendConfig& config) : system_(config.system) {
    Path p;
    p.pattern = "(?P<path>.*)";
    // The listing parameters are raw so a v1 write of arbitrary data never fails field
    // validation; they are parsed by the LIST handler only.
    p.fields = {{"path", Field(FieldType::kString, "Location of the secret.")},
                {"after", Field(FieldType::kRaw, "LIST: return keys sorting after this one.")},
                {"limit", Field(FieldType::kRaw, "LIST: return at most this many keys.")},
                {"recursive", Field(FieldType::kRaw, "LIST: every key below the folder.")}};
    p.operations[Operation::kRead] = [this](Request& r, FieldData& d) { return Read(r, d); };
    p.operations[Operation::kUpdate] = [](Request& r, FieldData& d) { return Write(r, d); };
    p.operations[Operation::kCreate] = [](Request& r, FieldData& d) { return Write(r, d); };
    p.operations[Operation::kDelete] = [](Request& r, FieldData& d) -> Result<ResponsePtr> {
      std::string key = d.GetString("path");
      if (key.empty()) return Status::InvalidRequest("missing path");
      RETURN_IF_ERROR(r.storage->Delete(key));
      return ResponsePtr();
    };
    p.operations[Operation::kList] = [](Request& r, FieldData& d) -> Result<ResponsePtr> {
      ASSIGN_OR_RETURN(ListParams lp, ParseListParams(r.data));
      const std::string dir = DirPath(d.GetString("path"));
      if (r.can_list) lp.may_descend = [&](const std::string& rel) { return r.can_list(dir + rel); };
      ASSIGN_OR_RETURN(auto keys, ListKeys(r.storage, "", dir, lp));
      return framework::ListResponse(keys);
    };
    p.exists = [](Request& r, FieldData& d) -> Result<bool> {
      std::string key = d.GetString("path");
      if (key.empty()) return false;
      ASSIGN_OR_RETURN(auto v, r.storage->Get(key));
      return v.has_value();
    };
    p.help_synopsis = "Pass-through secret storage: read and write arbitrary JSON data.";
    p.help_description =
        "Writes store the request's data as one object at the path. A \"ttl\" key sets the "
        "lease_duration (refresh interval) reported on read; nothing expires.";
    SetPaths({std::move(p)});
  }

 private:
  Result<ResponsePtr> Read(Request& req, FieldData& d) {
    std::string key = d.GetString("path");
    if (key.empty()) return ResponsePtr();
    ASSIGN_OR_RETURN(auto raw, req.storage->Get(key));
    if (!raw) return ResponsePtr();
    json data = ParseJsonOrDiscarded(*raw);
    if (data.is_discarded() || !data.is_object()) return Status::Corruption("kv: stored value is not a JSON object");
    auto resp = logical::Response::WithData(std::move(data));
    // Vault reports a refresh interval, not a lease: the mount default unless the secret
    // carries its own "ttl" (or the legacy "lease") key.
    logical::Secret s;
    s.leased = false;
    s.renewable = false;
    s.ttl = internal::DefaultTTL(req, system_);
    const json& body = resp->data;
    auto ttl = body.find("ttl");
    if (ttl == body.end()) ttl = body.find("lease");
    if (ttl != body.end()) {
      if (auto secs = ParseDurationJson(*ttl)) s.ttl = *secs;
    }
    resp->secret = s;
    return resp;
  }

  static Result<ResponsePtr> Write(Request& req, FieldData& d) {
    std::string key = d.GetString("path");
    if (key.empty()) return Status::InvalidRequest("missing path");
    if (!req.data.is_object() || req.data.empty()) return Status::InvalidRequest("missing data fields");
    RETURN_IF_ERROR(req.storage->Put(key, DumpJson(req.data)));
    return ResponsePtr();
  }

  const framework::SystemView* system_;
};

}  // namespace

std::unique_ptr<framework::Backend> NewV1(const framework::BackendConfig& config) {
  return std::make_unique<KvV1Backend>(config);
}

Result<std::unique_ptr<framework::Backend>> Factory(const framework::BackendConfig& config) {
  std::string version = "1";
  if (config.options.is_object()) {
    auto it = config.options.find("version");
    if (it != config.options.end() && !it->is_null()) {
      version = it->is_string() ? it->get<std::string>() : it->dump();
    }
  }
  if (version.empty() || version == "1") return NewV1(config);
  if (version == "2") return NewV2(config);
  return Status::InvalidRequest("invalid kv version: " + version);
}

namespace internal {

logical::ResponsePtr NotFoundWithData(const logical::Request& req, nlohmann::json data) {
  nlohmann::ordered_json body;
  body["request_id"] = req.request_id;
  body["lease_id"] = "";
  body["renewable"] = false;
  body["lease_duration"] = 0;
  body["data"] = std::move(data);
  body["wrap_info"] = nullptr;
  body["warnings"] = nullptr;
  body["auth"] = nullptr;
  auto resp = std::make_unique<logical::Response>();
  http::HttpResponse raw;
  raw.status = 404;
  raw.body = body.dump();
  resp->raw = std::move(raw);
  return resp;
}

int64_t DefaultTTL(const logical::Request& req, const framework::SystemView* system) {
  if (req.mount_default_ttl > 0) return req.mount_default_ttl;
  if (system && system->DefaultLeaseTTL() > 0) return system->DefaultLeaseTTL();
  return 32 * 24 * 3600;  // Vault's system default, 768h
}

}  // namespace internal
}  // namespace tresor::kv
