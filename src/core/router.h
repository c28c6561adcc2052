// Router: longest-prefix lookup from an API path to the mount that serves it.
//
// Readers (every request) take a shared lock and copy a shared_ptr to the immutable entry,
// so a concurrent unmount never frees a backend under a running request. Writers (mount,
// unmount, tune) take the exclusive lock. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/mount_table.h"

namespace tresor::core {

class Router {
 public:
  // The mount serving `path` ("secret/data/x" → entry "secret/"), or null.
  std::shared_ptr<const MountEntry> Match(const std::string& path) const;
  std::shared_ptr<const MountEntry> Exact(const std::string& route_path) const;
  std::shared_ptr<const MountEntry> ByAccessor(const std::string& accessor) const;
  // Adds or replaces the entry at e->RoutePath().
  void Put(std::shared_ptr<const MountEntry> e);
  void Remove(const std::string& route_path);
  void Clear();
  std::vector<std::shared_ptr<const MountEntry>> All() const;
  // Whether `route_path` overlaps an existing mount (one is a prefix of the other).
  bool Conflicts(const std::string& route_path) const;

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const MountEntry>> entries_;  // guarded by mu_
};

}  // namespace tresor::core
