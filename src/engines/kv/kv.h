// KV secrets engine, versions 1 and 2 (Vault 1.13's API), plus Tresor's listing extensions.
//
// v1 stores each secret as one JSON object at its own key. v2 keeps, per secret, a metadata
// record and one record per version (see kv_v2.cc for the layout). Both support paginated
// and recursive listing (docs/kv.md).
//
// Lifetime and threads: core owns the backend; HandleRequest may run concurrently on any
// worker thread. Writes to the same v2 key are serialized by striped per-key locks; all
// persistent state lives in the mount's Storage view.
#pragma once

#include <memory>

#include "common/status.h"
#include "framework/backend.h"

namespace tresor::kv {

// Builds a KV backend for a mount. config.options["version"]: "1" or absent → v1, "2" → v2;
// anything else is an error. Register it as "kv" and as "generic" (v1 alias).
Result<std::unique_ptr<framework::Backend>> Factory(const framework::BackendConfig& config);

// The two flavours, for callers (and tests) that want one explicitly.
std::unique_ptr<framework::Backend> NewV1(const framework::BackendConfig& config);
std::unique_ptr<framework::Backend> NewV2(const framework::BackendConfig& config);

}  // namespace tresor::kv
