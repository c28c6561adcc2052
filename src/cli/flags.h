// Go `flag`-package compatible parsing, as Vault's CLI does it: `-name=value`, `-name value`,
// `--name`, bool flags as `-name` or `-name=true|false`, `--` ends flags, and parsing stops
// at the first positional argument. Error texts match Go's so scripts see Vault's messages.
// A FlagSet is built and parsed on one thread, once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace tresor::cli {

// Go's strconv.ParseBool.
bool ParseGoBool(const std::string& s, bool* out);

class FlagSet {
 public:
  using Setter = std::function<Status(const std::string&)>;  // message = Go's reason text

  void Bool(const std::string& name, bool* target, std::vector<std::string> aliases = {});
  void String(const std::string& name, std::string* target,
              std::vector<std::string> aliases = {});
  void Int(const std::string& name, int64_t* target, std::vector<std::string> aliases = {});
  // Go duration or integer seconds; stored as seconds.
  void Duration(const std::string& name, int64_t* target, std::vector<std::string> aliases = {});
  // Repeatable; each occurrence appended (trimmed).
  void StringSlice(const std::string& name, std::vector<std::string>* target,
                   std::vector<std::string> aliases = {});
  // Repeatable; comma-separated values are split as well (Vault's -policy style lists).
  void CommaSlice(const std::string& name, std::vector<std::string>* target,
                  std::vector<std::string> aliases = {});
  // Repeatable k=v.
  void StringMap(const std::string& name, std::map<std::string, std::string>* target,
                 std::vector<std::string> aliases = {});
  void Custom(const std::string& name, bool is_bool, Setter setter,
              std::vector<std::string> aliases = {});

  // Parses `args`; on success returns the remaining positional arguments. On failure the
  // Status message is Go's text ("flag provided but not defined: -x"). `-h`/`-help`
  // (when not defined) fail with the message "flag: help requested".
  Result<std::vector<std::string>> Parse(const std::vector<std::string>& args);

  bool IsSet(const std::string& name) const;  // canonical name
  bool help_requested() const { return help_; }

 private:
  struct Flag {
    std::string name;
    bool is_bool = false;
    Setter set;
  };
  void Add(const std::string& name, bool is_bool, Setter s, const std::vector<std::string>& aliases);

  std::map<std::string, Flag> flags_;  // by every name and alias
  std::map<std::string, bool> set_;    // canonical names seen
  bool help_ = false;
};

}  // namespace tresor::cli
