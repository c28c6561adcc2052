#include "storage/inmem_storage.h"

#include <mutex>

#include "storage/list_children.h"

namespace tresor {

namespace {
Status CheckKey(std::string_view key) {
  if (key.empty()) return Status::InvalidRequest("empty storage key");
  return Status::Ok();
}
}  // namespace

Result<std::optional<std::string>> InmemStorage::Get(std::string_view key) {
  RETURN_IF_ERROR(CheckKey(key));
  std::shared_lock lock(mu_);
  auto it = data_.find(key);
  if (it == data_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status InmemStorage::Put(std::string_view key, std::string_view value) {
  RETURN_IF_ERROR(CheckKey(key));
  std::unique_lock lock(mu_);
  auto it = data_.find(key);
  if (it == data_.end()) {
    data_.emplace(std::string(key), std::string(value));
  } else {
    it->second.assign(value);
  }
  return Status::Ok();
}

Status InmemStorage::Delete(std::string_view key) {
  RETURN_IF_ERROR(CheckKey(key));
  std::unique_lock lock(mu_);
  auto it = data_.find(key);
  if (it != data_.end()) data_.erase(it);
  return Status::Ok();
}

Result<std::vector<std::string>> InmemStorage::List(std::string_view prefix, const ListOptions& opts) {
  std::shared_lock lock(mu_);
  return storage_internal::ListChildren(
      prefix, opts, [this](std::string_view target) -> Result<std::optional<std::string_view>> {
        auto it = data_.lower_bound(target);
        if (it == data_.end()) return std::optional<std::string_view>();
        return std::optional<std::string_view>(it->first);
      });
}

Status InmemStorage::Transaction(const std::vector<TxnOp>& ops) {
  // Validate everything first so the apply loop cannot fail halfway.
  for (const TxnOp& op : ops) RETURN_IF_ERROR(CheckKey(op.key));
  std::unique_lock lock(mu_);
  for (const TxnOp& op : ops) {
    if (op.kind == TxnOp::Kind::kPut) {
      data_[op.key] = op.value;
    } else {
      data_.erase(op.key);
    }
  }
  return Status::Ok();
}

}  // namespace tresor
