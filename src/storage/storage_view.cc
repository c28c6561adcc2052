#include "storage/storage_view.h"

#include <cassert>

#include <openssl/crypto.h>

namespace tresor {

StorageView::StorageView(Storage* base, std::string prefix)
    : base_(base), prefix_(std::move(prefix)) {
  assert(base_ != nullptr);
  assert(!prefix_.empty() && prefix_.back() == '/');
}

Result<std::string> StorageView::Expand(std::string_view rel, bool allow_empty) const {
  if (rel.empty() && !allow_empty) return Status::InvalidRequest("empty storage key");
  if (!rel.empty() && rel.front() == '/') return Status::InvalidRequest("invalid storage key: leading '/'");
  if (rel.find('\0') != std::string_view::npos) return Status::InvalidRequest("invalid storage key");
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string_view::npos) end = rel.size();
    if (rel.substr(start, end - start) == "..") {
      return Status::InvalidRequest("invalid storage key: '..' segment");
    }
    start = end + 1;
  }
  std::string full;
  full.reserve(prefix_.size() + rel.size());
  full += prefix_;
  full += rel;
  return full;
}

Result<std::optional<std::string>> StorageView::Get(std::string_view key) {
  ASSIGN_OR_RETURN(std::string full, Expand(key, false));
  return base_->Get(full);
}

Status StorageView::Put(std::string_view key, std::string_view value) {
  ASSIGN_OR_RETURN(std::string full, Expand(key, false));
  return base_->Put(full, value);
}

Status StorageView::Delete(std::string_view key) {
  ASSIGN_OR_RETURN(std::string full, Expand(key, false));
  return base_->Delete(full);
}

Result<std::vector<std::string>> StorageView::List(std::string_view prefix, const ListOptions& opts) {
  ASSIGN_OR_RETURN(std::string full, Expand(prefix, true));
  // Children are already relative to the (full) prefix, so they need no translation.
  return base_->List(full, opts);
}

Status StorageView::Transaction(const std::vector<TxnOp>& ops) {
  std::vector<TxnOp> mapped;
  mapped.reserve(ops.size());
  for (const TxnOp& op : ops) {
    ASSIGN_OR_RETURN(std::string full, Expand(op.key, false));
    mapped.push_back(TxnOp{op.kind, std::move(full), op.value});
  }
  Status st = base_->Transaction(mapped);
  // Above the barrier these copies are plaintext.
  for (TxnOp& op : mapped) {
    if (!op.value.empty()) OPENSSL_cleanse(op.value.data(), op.value.size());
  }
  return st;
}

}  // namespace tresor
