#include "cli/commands.h"
namespace tresor::cli {
void RegisterTokenPolicyCommands(std::vector<CommandSpec>*) {}
}  // namespace tresor::cli
