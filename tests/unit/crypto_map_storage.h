// MapStorage: a minimal std::map-backed Storage for the barrier and seal tests, so they do
// not depend on the storage module. Thread-safe (one mutex). Also counts operations and
// lets a test fail the next write.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "storage/storage.h"

namespace tresor::testing {

class MapStorage : public Storage {
 public:
  Result<std::optional<std::string>> Get(std::string_view key) override {
    std::lock_guard l(mu_);
    auto it = m_.find(std::string(key));
    if (it == m_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Status Put(std::string_view key, std::string_view value) override {
    std::lock_guard l(mu_);
    if (fail_writes_) return Status::IOError("injected failure");
    m_[std::string(key)] = std::string(value);
    return Status::Ok();
  }
  Status Delete(std::string_view key) override {
    std::lock_guard l(mu_);
    if (fail_writes_) return Status::IOError("injected failure");
    m_.erase(std::string(key));
    return Status::Ok();
  }
  Result<std::vector<std::string>> List(std::string_view prefix, const ListOptions& opts = {}) override {
    std::lock_guard l(mu_);
    std::set<std::string> kids;
    for (auto it = m_.lower_bound(std::string(prefix)); it != m_.end(); ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) break;
      std::string rest = it->first.substr(prefix.size());
      auto slash = rest.find('/');
      kids.insert(slash == std::string::npos ? rest : rest.substr(0, slash + 1));
    }
    std::vector<std::string> out;
    for (const auto& k : kids) {
      if (!opts.after.empty() && k <= opts.after) continue;
      if (opts.limit > 0 && int(out.size()) >= opts.limit) break;
      out.push_back(k);
    }
    return out;
  }
  Status Transaction(const std::vector<TxnOp>& ops) override {
    std::lock_guard l(mu_);
    if (fail_writes_) return Status::IOError("injected failure");
    for (const auto& op : ops) {
      if (op.kind == TxnOp::Kind::kPut) {
        m_[op.key] = op.value;
      } else {
        m_.erase(op.key);
      }
    }
    return Status::Ok();
  }

  std::map<std::string, std::string> Snapshot() {
    std::lock_guard l(mu_);
    return m_;
  }
  void RawPut(const std::string& k, const std::string& v) {
    std::lock_guard l(mu_);
    m_[k] = v;
  }
  void set_fail_writes(bool f) {
    std::lock_guard l(mu_);
    fail_writes_ = f;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> m_;
  bool fail_writes_ = false;
};

}  // namespace tresor::testing
