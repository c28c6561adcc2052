// `vault status` and `vault operator ...`.
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/commands.h"
#include "common/duration.h"
#include "common/strings.h"
#include "snapshot/archive.h"

namespace tresor::cli {
namespace {

int64_t IntField(const Json& o, const char* k) {
  if (!o.is_object() || !o.contains(k)) return 0;
  const Json& v = o[k];
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) return int64_t(v.get<double>());
  return 0;
}

std::string StrField(const Json& o, const char* k) {
  if (!o.is_object() || !o.contains(k) || !o[k].is_string()) return "";
  return o[k].get<std::string>();
}

// Data of a response that may carry it in `data` or (sys "data injection") at top level.
Json DataOf(const Json& body) {
  if (body.is_object() && body.contains("data") && body["data"].is_object()) return body["data"];
  return body;
}

std::string Rfc822(const std::string& rfc3339) {
  auto tp = ParseRFC3339(rfc3339);
  if (!tp) return rfc3339;
  time_t t = std::chrono::system_clock::to_time_t(*tp);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%d %b %y %H:%M UTC", &tm);
  return buf;
}

std::string KeyStatusTable(const Json& ks) {
  return Columnize({"Key Term | " + std::to_string(IntField(ks, "term")),
                    "Install Time | " + Rfc822(StrField(ks, "install_time")),
                    "Encryption Count | " + std::to_string(IntField(ks, "encryptions"))},
                   "|");
}

Json KeyStatusJson(const Json& ks) {
  Json o = Json::object();
  o["term"] = IntField(ks, "term");
  o["install_time"] = StrField(ks, "install_time");
  o["encryptions"] = IntField(ks, "encryptions");
  return o;
}

// ---- status ----
int Status_(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, false);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (!pos.empty()) return ArgCountError(env.ui, 0, pos.size(), true);
  auto c = env.NewClient();
  auto st = CallJson(*c, {.method = "GET", .path = "/v1/sys/seal-status"});
  if (!st.ok()) {
    env.ui.Error("Error checking seal status: " + st.status().message());
    return 1;
  }
  int code = OutputSealStatus(env, *c, *st);
  if (st->is_object() && st->value("sealed", false)) return 2;
  return code;
}

// ---- operator init ----
int Init(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, false);
  bool status = false, consul_auto = false;
  int64_t shares = 0, threshold = 0, rshares = 0, rthreshold = 0, stored = -1;
  std::vector<std::string> pgp, rpgp;
  std::string root_pgp, consul_service = "vault";
  fs.Bool("status", &status);
  fs.Int("key-shares", &shares, {"n"});
  fs.Int("key-threshold", &threshold, {"t"});
  fs.CommaSlice("pgp-keys", &pgp);
  fs.String("root-token-pgp-key", &root_pgp);
  fs.Int("stored-shares", &stored);
  fs.Bool("consul-auto", &consul_auto);
  fs.String("consul-service", &consul_service);
  fs.Int("recovery-shares", &rshares);
  fs.Int("recovery-threshold", &rthreshold);
  fs.CommaSlice("recovery-pgp-keys", &rpgp);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (!pos.empty()) return ArgCountError(env.ui, 0, pos.size(), true);
  if (stored != -1) env.ui.Warn("-stored-shares has no effect and will be removed in Vault 1.3.\n");
  if (!pgp.empty() || !root_pgp.empty() || !rpgp.empty()) {
    env.ui.Error("PGP-encrypted key shares are not supported by this client");
    return 1;
  }
  auto c = env.NewClient();

  if (status) {
    auto r = CallJson(*c, {.method = "GET", .path = "/v1/sys/init"});
    if (!r.ok()) {
      env.ui.Error("Error checking init status: " + r.status().message());
      return 1;
    }
    bool inited = r->is_object() && r->value("initialized", false);
    if (env.Format() == "table") {
      env.ui.Output(inited ? "Vault is initialized" : "Vault is not initialized");
    } else {
      env.OutputData(Json{{"Initialized", inited}});
    }
    return inited ? 0 : 2;
  }
  if (consul_auto) {
    env.ui.Error("Consul service discovery is not supported by this client");
    return 1;
  }

  auto seal = CallJson(*c, {.method = "GET", .path = "/v1/sys/seal-status"});
  if (!seal.ok()) {
    env.ui.Error("Error checking seal status: " + seal.status().message());
    return 2;
  }
  if (seal->is_object() && seal->value("recovery_seal", false)) {
    if (rshares == 0) rshares = 5;
    if (rthreshold == 0) rthreshold = 3;
  } else {
    if (shares == 0) shares = 5;
    if (threshold == 0) threshold = 3;
  }
  Json req = Json::object();
  req["secret_shares"] = shares;
  req["secret_threshold"] = threshold;
  req["stored_shares"] = 0;
  req["pgp_keys"] = nullptr;
  req["recovery_shares"] = rshares;
  req["recovery_threshold"] = rthreshold;
  req["recovery_pgp_keys"] = nullptr;
  req["root_token_pgp_key"] = "";
  auto r = CallJson(*c, {.method = "PUT", .path = "/v1/sys/init", .body = req.dump()});
  if (!r.ok()) {
    env.ui.Error("Error initializing: " + r.status().message());
    return 2;
  }
  std::vector<std::string> keys = StringList(r->value("keys", Json()));
  std::vector<std::string> keys_b64 = StringList(r->value("keys_base64", Json()));
  std::vector<std::string> rkeys = StringList(r->value("recovery_keys", Json()));
  std::vector<std::string> rkeys_b64 = StringList(r->value("recovery_keys_base64", Json()));
  std::string root = StrField(*r, "root_token");

  if (env.Format() != "table") {
    Json o = Json::object();
    o["unseal_keys_b64"] = keys_b64;
    o["unseal_keys_hex"] = keys;
    o["unseal_shares"] = keys.empty() ? 1 : shares;
    o["unseal_threshold"] = keys.empty() ? 1 : threshold;
    o["recovery_keys_b64"] = rkeys_b64;
    o["recovery_keys_hex"] = rkeys;
    o["recovery_keys_shares"] = rshares;
    o["recovery_keys_threshold"] = rthreshold;
    o["root_token"] = root;
    int rc = env.OutputData(o);
    for (auto* v : {&keys, &keys_b64, &rkeys, &rkeys_b64})
      for (auto& k : *v) Wipe(k);
    Wipe(root);
    return rc;
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string& k = keys_b64.size() == keys.size() ? keys_b64[i] : keys[i];
    env.ui.Output("Unseal Key " + std::to_string(i + 1) + ": " + k);
  }
  for (size_t i = 0; i < rkeys.size(); ++i) {
    const std::string& k = rkeys_b64.size() == rkeys.size() ? rkeys_b64[i] : rkeys[i];
    env.ui.Output("Recovery Key " + std::to_string(i + 1) + ": " + k);
  }
  env.ui.Output("");
  env.ui.Output("Initial Root Token: " + root);
  if (!keys.empty()) {
    env.ui.Output("");
    env.ui.Output(WrapAtLength(
        "Vault initialized with " + std::to_string(shares) + " key shares and a key threshold of " +
        std::to_string(threshold) +
        ". Please securely distribute the key shares printed above. When the Vault is "
        "re-sealed, restarted, or stopped, you must supply at least " +
        std::to_string(threshold) +
        " of these keys to unseal it before it can start servicing requests."));
    env.ui.Output("");
    env.ui.Output(WrapAtLength("Vault does not store the generated root key. Without at least " +
                               std::to_string(threshold) +
                               " keys to reconstruct the root key, Vault will remain permanently "
                               "sealed!"));
    env.ui.Output("");
    env.ui.Output(WrapAtLength(
        "It is possible to generate new unseal keys, provided you have a quorum of existing "
        "unseal keys shares. See \"vault operator rekey\" for more information."));
  } else {
    env.ui.Output("");
    env.ui.Output("Success! Vault is initialized");
  }
  if (!rkeys.empty()) {
    env.ui.Output("");
    env.ui.Output(WrapAtLength("Recovery key initialized with " + std::to_string(rshares) +
                               " key shares and a key threshold of " + std::to_string(rthreshold) +
                               ". Please securely distribute the key shares printed above."));
  }
  for (auto* v : {&keys, &keys_b64, &rkeys, &rkeys_b64})
    for (auto& k : *v) Wipe(k);
  Wipe(root);
  return 0;
}

// ---- operator unseal ----
int Unseal(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, false);
  bool reset = false, migrate = false;
  fs.Bool("reset", &reset);
  fs.Bool("migrate", &migrate);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  std::string key;
  if (pos.size() > 1) {
    env.ui.Error("Too many arguments (expected 0-1, got " + std::to_string(pos.size()) + ")");
    return 1;
  }
  if (pos.size() == 1) key = std::string(TrimSpace(pos[0]));
  auto c = env.NewClient();
  if (reset) {
    auto r = CallJson(*c, {.method = "PUT", .path = "/v1/sys/unseal", .body = R"({"reset":true})"});
    if (!r.ok()) {
      env.ui.Error("Error resetting unseal process: " + r.status().message());
      return 2;
    }
    return OutputSealStatus(env, *c, *r);
  }
  if (key.empty()) {
    auto v = env.ui.read_secret ? env.ui.read_secret("Unseal Key (will be hidden): ", *env.ui.out)
                                : std::nullopt;
    if (!v) {
      env.ui.Error(WrapAtLength(
          "An error occurred attempting to ask for an unseal key. The raw error message is "
          "shown below, but usually this is because you attempted to pipe a value into the "
          "unseal command or you are executing outside of a terminal (tty). You should run the "
          "unseal command from a terminal for maximum security. If this is not an option, the "
          "unseal key can be provided as the first argument to the unseal command. The raw "
          "error was: EOF"));
      return 1;
    }
    key = std::string(TrimSpace(*v));
    Wipe(*v);
  }
  Json body = Json::object();
  body["key"] = key;
  body["reset"] = false;
  body["migrate"] = migrate;
  std::string text = body.dump();
  Wipe(key);
  auto r = CallJson(*c, {.method = "PUT", .path = "/v1/sys/unseal", .body = text});
  Wipe(text);
  if (!r.ok()) {
    env.ui.Error("Error unsealing: " + r.status().message());
    return 2;
  }
  return OutputSealStatus(env, *c, *r);
}

int SimpleNoArgs(CommandEnv& env, const std::vector<std::string>& args,
                 std::vector<std::string>* pos) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  if (auto rc = env.Parse(fs, args, pos)) return *rc;
  if (!pos->empty()) return ArgCountError(env.ui, 0, pos->size(), true);
  return -1;
}

int Seal(CommandEnv& env, const std::vector<std::string>& args) {
  std::vector<std::string> pos;
  if (int rc = SimpleNoArgs(env, args, &pos); rc >= 0) return rc;
  auto c = env.NewClient();
  auto r = c->Call({.method = "PUT", .path = "/v1/sys/seal"});
  if (!r.ok()) {
    env.ui.Error("Error sealing: " + r.status().message());
    return 2;
  }
  env.ui.Output("Success! Vault is sealed.");
  return 0;
}

int StepDown(CommandEnv& env, const std::vector<std::string>& args) {
  std::vector<std::string> pos;
  if (int rc = SimpleNoArgs(env, args, &pos); rc >= 0) return rc;
  auto c = env.NewClient();
  auto r = c->Call({.method = "PUT", .path = "/v1/sys/step-down"});
  if (!r.ok()) {
    env.ui.Error("Error stepping down: " + r.status().message());
    return 2;
  }
  env.ui.Output("Success! Stepped down: " + c->config().address);
  return 0;
}

int KeyStatusCmd(CommandEnv& env, const std::vector<std::string>& args, bool rotate) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, false);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (!pos.empty()) return ArgCountError(env.ui, 0, pos.size(), true);
  auto c = env.NewClient();
  if (rotate) {
    auto r = c->Call({.method = "PUT", .path = "/v1/sys/rotate"});
    if (!r.ok()) {
      env.ui.Error("Error rotating key: " + r.status().message());
      return 2;
    }
  }
  auto ks = CallJson(*c, {.method = "GET", .path = "/v1/sys/key-status"});
  if (!ks.ok()) {
    env.ui.Error("Error reading key status: " + ks.status().message());
    return 2;
  }
  Json data = DataOf(*ks);
  if (env.Format() == "table") {
    if (rotate) {
      env.ui.Output("Success! Rotated key");
      env.ui.Output("");
    }
    env.ui.Output(KeyStatusTable(data));
    return 0;
  }
  return env.OutputData(KeyStatusJson(data));
}

// ---- operator raft ----
int RaftListPeers(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, false);
  std::string dr_token;
  fs.String("dr-token", &dr_token);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (!pos.empty()) return ArgCountError(env.ui, 0, pos.size(), true);
  auto c = env.NewClient();
  client::Request req{.method = "GET", .path = "/v1/sys/storage/raft/configuration"};
  if (!dr_token.empty()) {
    req.method = "PUT";
    req.body = Json{{"dr_operation_token", dr_token}}.dump();
  }
  auto r = ReadSecret(*c, req);
  if (!r.ok()) {
    env.ui.Error("Error reading the raft cluster configuration: " + r.status().message());
    return 2;
  }
  if (!r->has_value()) {
    env.ui.Error("No raft cluster configuration found");
    return 2;
  }
  const Secret& s = **r;
  if (env.Format() != "table") return env.OutputSecret(s);
  Json config = s.data.is_object() ? s.data.value("config", Json()) : Json();
  std::vector<std::string> out{"Node | Address | State | Voter"};
  if (config.is_object() && config.contains("servers") && config["servers"].is_array()) {
    for (const auto& srv : config["servers"]) {
      bool leader = srv.value("leader", false);
      bool voter = srv.value("voter", false);
      out.push_back(StrField(srv, "node_id") + " | " + StrField(srv, "address") + " | " +
                    (leader ? "leader" : "follower") + " | " + (voter ? "true" : "false"));
    }
  }
  env.ui.Output(TableOutput(out, "|"));
  return 0;
}

Result<std::string> FlagFile(const std::string& raw) {
  if (!raw.empty() && raw[0] == '@') {
    std::ifstream in(raw.substr(1), std::ios::binary);
    if (!in) return Status::IOError("error reading file: open " + raw.substr(1) + ": no such file or directory");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  return raw;
}

int RaftJoin(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, false);
  std::string ca, cert, key, scheme;
  int64_t port = 0;
  bool retry = false, non_voter = false;
  fs.String("leader-ca-cert", &ca);
  fs.String("leader-client-cert", &cert);
  fs.String("leader-client-key", &key);
  fs.Bool("retry", &retry);
  fs.Bool("non-voter", &non_voter);
  fs.String("auto-join-scheme", &scheme);
  fs.Int("auto-join-port", &port);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  std::string leader, auto_join;
  if (pos.size() > 1) {
    env.ui.Error("Too many arguments (expected 0-1, got " + std::to_string(pos.size()) + ")");
    return 1;
  }
  if (pos.size() == 1) {
    std::string a(TrimSpace(pos[0]));
    if (a.find("provider=") != std::string::npos) auto_join = a;
    else leader = a;
  }
  if (!scheme.empty() && scheme != "http" && scheme != "https") {
    env.ui.Error("invalid scheme '" + scheme + "'; must either be http or https");
    return 1;
  }
  std::string files[3] = {ca, cert, key};
  for (auto& f : files) {
    auto r = FlagFile(f);
    if (!r.ok()) {
      env.ui.Error("Failed to parse the leader certificate or key: " + r.status().message());
      return 1;
    }
    f = *r;
  }
  Json body = Json::object();
  body["auto_join"] = auto_join;
  body["auto_join_scheme"] = scheme;
  body["auto_join_port"] = port;
  body["leader_api_addr"] = leader;
  body["leader_ca_cert"] = files[0];
  body["leader_client_cert"] = files[1];
  body["leader_client_key"] = files[2];
  body["retry"] = retry;
  body["non_voter"] = non_voter;
  auto c = env.NewClient();
  auto r = CallJson(*c, {.method = "POST", .path = "/v1/sys/storage/raft/join", .body = body.dump()});
  if (!r.ok()) {
    env.ui.Error("Error joining the node to the Raft cluster: " + r.status().message());
    return 2;
  }
  bool joined = r->is_object() && r->value("joined", false);
  if (env.Format() != "table") return env.OutputData(Json{{"joined", joined}});
  env.ui.Output(TableOutput({"Key | Value", std::string("Joined | ") + (joined ? "true" : "false")}, "|"));
  return 0;
}

int RaftRemovePeer(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  std::string dr_token;
  fs.String("dr-token", &dr_token);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  auto c = env.NewClient();
  Json body{{"server_id", std::string(TrimSpace(pos[0]))}, {"dr_operation_token", dr_token}};
  auto r = c->Call({.method = "PUT", .path = "/v1/sys/storage/raft/remove-peer", .body = body.dump()});
  if (!r.ok()) {
    env.ui.Error("Error removing the peer from raft cluster: " + r.status().message());
    return 2;
  }
  env.ui.Output("Peer removed successfully!");
  return 0;
}

// Go's text for an errno (syscall.Errno.Error()): libc's, starting in lower case.
std::string GoErrnoText(int err) {
  std::string text = std::strerror(err);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

int RaftSnapshotSave(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  auto c = env.NewClient();
  auto r = c->Call({.method = "GET", .path = "/v1/sys/storage/raft/snapshot"});
  if (!r.ok()) {
    env.ui.Error("Error taking the snapshot: " + r.status().message());
    return 2;
  }
  // Vault's client check: a snapshot cut short (say, by a seal failing half-way) lacks its
  // last file, the sealed sums; such a file is not written.
  if (!snapshot::HasSealedSums(r->body)) {
    env.ui.Error("Error taking the snapshot: incomplete snapshot, unable to verify");
    return 2;
  }
  const std::string& path = pos[0];
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    env.ui.Error("Error opening output file: open " + path + ": " + GoErrnoText(errno));
    return 2;
  }
  ::chmod(path.c_str(), 0600);
  bool ok = std::fwrite(r->body.data(), 1, r->body.size(), f) == r->body.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    env.ui.Error("Error taking the snapshot: write " + path + ": " + GoErrnoText(errno));
    return 2;
  }
  return 0;
}

int RaftSnapshotRestore(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  bool force = false;
  fs.Bool("force", &force);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  std::ifstream in(pos[0], std::ios::binary);
  if (!in) {
    env.ui.Error("Error opening policy file: open " + pos[0] + ": no such file or directory");
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = env.NewClient();
  auto r = c->Call({.method = "POST",
                    .path = force ? "/v1/sys/storage/raft/snapshot-force"
                                  : "/v1/sys/storage/raft/snapshot",
                    .body = ss.str()});
  if (!r.ok()) {
    env.ui.Error("Error installing the snapshot: " + r.status().message());
    return 2;
  }
  return 0;
}

// Go's humanised byte count as Vault's `snapshot inspect` prints it: "0", "512B", "1.5KB".
std::string InspectByteSize(uint64_t bytes) {
  if (bytes == 0) return "0";
  static const char* kUnits[] = {"B", "KB", "MB", "GB", "TB"};
  int unit = 0;
  while (unit < 4 && bytes >= (uint64_t(1) << (10 * (unit + 1)))) ++unit;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", double(bytes) / double(uint64_t(1) << (10 * unit)));
  std::string v(buf);
  if (v.size() > 2 && v.compare(v.size() - 2, 2, ".0") == 0) v.resize(v.size() - 2);
  return v + kUnits[unit];
}

// Reads a snapshot file locally (no server): its metadata and, with -details, the number
// and size of entries per key prefix. Checks SHA256SUMS; the sealed sums need the cluster.
int RaftSnapshotInspect(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, false);
  bool details = true;
  int64_t depth = 2;
  std::string filter;
  fs.Bool("details", &details);
  fs.Int("depth", &depth);
  fs.String("filter", &filter);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (depth < 0) {
    env.ui.Error("Depth must be equal to or greater than 0");
    return 1;
  }
  if (pos.empty()) {
    env.ui.Error("Missing FILE argument");
    return 1;
  }
  if (pos.size() > 1) {
    env.ui.Error("Too many arguments (expected 1, got " + std::to_string(pos.size()) + ")");
    return 1;
  }
  std::ifstream in(pos[0], std::ios::binary);
  if (!in) {
    env.ui.Error("Error opening snapshot file: open " + pos[0] + ": " + GoErrnoText(errno));
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string file = ss.str();
  auto snap = snapshot::Read(file, nullptr);
  if (!snap.ok()) {
    env.ui.Error("Error reading snapshot: " + snap.status().message());
    return 1;
  }
  struct Stat {
    uint64_t count = 0, size = 0;
  };
  std::map<std::string, Stat> stats;
  uint64_t total_count = 0, total_size = 0;
  Status st = snapshot::ForEachEntry(snap->state, [&](const snapshot::Entry& e) {
    if (!details || e.key.empty() || !e.key.starts_with(filter)) return Status::Ok();
    std::vector<std::string> parts = Split(std::string(e.key), '/');
    size_t d = depth == 0 || size_t(depth) > parts.size() ? parts.size() : size_t(depth);
    std::string prefix;
    for (size_t i = 0; i < d; ++i) prefix += (i ? "/" : "") + parts[i];
    Stat& s = stats[prefix];
    s.count++;
    s.size += e.encoded_size;
    total_count++;
    total_size += e.encoded_size;
    return Status::Ok();
  });
  if (!st.ok()) {
    env.ui.Error("Error reading snapshot: " + st.message());
    return 1;
  }
  std::vector<std::pair<std::string, Stat>> rows(stats.begin(), stats.end());
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.count > b.second.count; });
  const snapshot::Meta& m = snap->meta;
  if (env.Format() != "table") {
    Json kv = nullptr;
    if (!rows.empty()) {
      kv = Json::array();
      for (const auto& [name, s] : rows) kv.push_back({{"Name", name}, {"Count", s.count}, {"Size", s.size}});
    }
    return env.OutputData(Json{{"Meta", {{"ID", m.id}, {"Size", m.size}, {"Index", m.index}, {"Term", m.term},
                                          {"Version", m.version}}},
                               {"StatsKV", kv},
                               {"TotalCountKV", total_count},
                               {"TotalSizeKV", total_size}});
  }
  std::string t = " ID\t" + m.id + "\n Size\t" + std::to_string(m.size) + "\n Index\t" + std::to_string(m.index) +
                  "\n Term\t" + std::to_string(m.term) + "\n Version\t" + std::to_string(m.version) + "\n";
  if (!rows.empty()) {
    t += "\n\n Key Name\tCount\tSize\n ----\t----\t----";
    for (const auto& [name, s] : rows) t += "\n " + name + "\t" + std::to_string(s.count) + "\t" + InspectByteSize(s.size);
    t += "\n ----\t----\n Total Size\t\t" + InspectByteSize(total_size);
  }
  env.ui.Output(TabWrite(t, 8, 6));
  return 0;
}

// A server's RFC 3339 time printed as Go's time.RFC3339 (whole seconds); as given if it
// does not parse.
std::string Rfc3339Seconds(const std::string& t) {
  auto parsed = ParseRFC3339(t);
  return parsed ? FormatRFC3339(*parsed) : t;
}

int Members(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, false);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  auto c = env.NewClient();
  auto r = c->Call({.method = "GET", .path = "/v1/sys/ha-status"});
  if (!r.ok()) {
    env.ui.Error(r.status().message());
    return 2;
  }
  Json body = Json::parse(r->body, nullptr, false);
  Json nodes = body.is_object() && body.contains("nodes") && body["nodes"].is_array() ? body["nodes"] : Json::array();
  auto active = [](const Json& n) { return n.contains("active_node") && n["active_node"].is_boolean() && n["active_node"].get<bool>(); };
  if (env.Format() == "table") {
    std::vector<std::string> out{
        "Host Name | API Address | Cluster Address | Active Node | Version | Upgrade Version | Redundancy Zone | Last Echo"};
    for (const auto& n : nodes) {
      std::string echo = n.contains("last_echo") && n["last_echo"].is_string() ? Rfc3339Seconds(n["last_echo"]) : "";
      out.push_back(StrField(n, "hostname") + " | " + StrField(n, "api_address") + " | " +
                    StrField(n, "cluster_address") + " | " + (active(n) ? "true" : "false") +
                    " | " + StrField(n, "version") + " | " + StrField(n, "upgrade_version") + " | " +
                    StrField(n, "redundancy_zone") + " | " + echo);
    }
    env.ui.Output(TableOutput(out, "|"));
    return 0;
  }
  // Vault prints its decoded HAStatusResponse: {"Nodes": [...]}, empty optional fields left out.
  Json list = Json::array();
  for (const auto& n : nodes) {
    Json o{{"hostname", StrField(n, "hostname")},
           {"api_address", StrField(n, "api_address")},
           {"cluster_address", StrField(n, "cluster_address")},
           {"active_node", active(n)},
           {"last_echo", n.contains("last_echo") && n["last_echo"].is_string() ? n["last_echo"] : Json()},
           {"version", StrField(n, "version")}};
    for (const char* k : {"upgrade_version", "redundancy_zone"})
      if (!StrField(n, k).empty()) o[k] = StrField(n, k);
    list.push_back(o);
  }
  return env.OutputData(Json{{"Nodes", list}});
}

std::string FormatSeconds(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return GoDurationString(int64_t(v.get<double>()));
  return GoValue(v);
}

int AutopilotGetConfig(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, false);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (!pos.empty()) return ArgCountError(env.ui, 0, pos.size(), true);
  auto c = env.NewClient();
  auto r = ReadSecret(*c, {.method = "GET", .path = "/v1/sys/storage/raft/autopilot/configuration"});
  if (!r.ok()) {
    env.ui.Error(r.status().message());
    return 2;
  }
  if (!r->has_value() || !(*r)->data.is_object()) return 0;
  const Json& d = (*r)->data;
  if (env.Format() != "table") return env.OutputData(d);
  auto b = [&](const char* k) { return std::string(d.value(k, false) ? "true" : "false"); };
  std::vector<std::string> out{"Key | Value"};
  out.push_back("Cleanup Dead Servers | " + b("cleanup_dead_servers"));
  out.push_back("Last Contact Threshold | " + FormatSeconds(d.value("last_contact_threshold", Json())));
  out.push_back("Dead Server Last Contact Threshold | " +
                FormatSeconds(d.value("dead_server_last_contact_threshold", Json())));
  out.push_back("Server Stabilization Time | " + FormatSeconds(d.value("server_stabilization_time", Json())));
  out.push_back("Min Quorum | " + std::to_string(IntField(d, "min_quorum")));
  out.push_back("Max Trailing Logs | " + std::to_string(IntField(d, "max_trailing_logs")));
  out.push_back("Disable Upgrade Migration | " + b("disable_upgrade_migration"));
  env.ui.Output(TableOutput(out, "|"));
  return 0;
}

int AutopilotSetConfig(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  Json body = Json::object();
  auto dur = [&](const char* flag, const char* key) {
    fs.Custom(flag, false, [&body, key](const std::string& v) {
      if (!ParseDurationSeconds(v)) return Status::InvalidRequest("time: invalid duration \"" + v + "\"");
      body[key] = v;
      return Status::Ok();
    });
  };
  auto boolean = [&](const char* flag, const char* key) {
    fs.Custom(flag, true, [&body, key](const std::string& v) {
      bool b;
      if (!ParseGoBool(v, &b)) return Status::InvalidRequest("parse error");
      body[key] = b;
      return Status::Ok();
    });
  };
  auto integer = [&](const char* flag, const char* key) {
    fs.Custom(flag, false, [&body, key](const std::string& v) {
      char* end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end) return Status::InvalidRequest("parse error");
      body[key] = n;
      return Status::Ok();
    });
  };
  boolean("cleanup-dead-servers", "cleanup_dead_servers");
  dur("last-contact-threshold", "last_contact_threshold");
  dur("dead-server-last-contact-threshold", "dead_server_last_contact_threshold");
  integer("max-trailing-logs", "max_trailing_logs");
  integer("min-quorum", "min_quorum");
  dur("server-stabilization-time", "server_stabilization_time");
  boolean("disable-upgrade-migration", "disable_upgrade_migration");
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (!pos.empty()) return ArgCountError(env.ui, 0, pos.size(), true);
  auto c = env.NewClient();
  auto r = c->Call({.method = "POST", .path = "/v1/sys/storage/raft/autopilot/configuration",
                    .body = body.dump()});
  if (!r.ok()) {
    env.ui.Error(r.status().message());
    return 2;
  }
  return 0;
}

int AutopilotState(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, false);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (!pos.empty()) return ArgCountError(env.ui, 0, pos.size(), true);
  auto c = env.NewClient();
  auto r = ReadSecret(*c, {.method = "GET", .path = "/v1/sys/storage/raft/autopilot/state"});
  if (!r.ok()) {
    env.ui.Error("Error checking autopilot state: " + r.status().message());
    return 2;
  }
  if (!r->has_value() || !(*r)->data.is_object()) return 0;
  const Json& d = (*r)->data;
  std::string f = env.format.empty() ? "pretty" : env.Format();
  if (f != "pretty") return env.OutputData(d);
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  std::ostringstream out;
  out << "Healthy:                         " << b(d.value("healthy", false)) << "\n";
  out << "Failure Tolerance:               " << IntField(d, "failure_tolerance") << "\n";
  out << "Leader:                          " << StrField(d, "leader") << "\n";
  out << "Voters:\n";
  for (const auto& v : StringList(d.value("voters", Json()))) out << "   " << v << "\n";
  auto nonvoters = StringList(d.value("non_voters", Json()));
  if (!nonvoters.empty()) {
    out << "Non Voters:\n";
    for (const auto& v : nonvoters) out << "   " << v << "\n";
  }
  if (IntField(d, "optimistic_failure_tolerance") > 0)
    out << "Optimistic Failure Tolerance:    " << IntField(d, "optimistic_failure_tolerance") << "\n";
  out << "Servers:\n";
  Json servers = d.value("servers", Json::object());
  std::map<std::string, Json> sorted;
  if (servers.is_object())
    for (auto it = servers.begin(); it != servers.end(); ++it) sorted[it.key()] = it.value();
  for (const auto& [id, s] : sorted) {
    out << "   " << StrField(s, "id") << "\n";
    out << "      Name:              " << StrField(s, "name") << "\n";
    out << "      Address:           " << StrField(s, "address") << "\n";
    out << "      Status:            " << StrField(s, "status") << "\n";
    out << "      Node Status:       " << StrField(s, "node_status") << "\n";
    out << "      Healthy:           " << b(s.value("healthy", false)) << "\n";
    out << "      Last Contact:      " << FormatSeconds(s.value("last_contact", Json())) << "\n";
    out << "      Last Term:         " << IntField(s, "last_term") << "\n";
    out << "      Last Index:        " << IntField(s, "last_index") << "\n";
    out << "      Version:           " << StrField(s, "version") << "\n";
    if (!StrField(s, "upgrade_version").empty())
      out << "      Upgrade Version:   " << StrField(s, "upgrade_version") << "\n";
    if (!StrField(s, "redundancy_zone").empty())
      out << "      Redundancy Zone:   " << StrField(s, "redundancy_zone") << "\n";
    if (!StrField(s, "node_type").empty())
      out << "      Node Type:         " << StrField(s, "node_type") << "\n";
  }
  env.ui.Output(out.str());
  return 0;
}

}  // namespace

void RegisterOperatorCommands(std::vector<CommandSpec>* out) {
  out->push_back({"status", "Print seal and HA status", Status_});
  out->push_back({"operator init", "Initializes a server", Init});
  out->push_back({"operator unseal", "Unseals the Vault server", Unseal});
  out->push_back({"operator seal", "Seals the Vault server", Seal});
  out->push_back({"operator step-down", "Forces Vault to resign active duty", StepDown});
  out->push_back({"operator rotate", "Rotates the underlying encryption key",
                  [](CommandEnv& e, const std::vector<std::string>& a) { return KeyStatusCmd(e, a, true); }});
  out->push_back({"operator key-status", "Provides information about the active encryption key",
                  [](CommandEnv& e, const std::vector<std::string>& a) { return KeyStatusCmd(e, a, false); }});
  out->push_back({"operator members", "Returns the list of nodes in the cluster", Members});
  out->push_back({"operator raft list-peers", "Returns the Raft peer set", RaftListPeers});
  out->push_back({"operator raft join", "Joins a node to the Raft cluster", RaftJoin});
  out->push_back({"operator raft remove-peer", "Removes a node from the Raft cluster", RaftRemovePeer});
  out->push_back({"operator raft snapshot save", "Saves a snapshot of the current state of the Raft cluster into a file", RaftSnapshotSave});
  out->push_back({"operator raft snapshot inspect", "Inspects raft snapshot", RaftSnapshotInspect});
  out->push_back({"operator raft snapshot restore", "Installs the provided snapshot, returning the cluster to the state defined in it", RaftSnapshotRestore});
  out->push_back({"operator raft autopilot state", "Displays the state of the raft cluster under integrated storage as seen by autopilot", AutopilotState});
  out->push_back({"operator raft autopilot get-config", "Returns the configuration of the autopilot subsystem under integrated storage", AutopilotGetConfig});
  out->push_back({"operator raft autopilot set-config", "Modify the configuration of the autopilot subsystem under integrated storage", AutopilotSetConfig});
}

}  // namespace tresor::cli
