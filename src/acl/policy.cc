#include "acl/policy.h"

#include <algorithm>

#include "common/duration.h"
#include "common/strings.h"
#include "hcl/hcl.h"

namespace tresor::acl {
namespace {

using nlohmann::json;

Status Fail(const std::string& msg) { return Status::InvalidRequest("failed to parse policy: " + msg); }

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

Status InvalidKey(std::string_view prefix, std::string_view key, const hcl::Pos& pos) {
  return Fail(std::string(prefix) + "invalid key " + Quote(key) + " on line " + std::to_string(pos.line));
}

// Every key in `body` (attributes and blocks) must be in `valid`.
Status CheckKeys(const hcl::Body& body, const std::vector<std::string_view>& valid, std::string_view prefix) {
  auto ok = [&](std::string_view k) { return std::find(valid.begin(), valid.end(), k) != valid.end(); };
  for (const auto& a : body.attributes)
    if (!ok(a.name)) return InvalidKey(prefix, a.name, a.pos);
  for (const auto& b : body.blocks)
    if (!ok(b.type)) return InvalidKey(prefix, b.type, b.pos);
  return Status::Ok();
}

// A list of strings, or a single string taken as one element.
Result<std::vector<std::string>> StringList(const hcl::Value& v, const std::string& what) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.string_value);
    return out;
  }
  if (!v.is_list()) return Status::InvalidRequest(what + " must be a list of strings");
  for (const auto& e : v.list) {
    if (!e.is_string()) return Status::InvalidRequest(what + " must be a list of strings");
    out.push_back(e.string_value);
  }
  return out;
}

Result<int64_t> DurationValue(const hcl::Value& v, const std::string& what) {
  std::optional<int64_t> d;
  if (v.is_int()) d = v.int_value >= 0 ? std::optional<int64_t>(v.int_value) : std::nullopt;
  else if (v.is_string()) d = ParseDurationSeconds(v.string_value);
  if (!d) return Status::InvalidRequest("error parsing " + what + ": invalid duration");
  return *d;
}

// allowed_parameters / denied_parameters: one or more `{ "name" = [values] }` objects.
Result<ParamMap> ParamClause(const hcl::Body& content, std::string_view clause) {
  ASSIGN_OR_RETURN(auto blocks, content.BlocksOf(clause, 0));
  ParamMap out;
  for (const auto& b : blocks) {
    for (const auto& a : b.content().attributes) {
      std::vector<json> values;
      if (a.value.is_list()) {
        for (const auto& e : a.value.list) values.push_back(hcl::ToJson(e));
      } else if (!a.value.is_null()) {
        values.push_back(hcl::ToJson(a.value));
      }
      auto& slot = out[ToLower(a.name)];
      slot.insert(slot.end(), values.begin(), values.end());
    }
    if (!b.content().blocks.empty())
      return Status::InvalidRequest(std::string(clause) + ": parameter values must be lists");
  }
  return out;
}

Result<PathRule> ParsePathBlock(const hcl::Block& block) {
  const std::string& key = block.labels[0];
  const hcl::Body& body = block.content();
  std::string prefix = "path " + Quote(key) + ": ";
  RETURN_IF_ERROR(CheckKeys(body,
                            {"comment", "policy", "capabilities", "allowed_parameters", "denied_parameters",
                             "required_parameters", "min_wrapping_ttl", "max_wrapping_ttl", "mfa_methods",
                             "control_group"},
                            prefix));
  auto wrap = [&](const Status& st) { return Fail(prefix + st.message()); };

  PathRule rule;
  rule.path = key;
  if (!rule.path.empty() && rule.path.front() == '/') rule.path.erase(0, 1);
  if (rule.path.find("+*") != std::string::npos)
    return Fail("path " + Quote(rule.path) + ": invalid use of wildcards ('+*' is forbidden)");
  rule.has_segment_wildcards = rule.path == "+" || rule.path.find("/+") != std::string::npos ||
                               rule.path.rfind("+/", 0) == 0;
  if (!rule.path.empty() && rule.path.back() == '*' && !rule.has_segment_wildcards) {
    rule.path.pop_back();
    rule.is_prefix = true;
  }

  std::vector<std::string> caps;
  if (const auto* pol = body.Attr("policy")) {
    if (!pol->value.is_string()) return wrap(Status::InvalidRequest("policy must be a string"));
    const std::string& p = pol->value.string_value;
    if (p == "deny") caps = {"deny"};
    else if (p == "read") caps = {"read", "list"};
    else if (p == "write") caps = {"create", "read", "update", "delete", "list"};
    else if (p == "sudo") caps = {"create", "read", "update", "delete", "list", "sudo"};
    else return Fail("path " + Quote(key) + ": invalid policy " + Quote(p));
  }
  if (const auto* c = body.Attr("capabilities")) {
    auto list = StringList(c->value, "capabilities");
    if (!list.ok()) return wrap(list.status());
    // The shorthand's capabilities come first, as Vault appends to them; order is irrelevant.
    caps.insert(caps.end(), list->begin(), list->end());
  }
  static const std::pair<const char*, uint32_t> kCaps[] = {
      {"create", kCreate}, {"read", kRead},   {"update", kUpdate}, {"delete", kDelete},
      {"list", kList},     {"sudo", kSudo},   {"patch", kPatch},   {"scan", kScan}};
  for (const auto& c : caps) {
    if (c == "deny") {
      rule.perms.caps = kDeny;
      return rule;  // a deny carries nothing else
    }
    bool known = false;
    for (const auto& [n, bit] : kCaps) {
      if (c == n) {
        rule.perms.caps |= bit;
        known = true;
      }
    }
    if (!known) return Fail("path " + Quote(key) + ": invalid capability " + Quote(c));
  }

  for (std::string_view clause : {"allowed_parameters", "denied_parameters"}) {
    bool present = false;
    for (const auto& a : body.attributes) present = present || a.name == clause;
    for (const auto& b : body.blocks) present = present || b.type == clause;
    if (!present) continue;
    auto m = ParamClause(body, clause);
    if (!m.ok()) return wrap(m.status());
    (clause == "allowed_parameters" ? rule.perms.allowed_parameters : rule.perms.denied_parameters) = std::move(*m);
  }
  if (const auto* r = body.Attr("required_parameters")) {
    auto list = StringList(r->value, "required_parameters");
    if (!list.ok()) return wrap(list.status());
    rule.perms.required_parameters = std::move(*list);
  }
  if (const auto* m = body.Attr("min_wrapping_ttl")) {
    auto d = DurationValue(m->value, "min_wrapping_ttl");
    if (!d.ok()) return Fail(d.status().message());
    rule.perms.min_wrapping_ttl = *d;
  }
  if (const auto* m = body.Attr("max_wrapping_ttl")) {
    auto d = DurationValue(m->value, "max_wrapping_ttl");
    if (!d.ok()) return Fail(d.status().message());
    rule.perms.max_wrapping_ttl = *d;
  }
  if (rule.perms.min_wrapping_ttl && rule.perms.max_wrapping_ttl &&
      rule.perms.max_wrapping_ttl < rule.perms.min_wrapping_ttl)
    return Fail("max_wrapping_ttl cannot be less than min_wrapping_ttl");
  return rule;
}

}  // namespace

std::vector<std::string> CapabilityNames(uint32_t bits) {
  std::vector<std::string> out;
  if (bits & kDeny) return {"deny"};
  static const std::pair<uint32_t, const char*> kOrder[] = {
      {kSudo, "sudo"}, {kRead, "read"},     {kList, "list"},   {kUpdate, "update"},
      {kDelete, "delete"}, {kCreate, "create"}, {kPatch, "patch"}, {kScan, "scan"}};
  for (const auto& [bit, name] : kOrder)
    if (bits & bit) out.push_back(name);
  if (out.empty()) out.push_back("deny");
  return out;
}

std::string NormalizePolicyName(std::string_view name) { return ToLower(name); }

bool GlobbedStringsMatch(std::string_view item, std::string_view val) {
  if (item.size() < 2) return val == item;
  bool pre = item.front() == '*', suf = item.back() == '*';
  if (pre && suf) return val.find(item.substr(1, item.size() - 2)) != std::string_view::npos;
  if (pre) return val.size() >= item.size() - 1 && val.substr(val.size() - (item.size() - 1)) == item.substr(1);
  if (suf) return val.substr(0, item.size() - 1) == item.substr(0, item.size() - 1);
  return val == item;
}

Result<Policy> ParsePolicy(std::string_view name, std::string_view text) {
  auto body = hcl::Parse(text, "policy");
  if (!body.ok()) return Fail(body.status().message());
  RETURN_IF_ERROR(CheckKeys(*body, {"name", "path"}, ""));
  Policy p;
  p.name = std::string(name);
  p.raw = std::string(text);
  auto blocks = body->BlocksOf("path", 1);
  if (!blocks.ok()) return Fail(blocks.status().message());
  for (const auto& b : *blocks) {
    ASSIGN_OR_RETURN(auto rule, ParsePathBlock(b));
    p.paths.push_back(std::move(rule));
  }
  return p;
}

}  // namespace tresor::acl
