// `vault token ...` and `vault policy ...`.
#include <algorithm>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "common/duration.h"
#include "common/strings.h"

namespace tresor::cli {
namespace {

void AddCommon(CommandEnv& env, FlagSet& fs, bool field = true) {
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, field);
}

int EmitSecret(CommandEnv& env, const std::optional<Secret>& s) {
  if (!s) return 0;
  if (!env.field.empty()) return env.PrintRawField(*s, env.field);
  return env.OutputSecret(*s);
}

// ---- token create ----
int TokenCreate(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  AddCommon(env, fs);
  std::string id, display_name, role, type, entity_alias;
  int64_t ttl = 0, explicit_max = 0, period = 0, use_limit = 0;
  bool renewable = true, orphan = false, no_default = false;
  std::vector<std::string> policies;
  std::map<std::string, std::string> metadata;
  fs.String("id", &id);
  fs.String("display-name", &display_name);
  fs.Duration("ttl", &ttl);
  fs.Duration("explicit-max-ttl", &explicit_max);
  fs.Duration("period", &period);
  fs.Bool("renewable", &renewable);
  fs.Bool("orphan", &orphan);
  fs.Bool("no-default-policy", &no_default);
  fs.Int("use-limit", &use_limit);
  fs.String("role", &role);
  fs.String("type", &type);
  fs.CommaSlice("policy", &policies);
  fs.StringMap("metadata", &metadata);
  fs.String("entity-alias", &entity_alias);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (!pos.empty()) return ArgCountError(env.ui, 0, pos.size(), true);
  if (!type.empty() && type != "service" && type != "batch" && type != "default") {
    env.ui.Error("Invalid token type " + GoQuote(type));
    return 1;
  }
  Json body = Json::object();
  if (!id.empty()) body["id"] = id;
  if (!policies.empty()) body["policies"] = policies;
  if (!metadata.empty()) body["meta"] = metadata;
  if (fs.IsSet("ttl")) body["ttl"] = GoDurationString(ttl);
  if (fs.IsSet("explicit-max-ttl")) body["explicit_max_ttl"] = GoDurationString(explicit_max);
  if (fs.IsSet("period")) body["period"] = GoDurationString(period);
  if (no_default) body["no_default_policy"] = true;
  if (!display_name.empty()) body["display_name"] = display_name;
  if (use_limit) body["num_uses"] = use_limit;
  body["renewable"] = renewable;
  if (!type.empty()) body["type"] = type;
  if (!entity_alias.empty()) body["entity_alias"] = entity_alias;
  std::string path = "/v1/auth/token/create";
  if (!role.empty()) path += "/" + role;
  else if (orphan) path = "/v1/auth/token/create-orphan";
  auto c = env.NewClient();
  auto s = WriteSecret(*c, {.method = "POST", .path = path, .body = body.dump()});
  if (!s.ok()) {
    env.ui.Error("Error creating token: " + s.status().message());
    return 2;
  }
  return EmitSecret(env, *s);
}

// ---- token lookup ----
int TokenLookup(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  AddCommon(env, fs);
  bool accessor = false;
  fs.Bool("accessor", &accessor);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() > 1) {
    env.ui.Error("Too many arguments (expected 0-1, got " + std::to_string(pos.size()) + ")");
    return 1;
  }
  if (accessor && pos.empty()) {
    env.ui.Error("Not enough arguments with -accessor (expected 1, got 0)");
    return 1;
  }
  auto c = env.NewClient();
  client::Request req{.method = "GET", .path = "/v1/auth/token/lookup-self"};
  if (!pos.empty()) {
    std::string t(TrimSpace(pos[0]));
    req.method = "POST";
    req.path = accessor ? "/v1/auth/token/lookup-accessor" : "/v1/auth/token/lookup";
    req.body = Json{{accessor ? "accessor" : "token", t}}.dump();
  }
  auto s = accessor || !pos.empty() ? WriteSecret(*c, req) : ReadSecret(*c, req);
  if (!s.ok()) {
    env.ui.Error("Error looking up token: " + s.status().message());
    return 2;
  }
  return EmitSecret(env, *s);
}

// ---- token renew ----
int TokenRenew(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  AddCommon(env, fs);
  bool accessor = false;
  int64_t increment = 0;
  fs.Bool("accessor", &accessor);
  fs.Duration("increment", &increment, {"i"});
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() > 1) {
    env.ui.Error("Too many arguments (expected 0-1, got " + std::to_string(pos.size()) + ")");
    return 1;
  }
  auto c = env.NewClient();
  Json body = Json::object();
  body["increment"] = increment;
  std::string path = "/v1/auth/token/renew-self";
  if (!pos.empty()) {
    std::string t(TrimSpace(pos[0]));
    if (accessor) {
      path = "/v1/auth/token/renew-accessor";
      body["accessor"] = t;
    } else {
      path = "/v1/auth/token/renew";
      body["token"] = t;
    }
  }
  auto s = WriteSecret(*c, {.method = "PUT", .path = path, .body = body.dump()});
  if (!s.ok()) {
    env.ui.Error("Error renewing token: " + s.status().message());
    return 2;
  }
  return EmitSecret(env, *s);
}

// ---- token revoke ----
int TokenRevoke(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  bool accessor = false, self = false;
  std::string mode;
  fs.Bool("accessor", &accessor);
  fs.Bool("self", &self);
  fs.String("mode", &mode);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (self && !pos.empty()) {
    env.ui.Error("Too many arguments (expected 0, got " + std::to_string(pos.size()) + ")");
    return 1;
  }
  if (!self && pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  if (accessor && self) {
    env.ui.Error("Cannot use -self with -accessor!");
    return 1;
  }
  if (!mode.empty() && mode != "orphan" && mode != "path") {
    env.ui.Error("Invalid mode: " + mode);
    return 1;
  }
  auto c = env.NewClient();
  client::Request req{.method = "PUT"};
  if (self) {
    req.path = "/v1/auth/token/revoke-self";
  } else if (accessor) {
    req.path = "/v1/auth/token/revoke-accessor";
    req.body = Json{{"accessor", pos[0]}}.dump();
  } else if (mode == "orphan") {
    req.path = "/v1/auth/token/revoke-orphan";
    req.body = Json{{"token", pos[0]}}.dump();
  } else if (mode == "path") {
    req.path = "/v1/sys/leases/revoke-prefix/" + SanitizePath(pos[0]);
  } else {
    req.path = "/v1/auth/token/revoke";
    req.body = Json{{"token", pos[0]}}.dump();
  }
  auto r = c->Call(req);
  if (!r.ok()) {
    env.ui.Error("Error revoking token: " + r.status().message());
    return 2;
  }
  env.ui.Output("Success! Revoked token (if it existed)");
  return 0;
}

// ---- token capabilities ----
int TokenCapabilities(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  AddCommon(env, fs, false);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.empty() || pos.size() > 2) {
    env.ui.Error(std::string(pos.empty() ? "Not enough" : "Too many") + " arguments (expected 1-2, got " +
                 std::to_string(pos.size()) + ")");
    return 1;
  }
  std::string token, path;
  if (pos.size() == 1) path = pos[0];
  else {
    token = pos[0];
    path = pos[1];
  }
  path = SanitizePath(path);
  auto c = env.NewClient();
  Json body = Json::object();
  body["paths"] = Json::array({path});
  if (!token.empty()) body["token"] = token;
  auto r = CallJson(*c, {.method = "POST",
                         .path = token.empty() ? "/v1/sys/capabilities-self" : "/v1/sys/capabilities",
                         .body = body.dump()});
  if (!r.ok()) {
    env.ui.Error("Error listing capabilities: " + r.status().message());
    return 2;
  }
  Json data = r->is_object() && r->contains("data") && (*r)["data"].is_object() ? (*r)["data"] : *r;
  std::vector<std::string> caps;
  if (data.contains(path)) caps = StringList(data[path]);
  else if (data.contains("capabilities")) caps = StringList(data["capabilities"]);
  std::sort(caps.begin(), caps.end());
  if (env.Format() == "table") {
    env.ui.Output(Join(caps, ", "));
    return 0;
  }
  return env.OutputData(Json(caps));
}

// ---- policy ----
int PolicyList(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  AddCommon(env, fs, false);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (!pos.empty()) return ArgCountError(env.ui, 0, pos.size(), true);
  auto c = env.NewClient();
  auto s = ReadSecret(*c, {.method = "GET", .path = "/v1/sys/policies/acl", .query = {{"list", "true"}}});
  if (!s.ok()) {
    env.ui.Error("Error listing policies: " + s.status().message());
    return 2;
  }
  std::vector<std::string> names;
  if (s->has_value() && (*s)->data.is_object() && (*s)->data.contains("keys"))
    names = StringList((*s)->data["keys"]);
  if (env.Format() == "table") {
    for (const auto& n : names) env.ui.Output(n);
    return 0;
  }
  return env.OutputData(Json(names));
}

int PolicyRead(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  AddCommon(env, fs, false);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  std::string name = ToLower(TrimSpace(pos[0]));
  auto c = env.NewClient();
  auto r = c->Send({.method = "GET", .path = "/v1/sys/policies/acl/" + name});
  std::string rules;
  if (!r.ok()) {
    env.ui.Error("Error reading policy named " + name + ": " + r.status().message());
    return 2;
  }
  if (r->status != 404) {
    if (r->status >= 400) {
      env.ui.Error("Error reading policy named " + name + ": " + client::FormatApiError(*r));
      return 2;
    }
    auto s = Secret::Parse(r->body);
    if (s.ok() && s->data.is_object() && s->data.contains("policy") && s->data["policy"].is_string())
      rules = s->data["policy"].get<std::string>();
  }
  if (rules.empty()) {
    env.ui.Error("No policy named: " + name);
    return 2;
  }
  if (env.Format() == "table") {
    env.ui.Output(std::string(TrimSpace(rules)));
    return 0;
  }
  return env.OutputData(Json{{"policy", rules}});
}

int PolicyWrite(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() != 2) return ArgCountError(env.ui, 2, pos.size(), pos.size() > 2);
  std::string name = ToLower(TrimSpace(pos[0]));
  std::string path(TrimSpace(pos[1]));
  std::stringstream ss;
  if (path == "-") {
    ss << env.ui.in->rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      env.ui.Error("Error opening policy file: open " + path + ": no such file or directory");
      return 2;
    }
    ss << in.rdbuf();
  }
  std::string rules = ss.str();
  auto c = env.NewClient();
  auto r = c->Call({.method = "PUT", .path = "/v1/sys/policies/acl/" + name,
                    .body = Json{{"policy", rules}}.dump()});
  if (!r.ok()) {
    env.ui.Error("Error uploading policy: " + r.status().message());
    return 2;
  }
  env.ui.Output("Success! Uploaded policy: " + name);
  return 0;
}

int PolicyDelete(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  std::string name(TrimSpace(pos[0]));
  auto c = env.NewClient();
  auto r = c->Call({.method = "DELETE", .path = "/v1/sys/policies/acl/" + name});
  if (!r.ok()) {
    env.ui.Error("Error deleting " + name + ": " + r.status().message());
    return 2;
  }
  env.ui.Output("Success! Deleted policy: " + name);
  return 0;
}

// Normalises whitespace only (trailing spaces, final newline); full HCL re-formatting is
// not implemented.
int PolicyFmt(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  std::ifstream in(pos[0], std::ios::binary);
  if (!in) {
    env.ui.Error("Error opening policy file: open " + pos[0] + ": no such file or directory");
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string out;
  for (const auto& line : Split(ss.str(), '\n')) {
    std::string l = line;
    while (!l.empty() && (l.back() == ' ' || l.back() == '\t' || l.back() == '\r')) l.pop_back();
    out += l + "\n";
  }
  while (out.size() > 1 && out.ends_with("\n\n")) out.pop_back();
  std::ofstream o(pos[0], std::ios::binary | std::ios::trunc);
  o << out;
  env.ui.Output("Success! Formatted policy: " + pos[0]);
  return 0;
}

}  // namespace

void RegisterTokenPolicyCommands(std::vector<CommandSpec>* out) {
  out->push_back({"token create", "Create a new token", TokenCreate});
  out->push_back({"token lookup", "Display information about a token", TokenLookup});
  out->push_back({"token renew", "Renew a token lease", TokenRenew});
  out->push_back({"token revoke", "Revoke a token and its children", TokenRevoke});
  out->push_back({"token capabilities", "Print capabilities of a token on a path", TokenCapabilities});
  out->push_back({"policy list", "Lists the installed policies", PolicyList});
  out->push_back({"policy read", "Prints the contents of a policy", PolicyRead});
  out->push_back({"policy write", "Uploads a named policy from a file", PolicyWrite});
  out->push_back({"policy delete", "Deletes a policy by name", PolicyDelete});
  out->push_back({"policy fmt", "Formats a policy on disk", PolicyFmt});
  out->push_back({"policies", "Lists the installed policies", PolicyList});
}

}  // namespace tresor::cli
