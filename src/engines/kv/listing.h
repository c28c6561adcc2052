// Listing helpers shared by the KV engines and cubbyhole: Vault's LIST semantics (immediate
// children, folders with a trailing '/') plus Tresor's extensions, paginated listing
// (`after`, `limit`) and recursive listing (`recursive=true`). See docs/kv.md.
//
// Pure functions over a Storage; thread-safe if the Storage is.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "storage/storage.h"

namespace tresor::kv {

struct ListParams {
  std::string after;       // exclusive lower bound (a name as a previous page returned it)
  int limit = -1;          // at most this many keys; -1 = all
  bool recursive = false;  // every leaf below the folder, as paths relative to it
  // Recursive only: whether to descend into sub-folder `rel` (relative to the listed
  // folder, ending in '/'); names below a refused folder are left out. Null: all.
  std::function<bool(const std::string& rel)> may_descend;
};

// Reads `after`, `limit` and `recursive` from request data (query strings from HTTP, or
// JSON values). InvalidRequest for a malformed limit or flag.
Result<ListParams> ParseListParams(const nlohmann::json& data);

// "" stays ""; anything else gets a trailing '/' (LIST always names a folder).
std::string DirPath(std::string path);

// Keys below storage folder `base + dir` (both "" or ending in '/'), names relative to `dir`.
// Non-recursive: immediate children, folders suffixed with '/'. Recursive: leaf paths in
// byte order, e.g. "a", "b/c", "b/d/e". `after`/`limit` apply to the names returned.
Result<std::vector<std::string>> ListKeys(Storage* storage, const std::string& base, const std::string& dir,
                                          const ListParams& params);

// Deletes every key below `folder` (ending in '/'), in batched transactions.
Status DeleteTree(Storage* storage, const std::string& folder);

}  // namespace tresor::kv
