// Path and banner helpers of `vault kv` (pure functions).
#pragma once

#include <string>
#include <vector>

#include "cli/format.h"

namespace tresor::cli {

// Go's path.Join for relative paths: empty and "." segments dropped, no ".." handling.
std::string PathJoin(const std::vector<std::string>& parts);
// Inserts the v2 API prefix ("data", "metadata", ...) after the mount:
// ("secret/foo", "secret/", "data") -> "secret/data/foo".
std::string AddPrefix(const std::string& path, std::string mount, const std::string& prefix);
// "== Title ==" banner sized for a block `total` columns wide (at least 2 '=' per side).
std::string PadEqualSigns(const std::string& header, size_t total);
// Banner above a Key/Value table of `data`: width = longest key + 4 + len("Value").
std::string HeaderForMap(const std::string& header, const Json& data);

}  // namespace tresor::cli
