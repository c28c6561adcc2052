// OpenPhysical: builds the physical backend named by a `storage "<type>" { ... }` stanza.
//
// Built in: "inmem" (no options) and "file" (option "path", required). Other modules (raft)
// add their type with RegisterPhysicalFactory at startup, before any OpenPhysical call;
// an unregistered type is refused with InvalidRequest naming it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "storage/storage.h"

namespace tresor {

using PhysicalOptions = std::map<std::string, std::string>;
using PhysicalFactory = std::function<Result<std::unique_ptr<Storage>>(const PhysicalOptions&)>;

Result<std::unique_ptr<Storage>> OpenPhysical(const std::string& type, const PhysicalOptions& options);

// Adds or replaces the factory for `type`. Thread-safe.
void RegisterPhysicalFactory(const std::string& type, PhysicalFactory factory);

}  // namespace tresor
