#include "cli/flags.h"

#include <cerrno>
#include <cstdlib>

#include "common/duration.h"
#include "common/strings.h"

namespace tresor::cli {

bool ParseGoBool(const std::string& s, bool* out) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") {
    *out = true;
    return true;
  }
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False") {
    *out = false;
    return true;
  }
  return false;
}

void FlagSet::Add(const std::string& name, bool is_bool, Setter s,
                  const std::vector<std::string>& aliases) {
  Flag f{name, is_bool, std::move(s)};
  flags_[name] = f;
  for (const auto& a : aliases) flags_[a] = f;
}

void FlagSet::Bool(const std::string& name, bool* target, std::vector<std::string> aliases) {
  Add(name, true, [target](const std::string& v) {
    if (!ParseGoBool(v, target)) return Status::InvalidRequest("parse error");
    return Status::Ok();
  }, aliases);
}

void FlagSet::String(const std::string& name, std::string* target,
                     std::vector<std::string> aliases) {
  Add(name, false, [target](const std::string& v) {
    *target = v;
    return Status::Ok();
  }, aliases);
}

void FlagSet::Int(const std::string& name, int64_t* target, std::vector<std::string> aliases) {
  Add(name, false, [target](const std::string& v) {
    if (v.empty()) return Status::InvalidRequest("parse error");
    errno = 0;
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 0);
    if (*end != '\0') return Status::InvalidRequest("parse error");
    if (errno == ERANGE) return Status::InvalidRequest("value out of range");
    *target = n;
    return Status::Ok();
  }, aliases);
}

void FlagSet::Duration(const std::string& name, int64_t* target,
                       std::vector<std::string> aliases) {
  Add(name, false, [target](const std::string& v) {
    std::string t(TrimSpace(v));
    if (t.empty()) {
      *target = 0;
      return Status::Ok();
    }
    auto d = ParseDurationSeconds(t);
    if (!d) return Status::InvalidRequest("time: invalid duration \"" + t + "\"");
    *target = *d;
    return Status::Ok();
  }, aliases);
}

void FlagSet::StringSlice(const std::string& name, std::vector<std::string>* target,
                          std::vector<std::string> aliases) {
  Add(name, false, [target](const std::string& v) {
    target->emplace_back(TrimSpace(v));
    return Status::Ok();
  }, aliases);
}

void FlagSet::CommaSlice(const std::string& name, std::vector<std::string>* target,
                         std::vector<std::string> aliases) {
  Add(name, false, [target](const std::string& v) {
    for (const auto& p : Split(v, ',')) {
      std::string t(TrimSpace(p));
      if (!t.empty()) target->push_back(t);
    }
    return Status::Ok();
  }, aliases);
}

void FlagSet::StringMap(const std::string& name, std::map<std::string, std::string>* target,
                        std::vector<std::string> aliases) {
  Add(name, false, [target](const std::string& v) {
    auto eq = v.find('=');
    if (eq == std::string::npos) return Status::InvalidRequest("missing = in KV pair: \"" + v + "\"");
    (*target)[v.substr(0, eq)] = v.substr(eq + 1);
    return Status::Ok();
  }, aliases);
}

void FlagSet::Custom(const std::string& name, bool is_bool, Setter setter,
                     std::vector<std::string> aliases) {
  Add(name, is_bool, std::move(setter), aliases);
}

bool FlagSet::IsSet(const std::string& name) const { return set_.count(name) > 0; }

Result<std::vector<std::string>> FlagSet::Parse(const std::vector<std::string>& in) {
  size_t i = 0;
  while (i < in.size()) {
    const std::string& s = in[i];
    if (s.size() < 2 || s[0] != '-') break;
    size_t minuses = 1;
    if (s[1] == '-') {
      minuses = 2;
      if (s.size() == 2) {
        ++i;
        break;
      }
    }
    std::string name = s.substr(minuses);
    if (name.empty() || name[0] == '-' || name[0] == '=')
      return Status::InvalidRequest("bad flag syntax: " + s);
    ++i;
    bool has_value = false;
    std::string value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto it = flags_.find(name);
    if (it == flags_.end()) {
      if (name == "help" || name == "h") {
        help_ = true;
        return Status::InvalidRequest("flag: help requested");
      }
      return Status::InvalidRequest("flag provided but not defined: -" + name);
    }
    const Flag& f = it->second;
    if (f.is_bool) {
      if (!has_value) value = "true";
      Status st = f.set(value);
      if (!st.ok())
        return Status::InvalidRequest("invalid boolean value \"" + value + "\" for -" + name +
                                      ": " + st.message());
    } else {
      if (!has_value && i < in.size()) {
        value = in[i++];
        has_value = true;
      }
      if (!has_value) return Status::InvalidRequest("flag needs an argument: -" + name);
      Status st = f.set(value);
      if (!st.ok())
        return Status::InvalidRequest("invalid value \"" + value + "\" for flag -" + name + ": " +
                                      st.message());
    }
    set_[f.name] = true;
  }
  return std::vector<std::string>(in.begin() + long(i), in.end());
}

}  // namespace tresor::cli
