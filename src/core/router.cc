#include "core/router.h"

#include <mutex>

namespace tresor::core {

std::shared_ptr<const MountEntry> Router::Match(const std::string& path) const {
  std::shared_lock lock(mu_);
  // Walk candidate prefixes from longest to shortest: each '/'-terminated prefix of path.
  std::string probe = path;
  if (probe.empty() || probe.back() != '/') probe += '/';
  for (size_t end = probe.size(); end > 0;) {
    auto it = entries_.find(probe.substr(0, end));
    if (it != entries_.end()) return it->second;
    if (end < 2) break;
    size_t slash = probe.rfind('/', end - 2);
    if (slash == std::string::npos) break;
    end = slash + 1;
  }
  return nullptr;
}

std::shared_ptr<const MountEntry> Router::Exact(const std::string& route_path) const {
  std::shared_lock lock(mu_);
  auto it = entries_.find(route_path);
  return it == entries_.end() ? nullptr : it->second;
}

std::shared_ptr<const MountEntry> Router::ByAccessor(const std::string& accessor) const {
  std::shared_lock lock(mu_);
  for (auto& [p, e] : entries_)
    if (e->accessor == accessor) return e;
  return nullptr;
}

void Router::Put(std::shared_ptr<const MountEntry> e) {
  std::unique_lock lock(mu_);
  entries_[e->RoutePath()] = std::move(e);
}

void Router::Remove(const std::string& route_path) {
  std::unique_lock lock(mu_);
  entries_.erase(route_path);
}

void Router::Clear() {
  std::unique_lock lock(mu_);
  entries_.clear();
}

std::vector<std::shared_ptr<const MountEntry>> Router::All() const {
  std::shared_lock lock(mu_);
  std::vector<std::shared_ptr<const MountEntry>> out;
  for (auto& [p, e] : entries_) out.push_back(e);
  return out;
}

bool Router::Conflicts(const std::string& route_path) const {
  std::shared_lock lock(mu_);
  for (auto& [p, e] : entries_) {
    if (p.rfind(route_path, 0) == 0 || route_path.rfind(p, 0) == 0) return true;
  }
  return false;
}

}  // namespace tresor::core
