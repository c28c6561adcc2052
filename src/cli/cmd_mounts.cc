#include "cli/commands.h"
namespace tresor::cli {
void RegisterMountCommands(std::vector<CommandSpec>*) {}
}  // namespace tresor::cli
