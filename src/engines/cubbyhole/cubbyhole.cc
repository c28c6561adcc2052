#include "engines/cubbyhole/cubbyhole.h"

#include <openssl/evp.h>

#include "common/encoding.h"
#include "common/json.h"
#include "engines/kv/listing.h"

namespace tresor::cubbyhole {
namespace {

using framework::Field;
using framework::FieldData;
using framework::FieldType;
using framework::Path;
using logical::Operation;
using logical::Request;
using logical::ResponsePtr;
using json = nlohmann::json;

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

// The caller's namespace folder ("<ns>/"), or why there is none.
Result<std::string> Folder(const Request& req) {
  if (req.token && req.token->type == "batch")
    return Status::InvalidRequest("cubbyhole operations are only supported by \"service\" type tokens");
  std::string_view cubby = req.token ? std::string_view(req.token->cubbyhole_id) : std::string_view();
  std::string_view id = req.token ? std::string_view(req.token->id) : std::string_view(req.client_token);
  if (cubby.empty() && id.empty()) return Status::InvalidRequest("client token empty");
  return NamespaceFor(cubby, id) + "/";
}

class CubbyholeBackend : public framework::FrameworkBackend {
 public:
  CubbyholeBackend() {
    Path p;
    p.pattern = "(?P<path>.*)";
    p.fields = {{"path", Field(FieldType::kString, "Location of the secret.")},
                {"after", Field(FieldType::kRaw, "LIST: return keys sorting after this one.")},
                {"limit", Field(FieldType::kRaw, "LIST: return at most this many keys.")},
                {"recursive", Field(FieldType::kRaw, "LIST: every key below the folder.")}};
    p.operations[Operation::kRead] = [](Request& r, FieldData& d) -> Result<ResponsePtr> {
      ASSIGN_OR_RETURN(std::string folder, Folder(r));
      std::string path = d.GetString("path");
      if (path.empty()) return Status::InvalidRequest("missing path");
      ASSIGN_OR_RETURN(auto raw, r.storage->Get(folder + path));
      if (!raw) return ResponsePtr();
      json data = ParseJsonOrDiscarded(*raw);
      if (data.is_discarded() || !data.is_object()) return Status::Corruption("cubbyhole: unreadable value");
      return framework::Data(std::move(data));
    };
    auto write = [](Request& r, FieldData& d) -> Result<ResponsePtr> {
      ASSIGN_OR_RETURN(std::string folder, Folder(r));
      if (!r.data.is_object() || r.data.empty()) return Status::InvalidRequest("missing data fields");
      std::string path = d.GetString("path");
      if (path.empty()) return Status::InvalidRequest("missing path");
      RETURN_IF_ERROR(r.storage->Put(folder + path, r.data.dump()));
      return ResponsePtr();
    };
    p.operations[Operation::kUpdate] = write;
    p.operations[Operation::kCreate] = write;
    p.operations[Operation::kDelete] = [](Request& r, FieldData& d) -> Result<ResponsePtr> {
      ASSIGN_OR_RETURN(std::string folder, Folder(r));
      std::string path = d.GetString("path");
      if (path.empty()) return Status::InvalidRequest("missing path");
      RETURN_IF_ERROR(r.storage->Delete(folder + path));
      return ResponsePtr();
    };
    p.operations[Operation::kList] = [](Request& r, FieldData& d) -> Result<ResponsePtr> {
      ASSIGN_OR_RETURN(std::string folder, Folder(r));
      ASSIGN_OR_RETURN(kv::ListParams lp, kv::ParseListParams(r.data));
      const std::string dir = kv::DirPath(d.GetString("path"));
      if (r.can_list) lp.may_descend = [&](const std::string& rel) { return r.can_list(dir + rel); };
      ASSIGN_OR_RETURN(auto keys, kv::ListKeys(r.storage, folder, dir, lp));
      return framework::ListResponse(keys);
    };
    p.exists = [](Request& r, FieldData& d) -> Result<bool> {
      auto folder = Folder(r);
      std::string path = d.GetString("path");
      if (!folder.ok() || path.empty()) return false;
      ASSIGN_OR_RETURN(auto v, r.storage->Get(*folder + path));
      return v.has_value();
    };
    p.help_synopsis = "Per-token private secret storage.";
    p.help_description =
        "Each token reads and writes only its own values; they are destroyed when the token is revoked.";
    SetPaths({std::move(p)});
  }
};

}  // namespace

Result<std::unique_ptr<framework::Backend>> Factory(const framework::BackendConfig& config) {
  (void)config;
  return std::unique_ptr<framework::Backend>(std::make_unique<CubbyholeBackend>());
}

std::string NamespaceFor(std::string_view cubbyhole_id, std::string_view token_id) {
  if (!cubbyhole_id.empty()) return std::string(cubbyhole_id);
  return "h" + Sha256Hex(token_id);
}

Status DestroyTokenStorage(Storage* mount_storage, std::string_view cubbyhole_id, std::string_view token_id) {
  if (!cubbyhole_id.empty()) RETURN_IF_ERROR(kv::DeleteTree(mount_storage, std::string(cubbyhole_id) + "/"));
  if (!token_id.empty()) RETURN_IF_ERROR(kv::DeleteTree(mount_storage, NamespaceFor("", token_id) + "/"));
  return Status::Ok();
}

}  // namespace tresor::cubbyhole
