// InmemStorage: a process-local Storage for dev mode and tests. Nothing is persisted.
//
// Thread-safe: reads share a lock, writes take it exclusively.
#pragma once

#include <map>
#include <shared_mutex>
#include <string>

#include "storage/storage.h"

namespace tresor {

class InmemStorage : public Storage {
 public:
  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Put(std::string_view key, std::string_view value) override;
  Status Delete(std::string_view key) override;
  Result<std::vector<std::string>> List(std::string_view prefix, const ListOptions& opts = {}) override;
  Status Transaction(const std::vector<TxnOp>& ops) override;

 private:
  std::shared_mutex mu_;
  std::map<std::string, std::string, std::less<>> data_;  // guarded by mu_
};

}  // namespace tresor
