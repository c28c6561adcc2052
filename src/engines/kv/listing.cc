#include "engines/kv/listing.h"

#include "common/strings.h"

namespace tresor::kv {
namespace {

Result<bool> ParseFlag(const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) return v.get<int64_t>() != 0;
  if (v.is_string()) {
    std::string s = ToLower(TrimSpace(v.get<std::string>()));
    if (s.empty() || s == "true" || s == "1" || s == "t") return true;  // bare "?recursive"
    if (s == "false" || s == "0" || s == "f") return false;
  }
  return Status::InvalidRequest("invalid value for 'recursive': expected a boolean");
}

Result<int> ParseLimit(const nlohmann::json& v) {
  int64_t n = 0;
  bool ok = false;
  if (v.is_number_integer()) {
    n = v.get<int64_t>();
    ok = true;
  } else if (v.is_string()) {
    const std::string s(TrimSpace(v.get<std::string>()));
    if (!s.empty() && s.size() <= 10 && s.find_first_not_of("0123456789") == std::string::npos) {
      n = std::stoll(s);
      ok = true;
    }
  }
  if (!ok || n < 1 || n > 1000000000) return Status::InvalidRequest("invalid value for 'limit': expected a positive integer");
  return static_cast<int>(n);
}

// Depth-first walk in byte order of the full relative path; `rel` is the folder being
// walked relative to the listing root ("" or ending in '/').
Status Walk(Storage* storage, const std::string& root, const std::string& rel, const ListParams& p,
            std::vector<std::string>* out) {
  ListOptions opts;
  // Resume inside this folder: `after` names a path at or below it.
  if (!p.after.empty() && p.after.compare(0, rel.size(), rel) == 0) {
    std::string rest = p.after.substr(rel.size());
    size_t slash = rest.find('/');
    // "x/..." → list from folder "x/" on (strictly after "x", which also skips leaf "x").
    opts.after = slash == std::string::npos ? rest : rest.substr(0, slash);
  }
  // Pages of children keep memory bounded for huge folders.
  constexpr int kPage = 1000;
  opts.limit = kPage;
  for (;;) {
    ASSIGN_OR_RETURN(std::vector<std::string> children, storage->List(root + rel, opts));
    for (const std::string& child : children) {
      if (p.limit > 0 && out->size() >= static_cast<size_t>(p.limit)) return Status::Ok();
      std::string path = rel + child;
      if (!child.empty() && child.back() == '/') {
        if (p.may_descend && !p.may_descend(path)) continue;  // e.g. a more specific ACL deny
        RETURN_IF_ERROR(Walk(storage, root, path, p, out));
      } else if (p.after.empty() || path > p.after) {
        out->push_back(std::move(path));
      }
    }
    if (children.size() < static_cast<size_t>(kPage)) return Status::Ok();
    opts.after = children.back();
  }
}

}  // namespace

Result<ListParams> ParseListParams(const nlohmann::json& data) {
  ListParams p;
  if (!data.is_object()) return p;
  if (auto it = data.find("after"); it != data.end() && !it->is_null()) {
    if (!it->is_string()) return Status::InvalidRequest("invalid value for 'after': expected a string");
    p.after = it->get<std::string>();
  }
  if (auto it = data.find("limit"); it != data.end() && !it->is_null()) {
    if (!(it->is_string() && it->get_ref<const std::string&>().empty())) {
      ASSIGN_OR_RETURN(p.limit, ParseLimit(*it));
    }
  }
  if (auto it = data.find("recursive"); it != data.end() && !it->is_null()) {
    ASSIGN_OR_RETURN(p.recursive, ParseFlag(*it));
  }
  return p;
}

std::string DirPath(std::string path) {
  if (!path.empty() && path.back() != '/') path.push_back('/');
  return path;
}

Result<std::vector<std::string>> ListKeys(Storage* storage, const std::string& base, const std::string& dir,
                                          const ListParams& params) {
  if (!params.recursive) {
    ListOptions opts;
    opts.after = params.after;
    opts.limit = params.limit;
    return storage->List(base + dir, opts);
  }
  std::vector<std::string> out;
  RETURN_IF_ERROR(Walk(storage, base + dir, "", params, &out));
  return out;
}

Status DeleteTree(Storage* storage, const std::string& folder) {
  constexpr int kBatch = 256;
  for (;;) {
    ListParams p;
    p.recursive = true;
    p.limit = kBatch;
    ASSIGN_OR_RETURN(std::vector<std::string> keys, ListKeys(storage, folder, "", p));
    if (keys.empty()) return Status::Ok();
    std::vector<TxnOp> ops;
    ops.reserve(keys.size());
    for (auto& k : keys) ops.push_back({TxnOp::Kind::kDelete, folder + k, ""});
    RETURN_IF_ERROR(storage->Transaction(ops));
    if (keys.size() < static_cast<size_t>(kBatch)) return Status::Ok();
  }
}

}  // namespace tresor::kv
