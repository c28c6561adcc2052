// `tresor server`: builds the process from a config (or dev mode) and runs it until a
// signal. Owns the storage, the core and the HTTP listeners for the process lifetime.
#pragma once

#include <memory>

#include "framework/backend.h"

namespace tresor::server {

// `args` excludes the program name and the "server" word. Returns the exit code.
int ServerMain(int argc, char** argv);

// Every built-in secrets engine and auth method (builtin_backends.cc).
std::shared_ptr<framework::Registry> BuiltinRegistry();

}  // namespace tresor::server
