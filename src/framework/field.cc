#include "framework/field.h"

#include <cmath>

#include "common/duration.h"
#include "common/strings.h"

namespace tresor::framework {
namespace {

Status Fail(const std::string& why) { return Status::InvalidRequest("Field validation failed: " + why); }

Result<int64_t> ToInt(const json& raw) {
  if (raw.is_number_integer()) return raw.get<int64_t>();
  if (raw.is_number_float()) {
    double d = raw.get<double>();
    if (std::floor(d) != d) return Fail("cannot parse '" + raw.dump() + "' as int");
    return int64_t(d);
  }
  if (raw.is_string()) {
    const std::string& s = raw.get_ref<const std::string&>();
    if (s.empty()) return int64_t(0);
    try {
      size_t pos = 0;
      long long v = std::stoll(s, &pos, 0);
      if (pos == s.size()) return int64_t(v);
    } catch (...) {
    }
    return Fail("cannot parse '" + s + "' as int");
  }
  if (raw.is_boolean()) return int64_t(raw.get<bool>() ? 1 : 0);
  return Fail("cannot parse value as int");
}

Result<bool> ToBool(const json& raw) {
  if (raw.is_boolean()) return raw.get<bool>();
  if (raw.is_number()) return raw.get<double>() != 0;
  if (raw.is_string()) {
    const std::string& s = raw.get_ref<const std::string&>();
    if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True") return true;
    if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" || s == "False" || s.empty())
      return false;
    return Fail("cannot parse '" + s + "' as bool");
  }
  return Fail("cannot parse value as bool");
}

Result<json> ToStringSlice(const json& raw, bool split_commas) {
  json out = json::array();
  if (raw.is_null()) return out;
  if (raw.is_array()) {
    for (const auto& v : raw) {
      if (v.is_string()) out.push_back(split_commas ? std::string(TrimSpace(v.get<std::string>())) : v.get<std::string>());
      else if (v.is_number() || v.is_boolean()) out.push_back(v.dump());
      else return Fail("expected a list of strings");
    }
    return out;
  }
  if (raw.is_string()) {
    const std::string& s = raw.get_ref<const std::string&>();
    if (s.empty()) return out;
    if (!split_commas) {
      out.push_back(s);
      return out;
    }
    for (auto& p : Split(s, ',')) out.push_back(std::string(TrimSpace(p)));
    return out;
  }
  if (raw.is_number() || raw.is_boolean()) {
    out.push_back(raw.dump());
    return out;
  }
  return Fail("expected a list of strings");
}

}  // namespace

json ZeroValue(FieldType type) {
  switch (type) {
    case FieldType::kString:
    case FieldType::kLowerCaseString:
    case FieldType::kNameString: return "";
    case FieldType::kInt:
    case FieldType::kDurationSecond: return 0;
    case FieldType::kFloat: return 0.0;
    case FieldType::kBool: return false;
    case FieldType::kCommaStringSlice:
    case FieldType::kStringSlice:
    case FieldType::kCommaIntSlice: return json::array();
    case FieldType::kMap:
    case FieldType::kKVPairs:
    case FieldType::kHeader: return json::object();
    case FieldType::kRaw: return nullptr;
  }
  return nullptr;
}

Result<json> ConvertField(FieldType type, const json& raw) {
  switch (type) {
    case FieldType::kString:
    case FieldType::kLowerCaseString:
    case FieldType::kNameString: {
      std::string s;
      if (raw.is_string()) s = raw.get<std::string>();
      else if (raw.is_number() || raw.is_boolean()) s = raw.dump();
      else if (raw.is_null()) s = "";
      else return Fail("expected a string");
      if (type == FieldType::kLowerCaseString) s = ToLower(s);
      if (type == FieldType::kNameString && !s.empty() && !IsGenericName(s))
        return Fail("invalid name '" + s + "'");
      return json(std::move(s));
    }
    case FieldType::kInt: {
      ASSIGN_OR_RETURN(int64_t v, ToInt(raw));
      return json(v);
    }
    case FieldType::kFloat: {
      if (raw.is_number()) return json(raw.get<double>());
      if (raw.is_string()) {
        try {
          return json(std::stod(raw.get<std::string>()));
        } catch (...) {
        }
      }
      return Fail("cannot parse value as float");
    }
    case FieldType::kBool: {
      ASSIGN_OR_RETURN(bool v, ToBool(raw));
      return json(v);
    }
    case FieldType::kDurationSecond: {
      if (raw.is_string() && raw.get_ref<const std::string&>().empty()) return json(0);
      auto v = ParseDurationJson(raw);
      if (!v) return Fail("cannot parse '" + (raw.is_string() ? raw.get<std::string>() : raw.dump()) +
                          "' as a duration");
      return json(*v);
    }
    case FieldType::kCommaStringSlice: return ToStringSlice(raw, true);
    case FieldType::kStringSlice: return ToStringSlice(raw, false);
    case FieldType::kCommaIntSlice: {
      ASSIGN_OR_RETURN(json strs, ToStringSlice(raw, true));
      json out = json::array();
      for (auto& s : strs) {
        ASSIGN_OR_RETURN(int64_t v, ToInt(s));
        out.push_back(v);
      }
      return out;
    }
    case FieldType::kMap: {
      if (raw.is_object()) return raw;
      if (raw.is_null()) return json::object();
      if (raw.is_string()) {
        auto parsed = json::parse(raw.get<std::string>(), nullptr, false);
        if (!parsed.is_discarded() && parsed.is_object()) return parsed;
      }
      return Fail("expected a map");
    }
    case FieldType::kKVPairs: {
      json out = json::object();
      if (raw.is_object()) {
        for (auto& [k, v] : raw.items()) out[k] = v.is_string() ? v.get<std::string>() : v.dump();
        return out;
      }
      ASSIGN_OR_RETURN(json list, ToStringSlice(raw, false));
      for (auto& item : list) {
        std::string s = item.get<std::string>();
        auto eq = s.find('=');
        if (eq == std::string::npos) return Fail("invalid key value pair '" + s + "'");
        out[s.substr(0, eq)] = s.substr(eq + 1);
      }
      return out;
    }
    case FieldType::kHeader: {
      json out = json::object();
      if (!raw.is_object()) return Fail("expected a map of headers");
      for (auto& [k, v] : raw.items()) {
        ASSIGN_OR_RETURN(json vals, ToStringSlice(v, false));
        out[k] = vals;
      }
      return out;
    }
    case FieldType::kRaw: return raw;
  }
  return Fail("unknown field type");
}

FieldData::FieldData(const FieldSchema* schema, const json& raw, std::map<std::string, std::string> captures)
    : schema_(schema), raw_(raw), captures_(std::move(captures)) {
  for (auto& [k, v] : captures_) capture_json_[k] = v;
}

const json* FieldData::Lookup(const std::string& name) const {
  auto c = capture_json_.find(name);
  if (c != capture_json_.end()) return &c->second;
  if (raw_.is_object()) {
    auto it = raw_.find(name);
    if (it != raw_.end()) return &*it;
  }
  return nullptr;
}

Status FieldData::Validate() const {
  if (!schema_) return Status::Ok();
  for (const auto& [name, field] : *schema_) {
    const json* v = Lookup(name);
    if (!v) {
      if (field.required) return Status::InvalidRequest("missing required field '" + name + "'");
      continue;
    }
    // Valid as sent; converting would only copy (bodies carry kilobytes of base64 here).
    if ((field.type == FieldType::kString && v->is_string()) || field.type == FieldType::kRaw) continue;
    auto r = ConvertField(field.type, *v);
    if (!r.ok()) {
      return Status::InvalidRequest(r.status().message() + " (field '" + name + "')");
    }
  }
  return Status::Ok();
}

json FieldData::Get(const std::string& name) const {
  auto it = schema_ ? schema_->find(name) : decltype(schema_->end()){};
  if (!schema_ || it == schema_->end()) {
    const json* v = Lookup(name);
    return v ? *v : json();
  }
  const json* v = Lookup(name);
  if (v) {
    auto r = ConvertField(it->second.type, *v);
    if (r.ok()) return std::move(r).value();
  }
  if (!it->second.default_value.is_null()) {
    auto r = ConvertField(it->second.type, it->second.default_value);
    if (r.ok()) return std::move(r).value();
  }
  return ZeroValue(it->second.type);
}

std::optional<json> FieldData::GetOk(const std::string& name) const {
  if (!Lookup(name)) return std::nullopt;
  return Get(name);
}

bool FieldData::Has(const std::string& name) const { return Lookup(name) != nullptr; }

std::string FieldData::GetString(const std::string& name) const {
  if (schema_) {  // the common case, a string sent as a string: one copy, no conversion
    auto it = schema_->find(name);
    const json* raw = it != schema_->end() && it->second.type == FieldType::kString ? Lookup(name) : nullptr;
    if (raw && raw->is_string()) return raw->get<std::string>();
  }
  json v = Get(name);
  return v.is_string() ? v.get<std::string>() : (v.is_null() ? "" : v.dump());
}

int64_t FieldData::GetInt(const std::string& name) const {
  json v = Get(name);
  return v.is_number() ? v.get<int64_t>() : 0;
}

bool FieldData::GetBool(const std::string& name) const {
  json v = Get(name);
  return v.is_boolean() ? v.get<bool>() : false;
}

std::vector<std::string> FieldData::GetStrings(const std::string& name) const {
  json v = Get(name);
  std::vector<std::string> out;
  if (v.is_array())
    for (auto& s : v)
      if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

std::map<std::string, std::string> FieldData::GetStringMap(const std::string& name) const {
  json v = Get(name);
  std::map<std::string, std::string> out;
  if (v.is_object())
    for (auto& [k, x] : v.items()) out[k] = x.is_string() ? x.get<std::string>() : x.dump();
  return out;
}

std::vector<std::string> FieldData::Unrecognized() const {
  std::vector<std::string> out;
  if (!raw_.is_object()) return out;
  for (auto& [k, v] : raw_.items()) {
    if (schema_ && schema_->count(k)) continue;
    if (captures_.count(k)) continue;
    out.push_back(k);
  }
  return out;  // json objects iterate in sorted order
}

}  // namespace tresor::framework
