// Field schemas and typed access to request parameters, in Vault's framework idiom.
//
// A path declares its fields; FieldData converts raw JSON input (strings from the CLI,
// numbers or strings from HTTP clients) to the declared type on access. Conversion failures
// surface as 400 "Field validation failed: ..." before the handler runs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace tresor::framework {

using json = nlohmann::json;

enum class FieldType {
  kString,
  kLowerCaseString,
  kNameString,        // must match the generic name pattern
  kInt,               // int64
  kFloat,
  kBool,
  kDurationSecond,    // int seconds or Go duration string
  kCommaStringSlice,  // array, or a string split on commas (trimmed)
  kStringSlice,       // array, or a single string taken as one element
  kCommaIntSlice,
  kMap,               // JSON object
  kKVPairs,           // object of strings, or list of "k=v"
  kHeader,            // object of string -> list of strings
  kRaw,               // passed through untouched
};

struct Field {
  Field(FieldType t = FieldType::kString, std::string desc = "", json def = nullptr, bool req = false)
      : type(t), description(std::move(desc)), default_value(std::move(def)), required(req) {}
  FieldType type;
  std::string description;
  json default_value;  // null: the type's zero value
  bool required;
};

using FieldSchema = std::map<std::string, Field>;

// Converts `raw` to `type`; InvalidRequest with the reason on failure.
Result<json> ConvertField(FieldType type, const json& raw);
// The zero value of a type (used when neither input nor default is present).
json ZeroValue(FieldType type);

class FieldData {
 public:
  // `captures`: named groups from the path pattern (they win over body fields).
  FieldData(const FieldSchema* schema, const json& raw, std::map<std::string, std::string> captures);

  // Checks every present field converts and every required field is there.
  Status Validate() const;
  // Converted value of `name`, or its default, or the zero value. The field must be declared.
  json Get(const std::string& name) const;
  // Converted value only if the caller sent it.
  std::optional<json> GetOk(const std::string& name) const;
  bool Has(const std::string& name) const;

  std::string GetString(const std::string& name) const;
  int64_t GetInt(const std::string& name) const;
  bool GetBool(const std::string& name) const;
  int64_t GetDuration(const std::string& name) const { return GetInt(name); }
  std::vector<std::string> GetStrings(const std::string& name) const;
  std::map<std::string, std::string> GetStringMap(const std::string& name) const;

  // Request keys the schema does not declare (sorted), for the "ignored parameters" warning.
  std::vector<std::string> Unrecognized() const;
  const json& raw() const { return raw_; }

 private:
  const json* Lookup(const std::string& name) const;

  const FieldSchema* schema_;
  const json& raw_;
  std::map<std::string, std::string> captures_;
  std::map<std::string, json> capture_json_;
};

}  // namespace tresor::framework
