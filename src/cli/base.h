// Shared machinery of the CLI commands: the terminal (Ui), common flags (HTTP and output),
// the client, Vault's secret model as the Go client decodes it, and the output helpers
// (OutputSecret / OutputData / OutputList / PrintRawField) with Vault's exact rendering.
// Used on the main thread only.
#pragma once

#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/flags.h"
#include "cli/format.h"
#include "client/client.h"
#include "common/status.h"

namespace tresor::cli {

// Where a command reads and writes. Tests substitute string streams.
struct Ui {
  std::ostream* out = &std::cout;
  std::ostream* err = &std::cerr;
  std::istream* in = &std::cin;
  bool stdout_is_tty = false;
  // Prints `prompt` to `prompt_stream` and reads one line without echo (a TTY) or a plain
  // line (not a TTY). Returns nullopt on EOF/interrupt.
  std::function<std::optional<std::string>(const std::string& prompt, std::ostream& prompt_stream)>
      read_secret;

  void Output(const std::string& s) const { *out << s << "\n"; }
  void Error(const std::string& s) const { *err << s << "\n"; }
  void Warn(const std::string& s) const { *err << s << "\n"; }
  void Raw(const std::string& s) const { *out << s; }
};

// api.Secret as decoded by the Go client (data kept as JSON; numbers keep their type).
struct Secret {
  std::string request_id;
  std::string lease_id;
  int64_t lease_duration = 0;
  bool renewable = false;
  Json data;      // null or object
  Json warnings;  // null or array of strings
  Json auth;      // null or object (client_token, accessor, policies, ...)
  Json wrap_info; // null or object

  static Result<Secret> Parse(const std::string& body);
  // The Go struct's JSON: request_id, lease_id, lease_duration, renewable, data, warnings,
  // then auth and wrap_info only when present.
  Json ToJson() const;
};

struct CommandEnv;
using CommandFn = std::function<int(CommandEnv&, const std::vector<std::string>&)>;

// State of one command invocation: parsed common flags and helpers built on them.
struct CommandEnv {
  explicit CommandEnv(Ui& u) : ui(u) {}
  Ui& ui;
  std::string command_name;  // "operator init", for usage text
  std::string synopsis;

  // HTTP flags.
  std::string address, ca_cert, ca_path, client_cert, client_key, tls_server_name, ns;
  std::string wrap_ttl;
  bool tls_skip_verify = false;
  bool tls_skip_verify_set = false;
  // Output flags.
  std::string format;  // empty = VAULT_FORMAT or "table"
  std::string field;
  bool detailed = false;

  void AddHttpFlags(FlagSet& fs);
  void AddOutputFlags(FlagSet& fs, bool with_field);
  // Parses flags; on error prints Go's text and returns the exit code (1); else nullopt.
  std::optional<int> Parse(FlagSet& fs, const std::vector<std::string>& args,
                           std::vector<std::string>* positional);

  std::string Format() const;
  // A client configured from the environment overlaid with the flags. On failure prints
  // the error and returns nullptr.
  std::unique_ptr<client::Client> NewClient();

  // Output helpers; return the exit code.
  int OutputSecret(const Secret& s);
  int OutputData(const Json& data);  // map -> Key/Value table; other formats as-is
  int OutputList(const Secret& s);
  int PrintRawField(const Secret& s, const std::string& field);
  int PrintRawValue(const Json& v);
  void PrintWarnings(const Json& warnings);
  // Columnized Key/Value table of secret rows (no output when empty).
  std::string SecretTable(const Secret& s) const;
};

// Helpers used by several commands.
std::string SanitizePath(const std::string& s);       // trims spaces and '/' at both ends
std::string EnsureTrailingSlash(const std::string& s);
std::string EnsureNoTrailingSlash(const std::string& s);
std::string EnsureNoLeadingSlash(const std::string& s);
int ArgCountError(const Ui& ui, size_t expected, size_t got, bool too_many);

// Renders the `vault status` table / JSON from sys/seal-status and sys/leader and returns
// the exit code of OutputData (0). Prints "Error checking leader status" and returns 1 on
// leader failures other than "Vault is sealed".
int OutputSealStatus(CommandEnv& env, client::Client& c, const Json& seal_status);

}  // namespace tresor::cli
