// `vault read|write|delete|list|login|path-help` and the shared request helpers.
#include <cstdlib>

#include "cli/commands.h"
#include "cli/kv_args.h"
#include "common/strings.h"

namespace tresor::cli {

Result<std::optional<Secret>> ReadSecret(client::Client& c, const client::Request& req) {
  auto r = c.Send(req);
  if (!r.ok()) return r.status();
  if (r->status == 404) {
    if (r->body.empty()) return std::optional<Secret>();
    auto s = Secret::Parse(r->body);
    if (!s.ok()) return s.status();
    bool has_warnings = s->warnings.is_array() && !s->warnings.empty();
    bool has_data = s->data.is_object() && !s->data.empty();
    if (has_warnings || has_data) return std::optional<Secret>(std::move(s).value());
    return std::optional<Secret>();
  }
  if (r->status >= 400) {
    return Status(r->status == 503 ? Code::kSealed : Code::kInvalidRequest, client::FormatApiError(*r));
  }
  if (r->body.empty()) return std::optional<Secret>();
  auto s = Secret::Parse(r->body);
  if (!s.ok()) return s.status();
  return std::optional<Secret>(std::move(s).value());
}

Result<std::optional<Secret>> WriteSecret(client::Client& c, const client::Request& req) {
  auto r = c.Call(req);
  if (!r.ok()) return r.status();
  if (r->body.empty()) return std::optional<Secret>();
  auto s = Secret::Parse(r->body);
  if (!s.ok()) return s.status();
  return std::optional<Secret>(std::move(s).value());
}

Result<Json> CallJson(client::Client& c, const client::Request& req) {
  auto r = c.Call(req);
  if (!r.ok()) return r.status();
  if (r->body.empty()) return Json();
  try {
    nlohmann::json j = nlohmann::json::parse(r->body);
    return Json(j);
  } catch (const std::exception&) {
    return Status::InvalidRequest("invalid character in response body");
  }
}

namespace {

int Read(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, true);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.empty()) return ArgCountError(env.ui, 1, 0, false);
  std::string path = SanitizePath(pos[0]);
  auto data = ParseKeyValues({pos.begin() + 1, pos.end()}, env.ui.in);
  if (!data.ok()) {
    env.ui.Error("Failed to parse K=V data: " + data.status().message());
    return 1;
  }
  auto c = env.NewClient();
  client::Request req{.method = "GET", .path = "/v1/" + path, .query = ToQueryPairs(*data)};
  if (env.Format() == "raw") {
    auto r = c->Call(req);
    if (!r.ok()) {
      env.ui.Error("Error reading: " + path + ": " + r.status().message());
      return 2;
    }
    env.ui.Output(r->body);
    return 0;
  }
  auto s = ReadSecret(*c, req);
  if (!s.ok()) {
    env.ui.Error("Error reading " + path + ": " + s.status().message());
    return 2;
  }
  if (!s->has_value()) {
    env.ui.Error("No value found at " + path);
    return 2;
  }
  if (!env.field.empty()) return env.PrintRawField(**s, env.field);
  return env.OutputSecret(**s);
}

int Write(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, true);
  bool force = false;
  fs.Bool("force", &force, {"f"});
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.empty()) return ArgCountError(env.ui, 1, 0, false);
  if (pos.size() == 1 && !force) {
    env.ui.Error("Must supply data or use -force");
    return 1;
  }
  std::string path = SanitizePath(pos[0]);
  auto data = ParseKeyValues({pos.begin() + 1, pos.end()}, env.ui.in);
  if (!data.ok()) {
    env.ui.Error("Failed to parse K=V data: " + data.status().message());
    return 1;
  }
  auto c = env.NewClient();
  std::string body = nlohmann::json(*data).dump();
  auto s = WriteSecret(*c, {.method = "PUT", .path = "/v1/" + path, .body = body});
  Wipe(body);
  if (!s.ok()) {
    env.ui.Error("Error writing data to " + path + ": " + s.status().message());
    return 2;
  }
  if (!s->has_value()) {
    if (env.Format() == "table") env.ui.Output("Success! Data written to: " + path);
    return 0;
  }
  if (!env.field.empty()) return env.PrintRawField(**s, env.field);
  return env.OutputSecret(**s);
}

int Delete(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, true);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.empty()) return ArgCountError(env.ui, 1, 0, false);
  std::string path = SanitizePath(pos[0]);
  auto data = ParseKeyValues({pos.begin() + 1, pos.end()}, env.ui.in);
  if (!data.ok()) {
    env.ui.Error("Failed to parse K=V data: " + data.status().message());
    return 1;
  }
  auto c = env.NewClient();
  auto s = WriteSecret(*c, {.method = "DELETE", .path = "/v1/" + path, .query = ToQueryPairs(*data)});
  if (!s.ok()) {
    env.ui.Error("Error deleting " + path + ": " + s.status().message());
    return 2;
  }
  if (!s->has_value()) {
    if (env.Format() == "table") env.ui.Output("Success! Data deleted (if it existed) at: " + path);
    return 0;
  }
  if (!env.field.empty()) return env.PrintRawField(**s, env.field);
  return env.OutputSecret(**s);
}

int List(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, false);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  std::string path = EnsureTrailingSlash(SanitizePath(pos[0]));
  auto c = env.NewClient();
  auto s = ReadSecret(*c, {.method = "GET", .path = "/v1/" + path, .query = {{"list", "true"}}});
  if (!s.ok()) {
    env.ui.Error("Error listing " + path + ": " + s.status().message());
    return 2;
  }
  if (s->has_value() && (*s)->wrap_info.is_object()) return env.OutputSecret(**s);
  if (!s->has_value() || !(*s)->data.is_object() || !(*s)->data.contains("keys") ||
      !(*s)->data["keys"].is_array()) {
    env.ui.Error("No value found at " + path);
    return 2;
  }
  return env.OutputList(**s);
}

int PathHelp(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, false);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  std::string path = SanitizePath(pos[0]);
  auto c = env.NewClient();
  auto r = CallJson(*c, {.method = "GET", .path = "/v1/" + path, .query = {{"help", "1"}}});
  if (!r.ok()) {
    if (c->last_error_status() == 404) {
      env.ui.Error("No help for " + path);
    } else {
      env.ui.Error("Error retrieving help: " + r.status().message());
    }
    return 2;
  }
  if (env.Format() != "table") return env.OutputData(*r);
  env.ui.Output(r->is_object() ? r->value("help", std::string()) : std::string());
  return 0;
}

// --- login ---

// Builds an auth block from auth/token/lookup-self data, like the token CLI handler.
Json AuthFromLookup(const Json& d) {
  Json a = Json::object();
  auto str = [&](const char* k) {
    return d.contains(k) && d[k].is_string() ? d[k].get<std::string>() : std::string();
  };
  a["client_token"] = str("id");
  a["accessor"] = str("accessor");
  Json token_pol = d.contains("policies") && d["policies"].is_array() ? d["policies"] : Json();
  Json ident_pol = d.contains("identity_policies") && d["identity_policies"].is_array()
                       ? d["identity_policies"]
                       : Json();
  Json all = Json();
  for (const Json* l : {&token_pol, &ident_pol})
    if (l->is_array())
      for (const auto& p : *l) {
        if (all.is_null()) all = Json::array();
        all.push_back(p);
      }
  a["policies"] = all;
  a["token_policies"] = token_pol;
  a["identity_policies"] = ident_pol;
  Json meta = Json();
  if (d.contains("meta") && d["meta"].is_object()) meta = d["meta"];
  a["metadata"] = meta;
  int64_t ttl = 0;
  if (d.contains("ttl") && d["ttl"].is_number()) ttl = int64_t(d["ttl"].get<double>());
  a["lease_duration"] = ttl;
  a["renewable"] = d.contains("renewable") && d["renewable"].is_boolean() && d["renewable"].get<bool>();
  return a;
}

Result<Secret> TokenLogin(CommandEnv& env, client::Client& c, std::map<std::string, std::string>& m) {
  bool lookup = true;
  if (m.count("lookup")) {
    if (!ParseGoBool(m["lookup"], &lookup))
      return Status::InvalidRequest("Failed to parse \"lookup\" as boolean: strconv.ParseBool: parsing " +
                                    GoQuote(m["lookup"]) + ": invalid syntax");
  }
  std::string token;
  if (!m.count("token")) {
    auto v = env.ui.read_secret ? env.ui.read_secret("Token (will be hidden): ", *env.ui.err) : std::nullopt;
    if (!v)
      return Status::InvalidRequest(
          "An error occurred attempting to ask for a token. The raw error message is shown "
          "below, but usually this is because you attempted to pipe a value into the command "
          "or you are executing outside of a terminal (tty). If you want to pipe the value, "
          "pass \"-\" as the argument to read from stdin. The raw error was: EOF");
    token = *v;
    Wipe(*v);
  } else {
    token = m["token"];
  }
  token = std::string(TrimSpace(token));
  if (token.empty())
    return Status::InvalidRequest("a token must be passed to auth, please view the help for more information");
  Secret s;
  if (!lookup) {
    s.auth = Json{{"client_token", token}};
    Wipe(token);
    return s;
  }
  auto r = ReadSecret(c, {.method = "GET", .path = "/v1/auth/token/lookup-self", .token = token});
  Wipe(token);
  if (!r.ok()) return Status::InvalidRequest("error looking up token: " + r.status().message());
  if (!r->has_value()) return Status::InvalidRequest("empty response from lookup-self");
  s.auth = AuthFromLookup((*r)->data.is_object() ? (*r)->data : Json::object());
  return s;
}

Result<Secret> UserpassLogin(CommandEnv& env, client::Client& c, std::map<std::string, std::string>& m,
                             const std::string& default_mount) {
  std::string username = m["username"];
  if (username.empty()) return Status::InvalidRequest("'username' must be specified");
  std::string password = m["password"];
  if (password.empty()) {
    auto v = env.ui.read_secret ? env.ui.read_secret("Password (will be hidden): ", *env.ui.err)
                                : std::nullopt;
    if (!v) return Status::InvalidRequest("EOF");
    password = *v;
    Wipe(*v);
  }
  std::string mount = m.count("mount") && !m["mount"].empty() ? m["mount"] : default_mount;
  Json body = Json::object();
  body["password"] = password;
  Wipe(password);
  for (const char* k : {"method", "passcode"})
    if (m.count(k) && !m[k].empty()) body[k] = m[k];
  std::string text = body.dump();
  auto r = WriteSecret(c, {.method = "PUT",
                           .path = "/v1/auth/" + SanitizePath(mount) + "/login/" + username,
                           .body = text});
  Wipe(text);
  if (!r.ok()) return r.status();
  if (!r->has_value()) return Status::InvalidRequest("empty response from credential provider");
  return std::move(*r).value();
}

Result<Secret> GenericLogin(client::Client& c, std::map<std::string, std::string>& m,
                            const std::string& default_mount) {
  std::string mount = m.count("mount") && !m["mount"].empty() ? m["mount"] : default_mount;
  Json body = Json::object();
  for (const auto& [k, v] : m)
    if (k != "mount") body[k] = v;
  std::string text = body.dump();
  auto r = WriteSecret(c, {.method = "PUT", .path = "/v1/auth/" + SanitizePath(mount) + "/login", .body = text});
  Wipe(text);
  if (!r.ok()) return r.status();
  if (!r->has_value()) return Status::InvalidRequest("empty response from credential provider");
  return std::move(*r).value();
}

int Login(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, true);
  std::string method = "token", path;
  bool no_store = false, no_print = false, token_only = false;
  fs.String("method", &method);
  fs.String("path", &path);
  fs.Bool("no-store", &no_store);
  fs.Bool("no-print", &no_print);
  fs.Bool("token-only", &token_only);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (token_only) {
    no_store = true;
    env.field = "token";
  }
  if (no_store && no_print) {
    env.ui.Error(WrapAtLength("-no-store and -no-print cannot be used together"));
    return 1;
  }
  std::string auth_method = SanitizePath(method);
  if (auth_method.empty()) auth_method = "token";
  std::string auth_path = path.empty() ? EnsureTrailingSlash(auth_method) : path;
  static const char* kKnown[] = {"token", "userpass", "ldap", "approle", "radius", "okta",
                                 "cert", "kubernetes", "github", "alicloud"};
  bool known = false;
  for (auto* k : kKnown) known = known || auth_method == k;
  if (!known) {
    env.ui.Error(WrapAtLength("Unknown auth method: " + auth_method +
                              ". Use \"vault auth list\" to see the complete list of auth "
                              "methods. Additionally, some auth methods are only available via "
                              "the HTTP API."));
    return 1;
  }
  std::vector<std::string> kv = pos;
  if (auth_method == "token" && !kv.empty() && kv[0].find('=') == std::string::npos)
    kv[0] = "token=" + kv[0];
  auto parsed = ParseKeyValues(kv, env.ui.in);
  if (!parsed.ok()) {
    env.ui.Error("Error parsing configuration: " + parsed.status().message());
    return 1;
  }
  auto config = ToStringMap(*parsed);
  if (config["mount"].empty() && !auth_path.empty()) config["mount"] = auth_path;
  auto c = env.NewClient();
  if (auth_method != "token") c->SetToken("");

  Result<Secret> secret = Status::Internal("unreachable");
  if (auth_method == "token") secret = TokenLogin(env, *c, config);
  else if (auth_method == "userpass" || auth_method == "ldap" || auth_method == "okta" ||
           auth_method == "radius")
    secret = UserpassLogin(env, *c, config, auth_path);
  else secret = GenericLogin(*c, config, auth_path);
  for (auto& [k, v] : config) Wipe(v);
  if (!secret.ok()) {
    env.ui.Error("Error authenticating: " + secret.status().message());
    return 2;
  }
  Secret& s = *secret;
  if (!s.auth.is_object()) {
    env.ui.Error(WrapAtLength(
        "Vault returned a secret, but the secret has no authentication information attached. "
        "This should never happen and is likely a bug."));
    return 2;
  }
  std::string token = s.auth.value("client_token", std::string());
  if (!no_store) {
    Status st = client::StoreTokenHelper(token);
    if (!st.ok()) {
      env.ui.Error("Error storing token: " + st.message());
      env.ui.Error(WrapAtLength("Authentication was successful, but the token was not "
                                "persisted. The resulting token is shown below for your "
                                "records.") + "\n");
      env.OutputSecret(s);
      return 2;
    }
    const char* vt = std::getenv("VAULT_TOKEN");
    if (vt && *vt)
      env.ui.Warn(WrapAtLength("WARNING! The VAULT_TOKEN environment variable is set! The value "
                               "of this variable will take precedence; if this is unwanted "
                               "please unset VAULT_TOKEN or update its value accordingly.") + "\n");
  } else if (!token_only) {
    env.ui.Warn(WrapAtLength("The token was not stored in token helper. Set the VAULT_TOKEN "
                             "environment variable or pass the token below with each request "
                             "to Vault.") + "\n");
  }
  Wipe(token);
  if (no_print) return 0;
  if (!env.field.empty()) return env.PrintRawField(s, env.field);
  if (env.Format() == "table")
    env.ui.Output(WrapAtLength("Success! You are now authenticated. The token information "
                               "displayed below is already stored in the token helper. You do "
                               "NOT need to run \"vault login\" again. Future Vault requests will "
                               "automatically use this token.") + "\n");
  return env.OutputSecret(s);
}

// vault unwrap [token]: PUT sys/wrapping/unwrap. The token goes in the body unless it is
// the client token itself (or there is no client token, when it becomes the client token),
// as the Go client's Logical().Unwrap does.
int Unwrap(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, true);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() > 1) {
    env.ui.Error("Too many arguments (expected 0-1, got " + std::to_string(pos.size()) + ")");
    return 1;
  }
  auto c = env.NewClient();
  if (!c) return 1;
  client::Request req{.method = "PUT", .path = "/v1/sys/wrapping/unwrap", .body = std::string("null")};
  if (!pos.empty()) {
    std::string token(TrimSpace(pos[0]));
    if (c->config().token.str().empty()) c->SetToken(token);
    else if (token != c->config().token.str()) req.body = nlohmann::json{{"token", token}}.dump();
  }
  auto s = WriteSecret(*c, req);
  if (!s.ok()) {
    env.ui.Error(s.status().message());
    return 2;
  }
  if (!s->has_value()) {
    if (env.Format() == "table") env.ui.Output("Successfully unwrapped. There was no data in the wrapped secret.");
    return 0;
  }
  if (!env.field.empty()) return env.PrintRawField(**s, env.field);
  return env.OutputSecret(**s);
}

}  // namespace

void RegisterGenericCommands(std::vector<CommandSpec>* out) {
  out->push_back({"unwrap", "Unwrap a wrapped secret", Unwrap});
  out->push_back({"read", "Read data and retrieves secrets", Read});
  out->push_back({"write", "Write data, configuration, and secrets", Write});
  out->push_back({"delete", "Delete secrets and configuration", Delete});
  out->push_back({"list", "List data or secrets", List});
  out->push_back({"login", "Authenticate locally", Login});
  out->push_back({"path-help", "Retrieve API help for paths", PathHelp});
}

}  // namespace tresor::cli
