#include "cli/commands.h"
namespace tresor::cli {
void RegisterKvCommands(std::vector<CommandSpec>*) {}
}  // namespace tresor::cli
