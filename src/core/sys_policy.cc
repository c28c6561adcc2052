// sys/policy (legacy) and sys/policies/acl: ACL policy CRUD over the PolicyStore.
#include "acl/policy_store.h"
#include "common/encoding.h"
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

// The policy text from a write: `policy` (either path) or `rules` (legacy path only).
// Vault also accepts the text base64-encoded.
Result<std::string> PolicyText(FieldData& d, bool legacy) {
  std::string text = d.GetString("policy");
  if (text.empty() && legacy) text = d.GetString("rules");
  if (text.empty()) return Status::InvalidRequest("'policy' parameter not supplied or empty");
  if (auto decoded = Base64Decode(text); decoded && !decoded->empty()) text = std::move(*decoded);
  return text;
}

std::vector<Path> PolicyPaths(Core* core, bool legacy) {
  const std::string base = legacy ? "policy" : "policies/acl";
  const char* text_key = legacy ? "rules" : "policy";
  acl::PolicyStore* store = core->policy_store();

  Path list;
  list.pattern = base + "/?";
  auto list_handler = [store, legacy](Request&, FieldData&) -> Result<ResponsePtr> {
    ASSIGN_OR_RETURN(auto names, store->List());
    names.push_back("root");
    json data = {{"keys", names}};
    if (legacy) data["policies"] = names;
    return framework::Data(std::move(data));
  };
  list.operations[Operation::kList] = list_handler;
  if (legacy) list.operations[Operation::kRead] = list_handler;

  Path one;
  one.pattern = base + "/(?P<name>.+)";
  one.fields = {{"name", {FieldType::kString}}, {"policy", {FieldType::kString}}};
  if (legacy) one.fields["rules"] = {FieldType::kString};
  one.operations[Operation::kRead] = [store, text_key](Request&, FieldData& d) -> Result<ResponsePtr> {
    ASSIGN_OR_RETURN(auto p, store->Get(d.GetString("name")));
    if (!p) return framework::NoContent();
    return framework::Data({{"name", p->name}, {text_key, p->raw}});
  };
  one.operations[Operation::kUpdate] = [store, legacy](Request&, FieldData& d) -> Result<ResponsePtr> {
    ASSIGN_OR_RETURN(std::string text, PolicyText(d, legacy));
    RETURN_IF_ERROR(store->Set(d.GetString("name"), text));
    return framework::NoContent();
  };
  one.operations[Operation::kDelete] = [store](Request&, FieldData& d) -> Result<ResponsePtr> {
    RETURN_IF_ERROR(store->Delete(d.GetString("name")));
    return framework::NoContent();
  };
  return {list, one};
}

}  // namespace

std::vector<Path> SysPolicyPaths(Core* core) {
  auto paths = PolicyPaths(core, true);
  auto acl = PolicyPaths(core, false);
  paths.insert(paths.end(), acl.begin(), acl.end());
  return paths;
}

}  // namespace tresor::core
