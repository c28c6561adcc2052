#include "cli/kv_args.h"

#include <fstream>
#include <sstream>

namespace tresor::cli {
namespace {

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("open " + path + ": no such file or directory");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status MergeJson(const std::string& text, Json* result) {
  Json parsed;
  try {
    parsed = Json::parse(text);
  } catch (const std::exception& e) {
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) return Status::InvalidRequest("EOF");
    return Status::InvalidRequest("invalid character in JSON input");
  }
  if (!parsed.is_object())
    return Status::InvalidRequest("json: cannot unmarshal " +
                                  std::string(parsed.is_array() ? "array" : "value") +
                                  " into Go value of type map[string]interface {}");
  for (auto it = parsed.begin(); it != parsed.end(); ++it) (*result)[it.key()] = it.value();
  return Status::Ok();
}

std::string ScalarString(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  return GoValue(v);
}

}  // namespace

Result<Json> ParseKeyValues(const std::vector<std::string>& args, std::istream* stdin_stream) {
  Json result = Json::object();
  bool stdin_used = false;
  auto read_stdin = [&]() -> Result<std::string> {
    if (!stdin_stream) return Status::InvalidRequest("stdin is not supported");
    if (stdin_used) return Status::InvalidRequest("stdin already consumed");
    stdin_used = true;
    std::stringstream ss;
    ss << stdin_stream->rdbuf();
    return ss.str();
  };
  for (const auto& raw : args) {
    if (raw.empty()) continue;
    auto eq = raw.find('=');
    if (eq == std::string::npos) {
      if (raw == "-") {
        ASSIGN_OR_RETURN(std::string text, read_stdin());
        RETURN_IF_ERROR(MergeJson(text, &result));
        continue;
      }
      if (raw[0] == '@') {
        auto text = ReadFile(raw.substr(1));
        if (!text.ok()) return text.status();
        RETURN_IF_ERROR(MergeJson(*text, &result));
        continue;
      }
      return Status::InvalidRequest("format must be key=value");
    }
    std::string key = raw.substr(0, eq);
    std::string value = raw.substr(eq + 1);
    if (!value.empty()) {
      if (value[0] == '@') {
        auto text = ReadFile(value.substr(1));
        if (!text.ok()) return Status::InvalidRequest("error reading file: " + text.status().message());
        value = *text;
      } else if (value.size() > 1 && value[0] == '\\' && value[1] == '@') {
        value = value.substr(1);
      } else if (value == "-") {
        ASSIGN_OR_RETURN(value, read_stdin());
      }
    }
    if (result.contains(key)) {
      Json& existing = result[key];
      if (!existing.is_array()) existing = Json::array({existing});
      existing.push_back(value);
    } else {
      result[key] = value;
    }
  }
  return result;
}

std::vector<std::pair<std::string, std::string>> ToQueryPairs(const Json& data) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!data.is_object()) return out;
  for (auto it = data.begin(); it != data.end(); ++it) {
    if (it.value().is_array()) {
      for (const auto& v : it.value()) out.emplace_back(it.key(), ScalarString(v));
    } else {
      out.emplace_back(it.key(), ScalarString(it.value()));
    }
  }
  return out;
}

std::map<std::string, std::string> ToStringMap(const Json& data) {
  std::map<std::string, std::string> out;
  if (!data.is_object()) return out;
  for (auto it = data.begin(); it != data.end(); ++it) {
    if (it.value().is_array()) {
      std::string joined;
      for (const auto& v : it.value()) {
        if (!joined.empty()) joined += ",";
        joined += ScalarString(v);
      }
      out[it.key()] = joined;
    } else {
      out[it.key()] = ScalarString(it.value());
    }
  }
  return out;
}

}  // namespace tresor::cli
