// sys/capabilities, sys/capabilities-self, sys/capabilities-accessor.
#include "core/core.h"
#include "core/sys_backend.h"

namespace tresor::core {

using framework::FieldData;
using framework::FieldType;
using framework::Path;
using logical::Operation;
using logical::Request;
using logical::ResponsePtr;
using nlohmann::json;

namespace {

Result<ResponsePtr> CapabilitiesFor(Core* core, const std::vector<std::string>& policies, FieldData& d) {
  std::vector<std::string> paths = d.GetStrings("paths");
  if (paths.empty()) paths = d.GetStrings("path");
  if (paths.empty()) return Status::InvalidRequest("paths must be supplied");
  json data = json::object();
  for (auto& p : paths) {
    std::string path = p;
    while (!path.empty() && path.front() == '/') path.erase(0, 1);
    ASSIGN_OR_RETURN(auto caps, core->access()->Capabilities(policies, path));
    bool root = false;
    for (auto& pol : policies) root = root || pol == "root";
    if (root) caps = {"root"};
    data[p] = caps;
  }
  if (paths.size() == 1) data["capabilities"] = data[paths[0]];
  return framework::Data(data);
}

}  // namespace

std::vector<Path> SysCapabilitiesPaths(Core* core) {
  framework::FieldSchema fields = {{"token", {FieldType::kString}},
                                   {"accessor", {FieldType::kString}},
                                   {"path", {FieldType::kCommaStringSlice}},
                                   {"paths", {FieldType::kCommaStringSlice}}};
  Path caps;
  caps.pattern = "capabilities";
  caps.fields = fields;
  caps.operations[Operation::kUpdate] = [core](Request&, FieldData& d) -> Result<ResponsePtr> {
    std::string tok = d.GetString("token");
    if (tok.empty()) return Status::InvalidRequest("missing token");
    ASSIGN_OR_RETURN(auto te, core->LookupToken(tok));
    if (!te) return Status::InvalidRequest("invalid token");
    return CapabilitiesFor(core, te->policies, d);
  };
  Path self;
  self.pattern = "capabilities-self";
  self.fields = fields;
  self.operations[Operation::kUpdate] = [core](Request& req, FieldData& d) -> Result<ResponsePtr> {
    if (!req.token) return Status::PermissionDenied();
    return CapabilitiesFor(core, req.token->policies, d);
  };
  Path acc;
  acc.pattern = "capabilities-accessor";
  acc.fields = fields;
  acc.operations[Operation::kUpdate] = [core](Request&, FieldData& d) -> Result<ResponsePtr> {
    std::string a = d.GetString("accessor");
    if (a.empty()) return Status::InvalidRequest("missing accessor");
    ASSIGN_OR_RETURN(auto te, core->token_store()->LookupByAccessor(a));
    if (!te) return Status::InvalidRequest("invalid accessor");
    return CapabilitiesFor(core, te->policies, d);
  };
  return {caps, self, acc};
}

}  // namespace tresor::core
