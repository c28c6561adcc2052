// How a backend (secrets engine, auth method, sys) declares itself, in Vault's idiom:
// a list of Paths, each a pattern + field schema + handlers per operation.
//
// Lifetime and threads: core creates one Backend per mount through its factory and owns it.
// HandleRequest is called concurrently from worker threads; a backend guards its own
// in-memory state. Storage reaches it only through the mount's view in BackendConfig /
// Request::storage.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "common/status.h"
#include "framework/field.h"
#include "framework/logical.h"

namespace tresor::framework {

using logical::Operation;
using logical::Request;
using logical::Response;
using logical::ResponsePtr;

using Handler = std::function<Result<ResponsePtr>(Request&, FieldData&)>;
// Existence check: does the object at this path exist? Decides create vs update (and so
// which ACL capability a write needs).
using ExistenceCheck = std::function<Result<bool>(Request&, FieldData&)>;

struct Path {
  // Anchored regular expression relative to the mount, Vault style: named groups written as
  // (?P<name>...), e.g. "data/(?P<path>.+)". Compiled once at registration.
  std::string pattern;
  FieldSchema fields;
  std::map<Operation, Handler> operations;
  ExistenceCheck exists;
  std::string help_synopsis;
  std::string help_description;
};

// Paths (glob: trailing '*' matches any suffix) with special treatment in core.
struct SpecialPaths {
  std::vector<std::string> unauthenticated;  // no token needed (logins)
  std::vector<std::string> root;             // need sudo
};

// What core tells a backend about the world outside its mount. Thread-safe.
class SystemView {
 public:
  virtual ~SystemView() = default;
  virtual int64_t DefaultLeaseTTL() const = 0;  // seconds, mount-tuned or system
  virtual int64_t MaxLeaseTTL() const = 0;
  virtual std::string MountPoint() const = 0;   // "secret/"
  virtual bool IsStandby() const { return false; }
};

struct BackendConfig {
  Storage* storage = nullptr;        // the mount's view; outlives the backend
  const SystemView* system = nullptr;
  std::string mount_path;            // "secret/" or "auth/userpass/"
  std::string mount_type;            // "kv"
  nlohmann::json options = nlohmann::json::object();  // mount options (e.g. {"version":"2"})
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Runs after construction and after every unseal: load caches, start background work.
  virtual Status Initialize() { return Status::Ok(); }
  // Before seal/unmount: stop background work and drop cached secrets.
  virtual void Cleanup() {}

  // Existence of the object a write targets: nullopt if the path has no existence check
  // (then a write is an update), error for unknown paths.
  virtual Result<std::optional<bool>> Exists(Request& req) = 0;
  virtual Result<ResponsePtr> HandleRequest(Request& req) = 0;
  // Asked on every request: return a member, not a fresh copy.
  virtual const SpecialPaths& special_paths() const {
    static const SpecialPaths kNone;
    return kNone;
  }

  // Lease hooks for dynamic secrets this backend issued (req.secret set).
  virtual Result<ResponsePtr> RenewSecret(Request& req) {
    (void)req;
    return Status::InvalidRequest("lease is not renewable");
  }
  virtual Status RevokeSecret(Request& req) {
    (void)req;
    return Status::Ok();
  }
  // Called about once a minute on the active node (tidy, scheduled rotation).
  virtual void Periodic() {}
};

// A Backend built from a list of Paths. Engines either use it directly or derive from it.
class FrameworkBackend : public Backend {
 public:
  FrameworkBackend() = default;
  explicit FrameworkBackend(std::vector<Path> paths) { SetPaths(std::move(paths)); }

  void SetPaths(std::vector<Path> paths);
  void SetSpecialPaths(SpecialPaths sp) { special_ = std::move(sp); }
  const SpecialPaths& special_paths() const override { return special_; }

  Result<std::optional<bool>> Exists(Request& req) override;
  Result<ResponsePtr> HandleRequest(Request& req) override;

 private:
  struct Compiled {
    Path path;
    std::regex re;
    std::string literal_prefix;  // cheap pre-filter before running the regex
    std::vector<std::string> group_names;
  };
  const Compiled* Match(const std::string& path, std::map<std::string, std::string>* captures) const;
  // Match() once per request: Exists() leaves its match in req.route_match for HandleRequest().
  const Compiled* MatchOnce(Request& req, std::map<std::string, std::string>* captures) const;

  std::vector<Compiled> paths_;
  SpecialPaths special_;
};

// Vault's GenericNameRegex as a named group: "(?P<name>\w(?:[\w.-]*\w)?)".
std::string GenericNameRegex(const std::string& name);
// Optional trailing segment matcher used by list endpoints: "/?$"-style helpers are
// unnecessary; write "roles/?" in the pattern instead.

// True if `path` matches one of `patterns` (exact, or prefix when the pattern ends in '*').
bool MatchesSpecialPath(const std::vector<std::string>& patterns, const std::string& path);

// Backend factories by type name ("kv", "transit", "userpass", ...).
using Factory = std::function<Result<std::unique_ptr<Backend>>(const BackendConfig&)>;
enum class BackendKind { kSecrets, kAuth };

class Registry {
 public:
  void Register(const std::string& type, BackendKind kind, Factory f);
  const Factory* Find(const std::string& type, BackendKind kind) const;
  std::vector<std::string> Types(BackendKind kind) const;

 private:
  std::map<std::pair<std::string, BackendKind>, Factory> factories_;
};

// Helpers for handlers.
inline Result<ResponsePtr> NoContent() { return ResponsePtr(); }
inline Result<ResponsePtr> Data(nlohmann::json d) { return Response::WithData(std::move(d)); }
// A LIST response: {"keys": [...]}; an empty list is a 404 like Vault.
Result<ResponsePtr> ListResponse(const std::vector<std::string>& keys);

}  // namespace tresor::framework
