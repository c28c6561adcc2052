#include "core/sys_backend.h"

namespace tresor::core {

SysBackend::SysBackend(Core* core) {
  std::vector<framework::Path> paths;
  for (auto* group : {&SysMountPaths, &SysKeyPaths, &SysCapabilitiesPaths, &SysPolicyPaths, &SysWrappingPaths}) {
    auto more = (*group)(core);
    paths.insert(paths.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  SetPaths(std::move(paths));
  framework::SpecialPaths sp;
  sp.root = {"auth/*", "remount", "rotate", "seal", "step-down", "raw", "raw/*", "audit", "audit/*",
             "leases/revoke-prefix/*", "leases/revoke-force/*", "leases/lookup/*",
             "storage/raft/snapshot-auto/config/*"};
  sp.unauthenticated = {"internal/ui/mounts", "internal/ui/mounts/*", "wrapping/lookup", "storage/raft/bootstrap/challenge",
                        "storage/raft/bootstrap/answer"};
  SetSpecialPaths(std::move(sp));
}

}  // namespace tresor::core
