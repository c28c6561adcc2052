// The catalog of built-in backends. Adding an engine or auth method is one line here (and
// its library in CMakeLists.txt).
#include "engines/transit/transit.h"
#include "server/server.h"

namespace tresor::server {

std::shared_ptr<framework::Registry> BuiltinRegistry() {
  using framework::BackendKind;
  auto r = std::make_shared<framework::Registry>();
  r->Register("transit", BackendKind::kSecrets, transit::Factory);
  return r;
}

}  // namespace tresor::server
