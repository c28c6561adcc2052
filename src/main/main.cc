// The one binary: `tresor server ...` runs a server; everything else is the CLI. Invoked
// through a link named `vault`, it behaves as Vault's CLI so the guide's commands run as is.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/cli.h"
#include "common/version.h"
#include "server/server.h"

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "server") == 0) return tresor::server::ServerMain(argc - 2, argv + 2);
  std::string self = argv[0];
  auto slash = self.rfind('/');
  std::string name = slash == std::string::npos ? self : self.substr(slash + 1);
  if (name != "vault" && argc == 2 && (std::strcmp(argv[1], "version") == 0 || std::strcmp(argv[1], "-version") == 0 ||
                                       std::strcmp(argv[1], "--version") == 0)) {
    std::printf("Tresor v%s (%s), implementing the Vault v%s API\n", tresor::kTresorVersion, tresor::kTresorCommit,
                tresor::kVaultApiVersion);
    return 0;
  }
  return tresor::cli::Run(argc, argv);
}
