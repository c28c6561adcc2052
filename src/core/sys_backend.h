// SysBackend: the `sys/` mount, written in the framework idiom like every other backend.
//
// Each group of sys paths lives in its own file and contributes a list of Paths; the
// backend concatenates them. Raw handlers that return flat JSON and work while sealed
// (init, seal-status, unseal, health, leader, seal) are in http_dispatch.cc instead.
// Handlers call back into Core's public methods; the Core outlives the backend.
#pragma once

#include <vector>

#include "framework/backend.h"

namespace tresor::core {

class Core;

class SysBackend : public framework::FrameworkBackend {
 public:
  explicit SysBackend(Core* core);
};

// Path groups (one file each).
std::vector<framework::Path> SysMountPaths(Core* core);         // sys_mounts.cc
std::vector<framework::Path> SysKeyPaths(Core* core);           // sys_keys.cc
std::vector<framework::Path> SysCapabilitiesPaths(Core* core);  // sys_capabilities.cc
std::vector<framework::Path> SysPolicyPaths(Core* core);        // sys_policy.cc
std::vector<framework::Path> SysWrappingPaths(Core* core);      // wrapping.cc

}  // namespace tresor::core
