#include "engines/transit/key_store.h"

#include "common/json.h"
#include "common/random.h"
#include "common/secure.h"

namespace tresor::transit {
namespace {
std::string PolicyKey(const std::string& name) { return "policy/" + name; }
}  // namespace

Status KeyStore::Persist(const Policy& p) {
  std::string raw = p.ToJson().dump();
  Status st = storage_->Put(PolicyKey(p.name), raw);
  Wipe(raw);
  return st;
}

Result<std::shared_ptr<KeyStore::Entry>> KeyStore::Load(const std::string& name) {
  {
    std::shared_lock lk(mu_);
    auto it = entries_.find(name);
    if (it != entries_.end()) return it->second;
  }
  ASSIGN_OR_RETURN(auto raw, storage_->Get(PolicyKey(name)));
  if (!raw) return std::shared_ptr<Entry>();
  json j = ParseJsonOrDiscarded(*raw);
  Wipe(*raw);
  if (j.is_discarded()) return Status::Corruption("stored transit key is not JSON");
  ASSIGN_OR_RETURN(std::shared_ptr<Policy> p, Policy::FromJson(j));
  if (p->name.empty()) p->name = name;
  auto e = std::make_shared<Entry>();
  e->Store(std::move(p));
  std::unique_lock lk(mu_);
  auto [it, inserted] = entries_.emplace(name, e);  // a concurrent loader may have won
  std::shared_ptr<Entry> result = it->second;         // eviction below may erase `it`
  lk.unlock();
  if (inserted) EvictIfNeeded();
  return result;
}

Result<PolicyPtr> KeyStore::Get(const std::string& name) {
  ASSIGN_OR_RETURN(auto e, Load(name));
  if (!e) return PolicyPtr();
  return e->Load();
}

Result<std::pair<PolicyPtr, bool>> KeyStore::GetOrCreate(
    const std::string& name, const std::function<Result<std::shared_ptr<Policy>>()>& make) {
  ASSIGN_OR_RETURN(PolicyPtr existing, Get(name));
  if (existing) return std::make_pair(existing, false);
  std::lock_guard cl(create_mu_);
  ASSIGN_OR_RETURN(existing, Get(name));
  if (existing) return std::make_pair(existing, false);
  ASSIGN_OR_RETURN(std::shared_ptr<Policy> p, make());
  p->name = name;
  RETURN_IF_ERROR(Persist(*p));
  auto e = std::make_shared<Entry>();
  PolicyPtr snap = p;
  e->Store(snap);
  {
    std::unique_lock lk(mu_);
    entries_[name] = e;
  }
  EvictIfNeeded();
  return std::make_pair(snap, true);
}

Result<PolicyPtr> KeyStore::Update(const std::string& name, const std::function<Status(Policy&)>& mutate) {
  ASSIGN_OR_RETURN(auto e, Load(name));
  if (!e) return PolicyPtr();
  std::lock_guard wl(e->write_mu);
  if (e->deleted) return PolicyPtr();
  auto copy = std::make_shared<Policy>(*e->Load());
  RETURN_IF_ERROR(mutate(*copy));
  // Versions below min_available_version are gone for good.
  for (auto it = copy->keys.begin(); it != copy->keys.end();) {
    if (it->first < copy->min_available_version) it = copy->keys.erase(it);
    else ++it;
  }
  RETURN_IF_ERROR(Persist(*copy));
  PolicyPtr snap = copy;
  e->Store(snap);
  return snap;
}

Status KeyStore::Delete(const std::string& name, const std::function<Status(const Policy&)>& allowed) {
  std::lock_guard cl(create_mu_);
  ASSIGN_OR_RETURN(auto e, Load(name));
  if (!e) return Status::NotFound();
  std::lock_guard wl(e->write_mu);
  RETURN_IF_ERROR(allowed(*e->Load()));
  RETURN_IF_ERROR(storage_->Delete(PolicyKey(name)));
  RETURN_IF_ERROR(storage_->Delete("archive/" + name));
  e->deleted = true;
  std::unique_lock lk(mu_);
  entries_.erase(name);
  return Status::Ok();
}

Status KeyStore::Put(std::shared_ptr<Policy> p) {
  std::lock_guard cl(create_mu_);
  RETURN_IF_ERROR(Persist(*p));
  auto e = std::make_shared<Entry>();
  e->Store(PolicyPtr(std::move(p)));
  std::string name = e->Load()->name;
  {
    std::unique_lock lk(mu_);
    entries_[name] = e;
  }
  EvictIfNeeded();
  return Status::Ok();
}

Result<std::vector<std::string>> KeyStore::List() {
  ASSIGN_OR_RETURN(auto names, storage_->List("policy/"));
  std::vector<std::string> out;
  for (auto& n : names)
    if (!n.empty() && n.back() != '/') out.push_back(n);
  return out;
}

void KeyStore::SetCacheSize(int64_t n) {
  cache_size_.store(n);
  EvictIfNeeded();
}

void KeyStore::EvictIfNeeded() {
  int64_t limit = cache_size_.load();
  if (limit <= 0) return;
  std::unique_lock lk(mu_);
  while (int64_t(entries_.size()) > limit) {
    // No recency tracking: evicting any entry only costs a storage read later.
    auto it = entries_.begin();
    std::advance(it, long(RandomUint64(entries_.size())));
    entries_.erase(it);
  }
}

void KeyStore::Clear() {
  std::unique_lock lk(mu_);
  entries_.clear();
}

}  // namespace tresor::transit
