// The Vault-compatible command-line client: `vault status`, `vault operator init`, ...
// Talks to the server only over its HTTP API (client module). Output, error texts and exit
// codes follow Vault 1.13's CLI (spec §2, §6).
#pragma once

#include <string>
#include <vector>

namespace tresor::cli {

struct Ui;

// Entry point: argv[0] is the program name (`vault` or `tresor`). Uses the process's
// stdin/stdout/stderr and environment. Returns the exit code.
int Run(int argc, char** argv);

// Same, with `args` excluding the program name and an explicit terminal (for tests).
int RunWithUi(const std::vector<std::string>& args, Ui& ui);

}  // namespace tresor::cli
