// StorageView: confines a caller (a mount) to one key prefix of an underlying Storage,
// e.g. "logical/<uuid>/". The caller sees keys relative to the prefix; keys that could be
// read as escaping it (a ".." segment, a leading '/', a NUL byte) are refused with
// InvalidRequest.
//
// The view does not own `base`, which must outlive it. Thread-safe if `base` is.
#pragma once

#include <string>

#include "storage/storage.h"

namespace tresor {

class StorageView : public Storage {
 public:
  // `prefix` must be non-empty and end in '/' (asserted).
  StorageView(Storage* base, std::string prefix);

  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Put(std::string_view key, std::string_view value) override;
  Status Delete(std::string_view key) override;
  // `prefix` is relative to the view ("" = the view's root).
  Result<std::vector<std::string>> List(std::string_view prefix, const ListOptions& opts = {}) override;
  Status Transaction(const std::vector<TxnOp>& ops) override;

  const std::string& prefix() const { return prefix_; }
  Storage* base() const { return base_; }

 private:
  // Checks `rel` and returns the full key; `allow_empty` for List's root.
  Result<std::string> Expand(std::string_view rel, bool allow_empty) const;

  Storage* base_;
  std::string prefix_;
};

}  // namespace tresor
