// ListChildren: the one implementation of Storage::List semantics, shared by every
// backend that keeps keys in byte order (inmem map, LMDB).
//
// Internal to the storage module.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/storage.h"

namespace tresor::storage_internal {

// Returns the smallest stored key >= target (any view valid until the next call), or
// nullopt if there is none.
using SeekFn = std::function<Result<std::optional<std::string_view>>(std::string_view target)>;

// Immediate children of `prefix` (names relative to it, folders with a trailing '/'),
// sorted, strictly after opts.after, at most opts.limit (<= 0: all). Uses one seek per
// reported child, so large folders cost nothing to skip.
Result<std::vector<std::string>> ListChildren(std::string_view prefix, const ListOptions& opts,
                                              const SeekFn& seek);

}  // namespace tresor::storage_internal
