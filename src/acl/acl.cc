#include "acl/acl.h"

#include <algorithm>

#include "common/strings.h"

namespace tresor::acl {
namespace {

using logical::Operation;
using nlohmann::json;

// Combines parameter constraints of two rules for the same pattern: an empty value list
// (any value) absorbs everything, otherwise the value lists are concatenated.
void MergeParams(std::optional<ParamMap>* into, const std::optional<ParamMap>& from) {
  if (!from || from->empty()) return;
  if (!*into) {
    *into = *from;
    return;
  }
  for (const auto& [k, v] : *from) {
    auto it = (*into)->find(k);
    if (v.empty() || (it != (*into)->end() && it->second.empty())) {
      (**into)[k] = {};
    } else {
      auto& slot = (**into)[k];
      slot.insert(slot.end(), v.begin(), v.end());
    }
  }
}

void Merge(Permissions* existing, const Permissions& add) {
  if (existing->caps & kDeny) return;
  if (add.caps & kDeny) {
    *existing = Permissions{};
    existing->caps = kDeny;
    return;
  }
  existing->caps |= add.caps;
  // Wrapping TTL bounds: the lesser of two bounds wins, as in Vault.
  if (add.max_wrapping_ttl > 0 &&
      (existing->max_wrapping_ttl == 0 || add.max_wrapping_ttl < existing->max_wrapping_ttl))
    existing->max_wrapping_ttl = add.max_wrapping_ttl;
  if (add.min_wrapping_ttl > 0 &&
      (existing->min_wrapping_ttl == 0 || add.min_wrapping_ttl < existing->min_wrapping_ttl))
    existing->min_wrapping_ttl = add.min_wrapping_ttl;
  MergeParams(&existing->allowed_parameters, add.allowed_parameters);
  MergeParams(&existing->denied_parameters, add.denied_parameters);
  for (const auto& r : add.required_parameters)
    if (std::find(existing->required_parameters.begin(), existing->required_parameters.end(), r) ==
        existing->required_parameters.end())
      existing->required_parameters.push_back(r);
}

bool ValueInList(const json& v, const std::vector<json>& list) {
  for (const auto& el : list) {
    if (el.is_null() || v.is_null()) {
      if (el.is_null() && v.is_null()) return true;
    } else if (el.is_string()) {
      if (v.is_string() && GlobbedStringsMatch(el.get_ref<const std::string&>(), v.get_ref<const std::string&>()))
        return true;
    } else if (el == v) {
      return true;
    }
  }
  return false;
}

// A string value may be a comma-separated list (framework comma-string slices): its pieces
// are checked one by one, so "a,b" cannot smuggle a denied "b" past a denied-values list.
std::vector<json> Elements(const json& v) {
  std::vector<json> out;
  if (v.is_array()) {
    for (const auto& e : v) out.push_back(e);
  } else if (v.is_string()) {
    for (const auto& piece : Split(v.get_ref<const std::string&>(), ','))
      out.push_back(std::string(TrimSpace(piece)));
  }
  return out;
}

bool ValueAllowed(const json& v, const std::vector<json>& list) {
  if (list.empty() || ValueInList(v, list)) return true;
  if (!v.is_array() && !v.is_string()) return false;
  auto elems = Elements(v);
  if (elems.empty()) return false;
  for (const auto& e : elems)
    if (!ValueInList(e, list)) return false;
  return true;
}

bool ValueDenied(const json& v, const std::vector<json>& list) {
  if (list.empty() || ValueInList(v, list)) return true;
  for (const auto& e : Elements(v))
    if (ValueInList(e, list)) return true;
  return false;
}

bool ParametersAllowed(const Permissions& p, const json& data) {
  for (const auto& r : p.required_parameters)
    if (!data.is_object() || !data.contains(ToLower(r))) return false;
  if (!data.is_object() || data.empty()) return true;
  if (p.denied_parameters && !p.denied_parameters->empty()) {
    if (p.denied_parameters->count("*")) return false;
    for (const auto& [k, v] : data.items()) {
      auto it = p.denied_parameters->find(ToLower(k));
      if (it != p.denied_parameters->end() && ValueDenied(v, it->second)) return false;
    }
  }
  if (!p.allowed_parameters || p.allowed_parameters->empty()) return true;
  bool allowed_all = p.allowed_parameters->count("*") > 0;
  if (allowed_all && p.allowed_parameters->size() == 1) return true;
  for (const auto& [k, v] : data.items()) {
    auto it = p.allowed_parameters->find(ToLower(k));
    if (it == p.allowed_parameters->end()) {
      if (!allowed_all) return false;
      continue;
    }
    if (!ValueAllowed(v, it->second)) return false;
  }
  return true;
}

}  // namespace

std::shared_ptr<const Acl> Acl::Build(const std::vector<std::shared_ptr<const Policy>>& policies) {
  auto a = std::make_shared<Acl>();
  std::unordered_map<std::string, Permissions> prefixes;
  std::unordered_map<std::string, Permissions> wildcards;
  for (const auto& p : policies) {
    if (!p) continue;
    if (p->name == "root") a->root_ = true;
    for (const auto& rule : p->paths) {
      auto& table = rule.has_segment_wildcards ? wildcards : rule.is_prefix ? prefixes : a->exact_;
      auto it = table.find(rule.path);
      if (it == table.end()) table.emplace(rule.path, rule.perms);
      else Merge(&it->second, rule.perms);
    }
  }
  for (auto& [k, v] : prefixes) a->prefixes_.push_back({k, std::move(v)});
  std::sort(a->prefixes_.begin(), a->prefixes_.end(), [](const Prefix& x, const Prefix& y) {
    return x.prefix.size() != y.prefix.size() ? x.prefix.size() > y.prefix.size() : x.prefix < y.prefix;
  });
  for (auto& [k, v] : wildcards) {
    Wildcard w;
    w.pattern = k;
    std::string body = k;
    if (!body.empty() && body.back() == '*') {
      w.is_prefix = true;
      body.pop_back();
    }
    w.segments = Split(body, '/');
    w.first_wildcard = int(k.find('+'));
    for (const auto& s : w.segments) w.wildcards += s == "+";
    w.perms = std::move(v);
    a->wildcards_.push_back(std::move(w));
  }
  std::sort(a->wildcards_.begin(), a->wildcards_.end(),
            [](const Wildcard& x, const Wildcard& y) { return x.pattern < y.pattern; });
  return a;
}

const Permissions* Acl::FindNonExact(const std::string& path) const {
  // Candidate descriptors, compared with Vault's priority rules.
  struct Cand {
    int first;
    bool is_prefix;
    int wildcards;
    const std::string* text;  // pattern without a trailing '*'
    size_t text_len;
    const Permissions* perms;
  };
  auto higher = [](const Cand& a, const Cand& b) {  // a strictly higher priority than b
    if (a.first != b.first) return a.first > b.first;
    if (a.is_prefix != b.is_prefix) return !a.is_prefix;
    if (a.wildcards != b.wildcards) return a.wildcards < b.wildcards;
    if (a.text_len != b.text_len) return a.text_len > b.text_len;
    return std::string_view(*a.text).substr(0, a.text_len) > std::string_view(*b.text).substr(0, b.text_len);
  };
  std::optional<Cand> best;
  for (const auto& p : prefixes_) {
    if (path.compare(0, p.prefix.size(), p.prefix) == 0) {
      best = Cand{int(p.prefix.size()), true, 0, &p.prefix, p.prefix.size(), &p.perms};
      break;  // longest first
    }
  }
  if (wildcards_.empty()) return best ? best->perms : nullptr;
  std::vector<std::string> parts = Split(path, '/');
  for (const auto& w : wildcards_) {
    if (parts.size() < w.segments.size()) continue;
    if (!w.is_prefix && parts.size() != w.segments.size()) continue;
    bool match = true;
    for (size_t i = 0; i < w.segments.size() && match; ++i) {
      const std::string& seg = w.segments[i];
      if (seg == "+" || seg == parts[i]) continue;
      if (w.is_prefix && i + 1 == w.segments.size() && parts[i].compare(0, seg.size(), seg) == 0) continue;
      match = false;
    }
    if (!match) continue;
    Cand c{w.first_wildcard, w.is_prefix, w.wildcards, &w.pattern, w.pattern.size() - (w.is_prefix ? 1 : 0),
           &w.perms};
    if (!best || higher(c, *best)) best = c;
  }
  return best ? best->perms : nullptr;
}

const Permissions* Acl::Find(const std::string& path, bool list) const {
  if (auto it = exact_.find(path); it != exact_.end()) return &it->second;
  if (list && !path.empty() && path.back() == '/') {
    if (auto it = exact_.find(path.substr(0, path.size() - 1)); it != exact_.end()) return &it->second;
  }
  return FindNonExact(path);
}

Decision Acl::Allow(Operation op, const std::string& raw_path, const json& data, int64_t wrap_ttl) const {
  Decision d;
  if (root_) {
    d.allowed = d.sudo = d.root = true;
    return d;
  }
  if (op == Operation::kHelp) {
    d.allowed = true;
    return d;
  }
  size_t skip = 0;
  while (skip < raw_path.size() && raw_path[skip] == '/') ++skip;
  const std::string path = skip ? raw_path.substr(skip) : raw_path;
  const Permissions* p = Find(path, op == Operation::kList);
  if (!p) return d;
  d.caps = p->caps;
  d.sudo = (p->caps & kSudo) != 0;
  uint32_t need = 0;
  switch (op) {
    case Operation::kRead: need = kRead; break;
    case Operation::kList: need = kList; break;
    case Operation::kUpdate: need = kUpdate; break;
    case Operation::kDelete: need = kDelete; break;
    case Operation::kCreate: need = kCreate; break;
    case Operation::kPatch: need = kPatch; break;
    case Operation::kRenew:
    case Operation::kRevoke: need = kUpdate; break;
    default: return d;
  }
  if (!(p->caps & need) || (p->caps & kDeny)) return d;
  if (p->max_wrapping_ttl > 0 && (wrap_ttl == 0 || wrap_ttl > p->max_wrapping_ttl)) return d;
  if (p->min_wrapping_ttl > 0 && (wrap_ttl == 0 || wrap_ttl < p->min_wrapping_ttl)) return d;
  if (p->min_wrapping_ttl && p->max_wrapping_ttl && p->max_wrapping_ttl < p->min_wrapping_ttl) return d;
  if (op == Operation::kRead || op == Operation::kUpdate || op == Operation::kCreate || op == Operation::kPatch) {
    if (!ParametersAllowed(*p, data)) return d;
  }
  d.allowed = true;
  return d;
}

std::vector<std::string> Acl::Capabilities(const std::string& raw_path) const {
  if (root_) return {"root"};
  size_t skip = 0;
  while (skip < raw_path.size() && raw_path[skip] == '/') ++skip;
  const Permissions* p = Find(raw_path.substr(skip), true);
  auto names = CapabilityNames(p ? p->caps : 0);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace tresor::acl
