#include "storage/physical.h"

#include <mutex>

#include "storage/file_storage.h"
#include "storage/inmem_storage.h"

namespace tresor {

namespace {

std::mutex& RegistryMu() {
  static std::mutex mu;
  return mu;
}

std::map<std::string, PhysicalFactory>& Registry() {  // guarded by RegistryMu()
  static std::map<std::string, PhysicalFactory> registry;
  return registry;
}

}  // namespace

void RegisterPhysicalFactory(const std::string& type, PhysicalFactory factory) {
  std::lock_guard lock(RegistryMu());
  Registry()[type] = std::move(factory);
}

Result<std::unique_ptr<Storage>> OpenPhysical(const std::string& type, const PhysicalOptions& options) {
  if (type == "inmem") return std::unique_ptr<Storage>(std::make_unique<InmemStorage>());
  if (type == "file") {
    auto it = options.find("path");
    if (it == options.end() || it->second.empty()) {
      return Status::InvalidRequest("'path' must be set for file storage");
    }
    FileStorageOptions fo;
    fo.path = it->second;
    ASSIGN_OR_RETURN(std::unique_ptr<FileStorage> fs, FileStorage::Open(fo));
    return std::unique_ptr<Storage>(std::move(fs));
  }
  PhysicalFactory factory;
  {
    std::lock_guard lock(RegistryMu());
    auto it = Registry().find(type);
    if (it != Registry().end()) factory = it->second;
  }
  if (!factory) return Status::InvalidRequest("unknown physical backend type: \"" + type + "\"");
  return factory(options);
}

}  // namespace tresor
