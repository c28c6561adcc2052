// The command table of the CLI (internal to the cli module).
#pragma once

#include <string>
#include <vector>

#include "cli/base.h"

namespace tresor::cli {

struct CommandSpec {
  std::string name;      // "operator init"
  std::string synopsis;  // one line for the usage listing
  CommandFn fn;
};

// Every command, registered by the cmd_*.cc files.
void RegisterOperatorCommands(std::vector<CommandSpec>* out);
void RegisterGenericCommands(std::vector<CommandSpec>* out);
void RegisterTokenPolicyCommands(std::vector<CommandSpec>* out);
void RegisterMountCommands(std::vector<CommandSpec>* out);
void RegisterKvCommands(std::vector<CommandSpec>* out);

// Shared request helpers. They print nothing.
// A read-like call (GET/LIST): 404 without data or warnings yields nullopt, like the Go
// client's Logical().Read.
Result<std::optional<Secret>> ReadSecret(client::Client& c, const client::Request& req);
// A write-like call (PUT/POST/DELETE): an empty body yields nullopt.
Result<std::optional<Secret>> WriteSecret(client::Client& c, const client::Request& req);
// Parsed JSON body of a successful call (null when empty).
Result<Json> CallJson(client::Client& c, const client::Request& req);

}  // namespace tresor::cli
