// The catalog of built-in backends. Adding an engine or auth method is one line here (and
// its library in CMakeLists.txt).
#include "auth/approle/approle.h"
#include "auth/userpass/userpass.h"
#include "engines/cubbyhole/cubbyhole.h"
#include "engines/kv/kv.h"
#include "engines/transit/transit.h"
#include "server/server.h"

namespace tresor::server {

std::shared_ptr<framework::Registry> BuiltinRegistry() {
  using framework::BackendKind;
  auto r = std::make_shared<framework::Registry>();
  r->Register("kv", BackendKind::kSecrets, kv::Factory);
  r->Register("generic", BackendKind::kSecrets, kv::Factory);  // Vault's alias of kv v1
  r->Register("cubbyhole", BackendKind::kSecrets, cubbyhole::Factory);
  r->Register("transit", BackendKind::kSecrets, transit::Factory);
  r->Register("userpass", BackendKind::kAuth, userpass::Factory);
  r->Register("approle", BackendKind::kAuth, approle::Factory);
  return r;
}

}  // namespace tresor::server
