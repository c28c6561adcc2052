// KV version 2: versioned secrets.
//
// Storage layout inside the mount's view:
//   config                 engine settings (max_versions, cas_required, delete_version_after)
//   meta/<path>            one metadata record per secret: version table, settings, and a
//                          random record id naming its version records
//   ver/<id>/<version>     one record per version: the secret's data as JSON
// Keying version records by the random id (not the path) keeps paths out of most keys, and
// lets metadata/ LIST be a plain Storage::List over meta/. A write is a single transaction
// (new version + metadata + pruned versions), taken under the key's striped lock so two
// concurrent writers cannot lose a version or both pass the same check-and-set.
#include <chrono>
#include <map>
#include <mutex>

#include "common/duration.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/random.h"
#include "engines/kv/kv.h"
#include "engines/kv/kv_internal.h"
#include "engines/kv/listing.h"

namespace tresor::kv {
namespace {

using framework::Field;
using framework::FieldData;
using framework::FieldType;
using framework::Path;
using logical::Operation;
using logical::Request;
using logical::Response;
using logical::ResponsePtr;
using json = nlohmann::json;

constexpr uint64_t kDefaultMaxVersions = 10;
constexpr int64_t kDeleteVersionAfterDisabled = -1;  // config only: a negative duration
constexpr size_t kMaxCustomMetadataKeys = 64;
constexpr size_t kMaxCustomMetadataKeyLength = 128;
constexpr size_t kMaxCustomMetadataValueLength = 512;
constexpr const char* kCustomMetadataPrefix = "custom_metadata validation failed";

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string TimeString(int64_t ns) {
  if (ns == 0) return "";
  return FormatRFC3339Nano(std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(ns))));
}

struct Config {
  uint64_t max_versions = 0;
  bool cas_required = false;
  int64_t delete_version_after = 0;  // seconds; 0 unset, -1 disabled
};

struct VersionMeta {
  int64_t created_ns = 0;
  int64_t deletion_ns = 0;  // 0: none; may lie in the future (delete_version_after)
  bool destroyed = false;

  bool Deleted(int64_t now) const { return deletion_ns != 0 && deletion_ns < now; }
  bool Gone(int64_t now) const { return destroyed || Deleted(now); }
};

struct KeyMeta {
  std::string id;
  uint64_t current_version = 0;
  uint64_t oldest_version = 0;
  uint64_t max_versions = 0;
  bool cas_required = false;
  int64_t delete_version_after = 0;  // seconds
  json custom_metadata = nullptr;     // null or an object of strings
  int64_t created_ns = 0;
  int64_t updated_ns = 0;
  std::map<uint64_t, VersionMeta> versions;

  // Written by hand rather than through a json object: this runs on every KV v2 write, and
  // building the object cost more than the barrier's encryption. Same record as before.
  std::string Encode() const {
    auto num = [](std::string& o, std::string_view name, auto v) {
      o += name;
      o += std::to_string(v);
    };
    std::string o;
    o.reserve(240 + 48 * versions.size());
    o += cas_required ? "{\"cas_required\":true" : "{\"cas_required\":false";
    num(o, ",\"created\":", created_ns);
    num(o, ",\"current_version\":", current_version);
    o += ",\"custom_metadata\":";
    AppendJson(o, custom_metadata);
    num(o, ",\"delete_version_after\":", delete_version_after);
    o += ",\"id\":";
    AppendJsonString(o, id);
    num(o, ",\"max_versions\":", max_versions);
    num(o, ",\"oldest_version\":", oldest_version);
    num(o, ",\"updated\":", updated_ns);
    o += ",\"versions\":{";
    bool first = true;
    for (const auto& [n, vm] : versions) {
      o += first ? "\"" : ",\"";
      first = false;
      o += std::to_string(n);
      num(o, "\":{\"c\":", vm.created_ns);
      num(o, ",\"d\":", vm.deletion_ns);
      o += vm.destroyed ? ",\"x\":true}" : ",\"x\":false}";
    }
    o += "}}";
    return o;
  }

  static Result<KeyMeta> Decode(const std::string& raw) {
    json j = ParseJsonOrDiscarded(raw);
    if (j.is_discarded() || !j.is_object()) return Status::Corruption("kv: unreadable metadata record");
    KeyMeta m;
    try {
      m.id = j.at("id").get<std::string>();
      m.current_version = j.at("current_version").get<uint64_t>();
      m.oldest_version = j.at("oldest_version").get<uint64_t>();
      m.max_versions = j.at("max_versions").get<uint64_t>();
      m.cas_required = j.at("cas_required").get<bool>();
      m.delete_version_after = j.at("delete_version_after").get<int64_t>();
      m.custom_metadata = j.at("custom_metadata");
      m.created_ns = j.at("created").get<int64_t>();
      m.updated_ns = j.at("updated").get<int64_t>();
      for (auto& [k, v] : j.at("versions").items()) {
        VersionMeta vm{v.at("c").get<int64_t>(), v.at("d").get<int64_t>(), v.at("x").get<bool>()};
        m.versions[std::stoull(k)] = vm;
      }
    } catch (const std::exception&) {
      return Status::Corruption("kv: malformed metadata record");
    }
    return m;
  }

  // Vault's AddVersion: appends version current+1 and slides the window of kept versions.
  // Returns the versions that fell out of the window (their records must be deleted).
  std::vector<uint64_t> AddVersion(const VersionMeta& vm, uint64_t config_max_versions) {
    ++current_version;
    versions[current_version] = vm;
    updated_ns = vm.created_ns;
    if (created_ns == 0) created_ns = vm.created_ns;
    uint64_t max = max_versions != 0 ? max_versions
                   : config_max_versions > 0 ? config_max_versions
                                             : kDefaultMaxVersions;
    std::vector<uint64_t> pruned;
    if (current_version - oldest_version >= max) {
      uint64_t last = current_version - max;
      for (auto it = versions.begin(); it != versions.end() && it->first <= last;) {
        pruned.push_back(it->first);
        it = versions.erase(it);
      }
      oldest_version = last + 1;
    }
    return pruned;
  }
};

std::string MetaKey(const std::string& path) { return "meta/" + path; }
std::string VersionKey(const KeyMeta& m, uint64_t v) { return "ver/" + m.id + "/" + std::to_string(v); }

// The deletion time a new (or undeleted) version gets: the smaller non-zero of the mount's
// and the key's delete_version_after; 0 if neither is set or the mount disables it.
int64_t DeletionTimeFor(int64_t from_ns, const Config& c, const KeyMeta& m) {
  if (c.delete_version_after == kDeleteVersionAfterDisabled) return 0;
  int64_t mount = c.delete_version_after > 0 ? c.delete_version_after : 0;
  int64_t key = m.delete_version_after > 0 ? m.delete_version_after : 0;
  int64_t secs = key;
  if (mount != 0 && (secs == 0 || mount < secs)) secs = mount;
  if (secs == 0) return 0;
  return from_ns + secs * 1000000000LL;
}

json VersionJson(uint64_t version, const VersionMeta& vm, const KeyMeta& m) {
  return {{"version", version},
          {"created_time", TimeString(vm.created_ns)},
          {"deletion_time", TimeString(vm.deletion_ns)},
          {"destroyed", vm.destroyed},
          {"custom_metadata", m.custom_metadata}};
}

std::string SignedDuration(int64_t secs) {
  return secs < 0 ? "-" + GoDurationString(-secs) : GoDurationString(secs);
}

// Strings as Go's mapstructure.WeakDecode makes them from JSON scalars.
Result<std::string> WeakString(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return std::string(v.get<bool>() ? "1" : "0");
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return std::to_string(static_cast<int64_t>(d));
    return v.dump();
  }
  if (v.is_null()) return std::string();
  return Status::InvalidRequest("expected a string value");
}

bool Printable(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

// custom_metadata from request JSON; `drop_nulls` for PATCH (null means "remove").
Result<json> ParseCustomMetadata(const json& raw, bool drop_nulls) {
  json out = json::object();
  for (auto& [k, v] : raw.items()) {
    if (drop_nulls && v.is_null()) continue;
    auto s = WeakString(v);
    if (!s.ok()) return Status::InvalidRequest(std::string(kCustomMetadataPrefix) + ": " + s.status().message());
    out[k] = *s;
  }
  std::vector<std::string> errs;
  if (out.size() > kMaxCustomMetadataKeys) {
    errs.push_back(std::string(kCustomMetadataPrefix) + ": payload must contain at most " +
                   std::to_string(kMaxCustomMetadataKeys) + " keys, provided " + std::to_string(out.size()));
  } else {
    for (auto& [k, v] : out.items()) {
      std::string val = v.get<std::string>();
      std::string qk = json(k).dump();
      if (k.empty() || k.size() > kMaxCustomMetadataKeyLength)
        errs.push_back(std::string(kCustomMetadataPrefix) + ": length of key " + qk + " is " + std::to_string(k.size()) +
                       " but must be 0 < len(key) <= " + std::to_string(kMaxCustomMetadataKeyLength));
      if (val.empty() || val.size() > kMaxCustomMetadataValueLength)
        errs.push_back(std::string(kCustomMetadataPrefix) + ": length of value for key " + qk + " is " +
                       std::to_string(val.size()) + " but must be 0 < len(value) <= " +
                       std::to_string(kMaxCustomMetadataValueLength));
      if (!Printable(k))
        errs.push_back(std::string(kCustomMetadataPrefix) + ": key " + qk + " contains unprintable characters");
      if (!Printable(val))
        errs.push_back(std::string(kCustomMetadataPrefix) + ": value for key " + qk + " contains unprintable characters");
    }
  }
  if (!errs.empty()) {
    // go-multierror's format, which Vault returns verbatim.
    std::string msg = std::to_string(errs.size()) + (errs.size() == 1 ? " error occurred:\n" : " errors occurred:\n");
    for (auto& e : errs) msg += "\t* " + e + "\n";
    return Status::InvalidRequest(msg + "\n");
  }
  return out;
}

// The versions list of delete/undelete/destroy, as non-negative numbers.
std::vector<uint64_t> Versions(const FieldData& d) {
  std::vector<uint64_t> out;
  for (auto& v : d.Get("versions"))
    if (v.get<int64_t>() > 0) out.push_back(static_cast<uint64_t>(v.get<int64_t>()));
  return out;
}

class KvV2Backend : public framework::FrameworkBackend {
 public:
  explicit KvV2Backend(const framework::BackendConfig&) {
    const Field path_field(FieldType::kString, "Location of the secret.");
    std::vector<Path> paths;

    Path config;
    config.pattern = "config";
    config.fields = {{"max_versions", Field(FieldType::kInt, "Versions kept per key (default 10).")},
                     {"cas_required", Field(FieldType::kBool, "Require the cas option on every write.")},
                     {"delete_version_after",
                      Field(FieldType::kRaw, "Soft-delete versions this long after writing; negative disables.")}};
    config.operations[Operation::kRead] = [this](Request& r, FieldData&) { return ConfigRead(r); };
    config.operations[Operation::kUpdate] = [this](Request& r, FieldData& d) { return ConfigWrite(r, d); };
    config.help_synopsis = "Configures settings for the KV store.";
    paths.push_back(std::move(config));

    Path data;
    data.pattern = "data/(?P<path>.*[^/])";
    data.fields = {{"path", path_field},
                   {"version", Field(FieldType::kInt, "Version to read; latest if unset.")},
                   {"options", Field(FieldType::kMap, "Write options: {\"cas\": N}.")},
                   {"data", Field(FieldType::kMap, "The secret's key/value data.")}};
    data.operations[Operation::kRead] = [this](Request& r, FieldData& d) { return DataRead(r, d); };
    data.operations[Operation::kUpdate] = [this](Request& r, FieldData& d) { return DataWrite(r, d); };
    data.operations[Operation::kCreate] = [this](Request& r, FieldData& d) { return DataWrite(r, d); };
    data.operations[Operation::kPatch] = [this](Request& r, FieldData& d) { return DataPatch(r, d); };
    data.operations[Operation::kDelete] = [this](Request& r, FieldData& d) { return DataDelete(r, d); };
    data.exists = [](Request& r, FieldData& d) { return Exists(r, d); };
    data.help_synopsis = "Write, patch, read and delete versioned data.";
    paths.push_back(std::move(data));

    Path meta;
    meta.pattern = "metadata(?:/(?P<path>.*))?";
    meta.fields = {{"path", path_field},
                   {"max_versions", Field(FieldType::kInt, "Versions kept for this key; engine setting if 0.")},
                   {"cas_required", Field(FieldType::kBool, "Require the cas option on writes to this key.")},
                   {"delete_version_after", Field(FieldType::kDurationSecond, "Soft-delete versions after this long.")},
                   {"custom_metadata", Field(FieldType::kMap, "Arbitrary string pairs describing the secret.")},
                   {"after", Field(FieldType::kRaw, "LIST: return keys sorting after this one.")},
                   {"limit", Field(FieldType::kRaw, "LIST: return at most this many keys.")},
                   {"recursive", Field(FieldType::kRaw, "LIST: every secret below the folder.")}};
    meta.operations[Operation::kRead] = [this](Request& r, FieldData& d) { return MetadataRead(r, d); };
    meta.operations[Operation::kUpdate] = [this](Request& r, FieldData& d) { return MetadataWrite(r, d); };
    meta.operations[Operation::kCreate] = [this](Request& r, FieldData& d) { return MetadataWrite(r, d); };
    meta.operations[Operation::kPatch] = [this](Request& r, FieldData& d) { return MetadataPatch(r, d); };
    meta.operations[Operation::kDelete] = [this](Request& r, FieldData& d) { return MetadataDelete(r, d); };
    meta.operations[Operation::kList] = [](Request& r, FieldData& d) -> Result<ResponsePtr> {
      ASSIGN_OR_RETURN(ListParams lp, ParseListParams(r.data));
      const std::string dir = DirPath(d.GetString("path"));
      if (r.can_list) lp.may_descend = [&](const std::string& rel) { return r.can_list("metadata/" + dir + rel); };
      ASSIGN_OR_RETURN(auto keys, ListKeys(r.storage, "meta/", dir, lp));
      return framework::ListResponse(keys);
    };
    meta.exists = [](Request& r, FieldData& d) { return Exists(r, d); };
    meta.help_synopsis = "Read, write and delete a secret's metadata and settings; list secrets.";
    paths.push_back(std::move(meta));

    const Field versions(FieldType::kCommaIntSlice, "Version numbers.");
    Path del;
    del.pattern = "delete/(?P<path>.*)";
    del.fields = {{"path", path_field}, {"versions", versions}};
    del.operations[Operation::kUpdate] = [this](Request& r, FieldData& d) { return DeleteVersions(r, d); };
    del.help_synopsis = "Marks versions as deleted (reversible).";
    paths.push_back(std::move(del));

    Path undel;
    undel.pattern = "undelete/(?P<path>.*)";
    undel.fields = {{"path", path_field}, {"versions", versions}};
    undel.operations[Operation::kUpdate] = [this](Request& r, FieldData& d) { return UndeleteVersions(r, d); };
    undel.help_synopsis = "Restores deleted versions.";
    paths.push_back(std::move(undel));

    Path destroy;
    destroy.pattern = "destroy/(?P<path>.*)";
    destroy.fields = {{"path", path_field}, {"versions", versions}};
    destroy.operations[Operation::kUpdate] = [this](Request& r, FieldData& d) { return DestroyVersions(r, d); };
    destroy.help_synopsis = "Permanently removes versions' data.";
    paths.push_back(std::move(destroy));

    Path subkeys;
    subkeys.pattern = "subkeys/(?P<path>.*)";
    subkeys.fields = {{"path", path_field},
                      {"version", Field(FieldType::kInt, "Version to read; latest if unset.")},
                      {"depth", Field(FieldType::kInt, "Deepest nesting level to show; 0 = unlimited.")}};
    subkeys.operations[Operation::kRead] = [this](Request& r, FieldData& d) { return Subkeys(r, d); };
    subkeys.help_synopsis = "Reads a secret's structure with its values removed.";
    paths.push_back(std::move(subkeys));

    SetPaths(std::move(paths));
  }

 private:
  static Result<std::optional<KeyMeta>> LoadMeta(Storage* s, const std::string& path) {
    if (path.empty()) return std::optional<KeyMeta>();
    ASSIGN_OR_RETURN(auto raw, s->Get(MetaKey(path)));
    if (!raw) return std::optional<KeyMeta>();
    ASSIGN_OR_RETURN(KeyMeta m, KeyMeta::Decode(*raw));
    return std::optional<KeyMeta>(std::move(m));
  }

  static Result<Config> LoadConfig(Storage* s) {
    Config c;
    ASSIGN_OR_RETURN(auto raw, s->Get("config"));
    if (!raw) return c;
    json j = ParseJsonOrDiscarded(*raw);
    if (j.is_discarded() || !j.is_object()) return Status::Corruption("kv: unreadable config");
    c.max_versions = j.value("max_versions", uint64_t{0});
    c.cas_required = j.value("cas_required", false);
    c.delete_version_after = j.value("delete_version_after", int64_t{0});
    return c;
  }

  static Result<bool> Exists(Request& r, FieldData& d) {
    ASSIGN_OR_RETURN(auto m, LoadMeta(r.storage, d.GetString("path")));
    return m.has_value();
  }

  // Vault's check-and-set rules for data writes and patches.
  static Status CheckCas(const FieldData& d, const Config& c, const KeyMeta& m) {
    // "options" may arrive as an object or as a JSON string; GetOk converts either.
    auto opts = d.GetOk("options");
    const json* cas = nullptr;
    if (opts && opts->is_object()) {
      auto it = opts->find("cas");
      if (it != opts->end()) cas = &*it;
    }
    if (cas) {
      int64_t v = 0;
      bool ok = false;
      if (cas->is_number_integer()) {
        v = cas->get<int64_t>();
        ok = true;
      } else if (cas->is_number_float()) {
        v = static_cast<int64_t>(cas->get<double>());
        ok = true;
      } else if (cas->is_string()) {
        try {
          size_t pos = 0;
          const std::string& s = cas->get_ref<const std::string&>();
          v = s.empty() ? 0 : std::stoll(s, &pos);
          ok = s.empty() || pos == s.size();
        } catch (...) {
        }
      }
      if (!ok) return Status::InvalidRequest("error parsing check-and-set parameter");
      if (v < 0 || static_cast<uint64_t>(v) != m.current_version)
        return Status::InvalidRequest("check-and-set parameter did not match the current version");
    } else if (c.cas_required || m.cas_required) {
      return Status::InvalidRequest("check-and-set parameter required for this call");
    }
    return Status::Ok();
  }

  Result<ResponsePtr> ConfigRead(Request& req) {
    ASSIGN_OR_RETURN(Config c, LoadConfig(req.storage));
    return framework::Data({{"max_versions", c.max_versions},
                            {"cas_required", c.cas_required},
                            {"delete_version_after", SignedDuration(c.delete_version_after)}});
  }

  Result<ResponsePtr> ConfigWrite(Request& req, FieldData& d) {
    auto max = d.GetOk("max_versions");
    auto cas = d.GetOk("cas_required");
    auto dva = d.GetOk("delete_version_after");
    if (!max && !cas && !dva) return ResponsePtr();
    std::lock_guard lock(config_mu_);
    ASSIGN_OR_RETURN(Config c, LoadConfig(req.storage));
    if (max) {
      if (max->get<int64_t>() < 0) return Status::InvalidRequest("max_versions must not be negative");
      c.max_versions = static_cast<uint64_t>(max->get<int64_t>());
    }
    if (cas) c.cas_required = cas->get<bool>();
    if (dva && !dva->is_null() && !(dva->is_string() && dva->get_ref<const std::string&>().empty())) {
      // Signed: a negative duration disables delete_version_after on every key.
      int64_t secs = 0;
      if (dva->is_string() && !dva->get_ref<const std::string&>().empty() && dva->get_ref<const std::string&>()[0] == '-') {
        auto v = ParseDurationSeconds(std::string_view(dva->get_ref<const std::string&>()).substr(1));
        if (!v) return Status::InvalidRequest("invalid delete_version_after: expected a duration");
        secs = -*v;
      } else if (dva->is_number() && dva->get<double>() < 0) {
        secs = static_cast<int64_t>(dva->get<double>());
      } else {
        auto v = ParseDurationJson(*dva);
        if (!v) return Status::InvalidRequest("invalid delete_version_after: expected a duration");
        secs = *v;
      }
      c.delete_version_after = secs < 0 ? kDeleteVersionAfterDisabled : secs;
    } else if (dva) {
      c.delete_version_after = 0;
    }
    json j = {{"max_versions", c.max_versions},
              {"cas_required", c.cas_required},
              {"delete_version_after", c.delete_version_after}};
    RETURN_IF_ERROR(req.storage->Put("config", j.dump()));
    return ResponsePtr();
  }

  Result<ResponsePtr> DataRead(Request& req, FieldData& d) {
    std::string path = d.GetString("path");
    std::shared_lock lock(locks_.For(path));
    ASSIGN_OR_RETURN(auto m, LoadMeta(req.storage, path));
    if (!m) return ResponsePtr();
    int64_t want = d.GetInt("version");
    uint64_t version = want > 0 ? static_cast<uint64_t>(want) : m->current_version;
    auto it = m->versions.find(version);
    if (it == m->versions.end()) return ResponsePtr();
    json out = {{"data", nullptr}, {"metadata", VersionJson(version, it->second, *m)}};
    if (it->second.Gone(NowNanos())) return internal::NotFoundWithData(req, std::move(out));
    ASSIGN_OR_RETURN(auto raw, req.storage->Get(VersionKey(*m, version)));
    if (!raw) return Status::Internal("could not find version data");
    json data = ParseJsonOrDiscarded(*raw);
    if (data.is_discarded()) return Status::Corruption("kv: unreadable version record");
    out["data"] = std::move(data);
    return Response::WithData(std::move(out));
  }

  Result<ResponsePtr> DataWrite(Request& req, FieldData& d) {
    std::string path = d.GetString("path");
    if (path.empty()) return Status::InvalidRequest("missing path");
    auto data = d.GetOk("data");
    if (!data || !req.data.is_object() || !req.data.contains("data") || req.data["data"].is_null())
      return Status::InvalidRequest("no data provided");
    ASSIGN_OR_RETURN(Config c, LoadConfig(req.storage));
    std::unique_lock lock(locks_.For(path));
    ASSIGN_OR_RETURN(auto loaded, LoadMeta(req.storage, path));
    KeyMeta m = loaded ? std::move(*loaded) : NewMeta(path);
    RETURN_IF_ERROR(CheckCas(d, c, m));
    return Commit(req, c, m, path, *data);
  }

  Result<ResponsePtr> DataPatch(Request& req, FieldData& d) {
    std::string path = d.GetString("path");
    auto patch = d.GetOk("data");
    if (!patch || !req.data.is_object() || !req.data.contains("data") || req.data["data"].is_null())
      return Status::InvalidRequest("no data provided");
    std::unique_lock lock(locks_.For(path));
    ASSIGN_OR_RETURN(auto loaded, LoadMeta(req.storage, path));
    if (!loaded) return Status::NotFound();
    KeyMeta& m = *loaded;
    ASSIGN_OR_RETURN(Config c, LoadConfig(req.storage));
    RETURN_IF_ERROR(CheckCas(d, c, m));
    auto it = m.versions.find(m.current_version);
    if (it == m.versions.end()) return Status::NotFound();
    if (it->second.Gone(NowNanos())) return internal::NotFoundWithData(req, VersionJson(m.current_version, it->second, m));
    ASSIGN_OR_RETURN(auto raw, req.storage->Get(VersionKey(m, m.current_version)));
    if (!raw) return Status::Internal("could not find version data");
    json current = ParseJsonOrDiscarded(*raw);
    if (current.is_discarded()) return Status::Corruption("kv: unreadable version record");
    current.merge_patch(*patch);  // RFC 7386: null deletes a key
    return Commit(req, c, m, path, current);
  }

  Result<ResponsePtr> DataDelete(Request& req, FieldData& d) {
    std::string path = d.GetString("path");
    std::unique_lock lock(locks_.For(path));
    ASSIGN_OR_RETURN(auto m, LoadMeta(req.storage, path));
    if (!m) return ResponsePtr();
    auto it = m->versions.find(m->current_version);
    int64_t now = NowNanos();
    if (it == m->versions.end() || it->second.Gone(now)) return ResponsePtr();
    it->second.deletion_ns = now;
    RETURN_IF_ERROR(req.storage->Put(MetaKey(path), m->Encode()));
    return ResponsePtr();
  }

  Result<ResponsePtr> MetadataRead(Request& req, FieldData& d) {
    std::string path = d.GetString("path");
    std::shared_lock lock(locks_.For(path));
    ASSIGN_OR_RETURN(auto m, LoadMeta(req.storage, path));
    if (!m) return ResponsePtr();
    json versions = json::object();
    for (const auto& [n, vm] : m->versions)
      versions[std::to_string(n)] = {{"created_time", TimeString(vm.created_ns)},
                                     {"deletion_time", TimeString(vm.deletion_ns)},
                                     {"destroyed", vm.destroyed}};
    return framework::Data({{"versions", versions},
                            {"current_version", m->current_version},
                            {"oldest_version", m->oldest_version},
                            {"created_time", TimeString(m->created_ns)},
                            {"updated_time", TimeString(m->updated_ns)},
                            {"max_versions", m->max_versions},
                            {"cas_required", m->cas_required},
                            {"delete_version_after", GoDurationString(m->delete_version_after)},
                            {"custom_metadata", m->custom_metadata}});
  }

  Result<ResponsePtr> MetadataWrite(Request& req, FieldData& d) {
    std::string path = d.GetString("path");
    if (path.empty()) return Status::InvalidRequest("missing path");
    auto max = d.GetOk("max_versions");
    auto cas = d.GetOk("cas_required");
    auto dva = d.GetOk("delete_version_after");
    auto cm = d.GetOk("custom_metadata");
    if (!max && !cas && !dva && !cm) return ResponsePtr();
    json custom;
    if (cm) {
      ASSIGN_OR_RETURN(custom, ParseCustomMetadata(*cm, false));
    }
    if (max && max->get<int64_t>() < 0) return Status::InvalidRequest("max_versions must not be negative");
    ASSIGN_OR_RETURN(Config c, LoadConfig(req.storage));
    ResponsePtr resp;
    if (cas && c.cas_required && !cas->get<bool>()) resp = CasIgnoredWarning();
    std::unique_lock lock(locks_.For(path));
    ASSIGN_OR_RETURN(auto loaded, LoadMeta(req.storage, path));
    KeyMeta m;
    if (loaded) {
      m = std::move(*loaded);
    } else {
      m = NewMeta(path);
      m.created_ns = m.updated_ns = NowNanos();
    }
    if (max) m.max_versions = static_cast<uint64_t>(max->get<int64_t>());
    if (cas) m.cas_required = cas->get<bool>();
    if (dva) m.delete_version_after = dva->get<int64_t>();
    if (cm) m.custom_metadata = custom;
    RETURN_IF_ERROR(req.storage->Put(MetaKey(path), m.Encode()));
    return resp;
  }

  Result<ResponsePtr> MetadataPatch(Request& req, FieldData& d) {
    std::string path = d.GetString("path");
    if (path.empty()) return Status::InvalidRequest("missing path");
    auto cm = d.GetOk("custom_metadata");
    if (cm) RETURN_IF_ERROR(ParseCustomMetadata(*cm, true).status());
    auto max = d.GetOk("max_versions");
    if (max && max->get<int64_t>() < 0) return Status::InvalidRequest("max_versions must not be negative");
    ASSIGN_OR_RETURN(Config c, LoadConfig(req.storage));
    std::unique_lock lock(locks_.For(path));
    ASSIGN_OR_RETURN(auto loaded, LoadMeta(req.storage, path));
    if (!loaded) return Status::NotFound();
    KeyMeta& m = *loaded;
    ResponsePtr resp;
    auto cas = d.GetOk("cas_required");
    if (cas && c.cas_required && !cas->get<bool>()) resp = CasIgnoredWarning();
    if (max) m.max_versions = static_cast<uint64_t>(max->get<int64_t>());
    if (cas) m.cas_required = cas->get<bool>();
    if (auto dva = d.GetOk("delete_version_after")) m.delete_version_after = dva->get<int64_t>();
    if (cm) {
      json merged = m.custom_metadata.is_object() ? m.custom_metadata : json::object();
      for (auto& [k, v] : cm->items()) {
        if (v.is_null()) {
          merged.erase(k);
        } else {
          ASSIGN_OR_RETURN(std::string s, WeakString(v));
          merged[k] = s;
        }
      }
      RETURN_IF_ERROR(ParseCustomMetadata(merged, false).status());
      m.custom_metadata = merged;
    }
    RETURN_IF_ERROR(req.storage->Put(MetaKey(path), m.Encode()));
    return resp;
  }

  Result<ResponsePtr> MetadataDelete(Request& req, FieldData& d) {
    std::string path = d.GetString("path");
    std::unique_lock lock(locks_.For(path));
    ASSIGN_OR_RETURN(auto m, LoadMeta(req.storage, path));
    if (!m) return ResponsePtr();
    std::vector<TxnOp> ops;
    for (const auto& [n, vm] : m->versions) ops.push_back({TxnOp::Kind::kDelete, VersionKey(*m, n), ""});
    ops.push_back({TxnOp::Kind::kDelete, MetaKey(path), ""});
    RETURN_IF_ERROR(req.storage->Transaction(ops));
    return ResponsePtr();
  }

  Result<ResponsePtr> DeleteVersions(Request& req, FieldData& d) {
    std::string path = d.GetString("path");
    auto versions = Versions(d);
    if (d.Get("versions").empty()) return Status::InvalidRequest("No version number provided");
    std::unique_lock lock(locks_.For(path));
    ASSIGN_OR_RETURN(auto m, LoadMeta(req.storage, path));
    if (!m) return ResponsePtr();
    int64_t now = NowNanos();
    for (uint64_t v : versions) {
      auto it = m->versions.find(v);
      if (it == m->versions.end() || it->second.Gone(now)) continue;
      it->second.deletion_ns = now;
    }
    RETURN_IF_ERROR(req.storage->Put(MetaKey(path), m->Encode()));
    return ResponsePtr();
  }

  Result<ResponsePtr> UndeleteVersions(Request& req, FieldData& d) {
    std::string path = d.GetString("path");
    auto versions = Versions(d);
    if (d.Get("versions").empty()) return Status::InvalidRequest("No version number provided");
    ASSIGN_OR_RETURN(Config c, LoadConfig(req.storage));
    std::unique_lock lock(locks_.For(path));
    ASSIGN_OR_RETURN(auto m, LoadMeta(req.storage, path));
    if (!m) return ResponsePtr();
    int64_t now = NowNanos();
    for (uint64_t v : versions) {
      auto it = m->versions.find(v);
      if (it == m->versions.end() || it->second.destroyed) continue;
      it->second.deletion_ns = DeletionTimeFor(now, c, *m);
    }
    RETURN_IF_ERROR(req.storage->Put(MetaKey(path), m->Encode()));
    return ResponsePtr();
  }

  Result<ResponsePtr> DestroyVersions(Request& req, FieldData& d) {
    std::string path = d.GetString("path");
    auto versions = Versions(d);
    if (d.Get("versions").empty()) return Status::InvalidRequest("no version number provided");
    std::unique_lock lock(locks_.For(path));
    ASSIGN_OR_RETURN(auto m, LoadMeta(req.storage, path));
    if (!m) return ResponsePtr();
    std::vector<TxnOp> ops;
    for (uint64_t v : versions) {
      auto it = m->versions.find(v);
      if (it == m->versions.end() || it->second.destroyed) continue;
      it->second.destroyed = true;
      ops.push_back({TxnOp::Kind::kDelete, VersionKey(*m, v), ""});
    }
    ops.insert(ops.begin(), {TxnOp::Kind::kPut, MetaKey(path), m->Encode()});
    RETURN_IF_ERROR(req.storage->Transaction(ops));
    return ResponsePtr();
  }

  Result<ResponsePtr> Subkeys(Request& req, FieldData& d) {
    std::string path = d.GetString("path");
    int64_t depth = d.GetInt("depth");
    if (depth < 0) return Status::InvalidRequest("depth must be a non-negative integer");
    std::shared_lock lock(locks_.For(path));
    ASSIGN_OR_RETURN(auto m, LoadMeta(req.storage, path));
    if (!m) return ResponsePtr();
    int64_t want = d.GetInt("version");
    uint64_t version = want > 0 ? static_cast<uint64_t>(want) : m->current_version;
    auto it = m->versions.find(version);
    if (it == m->versions.end()) return ResponsePtr();
    json out = {{"subkeys", nullptr}, {"metadata", VersionJson(version, it->second, *m)}};
    if (it->second.Gone(NowNanos())) return internal::NotFoundWithData(req, std::move(out));
    ASSIGN_OR_RETURN(auto raw, req.storage->Get(VersionKey(*m, version)));
    if (!raw) return Status::Internal("could not find version data");
    json data = ParseJsonOrDiscarded(*raw);
    if (data.is_discarded() || !data.is_object()) return Status::Corruption("kv: unreadable version record");
    StripValues(data, 1, depth);
    out["subkeys"] = std::move(data);
    return Response::WithData(std::move(out));
  }

  // Replaces every leaf (non-object, empty object, or object at the depth limit) with null.
  static void StripValues(json& obj, int64_t level, int64_t max_depth) {
    for (auto& [k, v] : obj.items()) {
      (void)k;
      if (v.is_object() && !v.empty() && (max_depth == 0 || level + 1 <= max_depth)) {
        StripValues(v, level + 1, max_depth);
      } else {
        v = nullptr;
      }
    }
  }

  static ResponsePtr CasIgnoredWarning() {
    auto r = std::make_unique<Response>();
    r->warnings.push_back("\"cas_required\" set to false, but is mandated by backend config. This value will be ignored.");
    return r;
  }

  static KeyMeta NewMeta(const std::string& path) {
    KeyMeta m;
    (void)path;
    m.id = HexEncode(RandomBytes(16));
    return m;
  }

  // Appends a version holding `data` to `m` and persists it atomically with the metadata
  // and the deletion of versions that fell out of the max_versions window.
  static Result<ResponsePtr> Commit(Request& req, const Config& c, KeyMeta& m, const std::string& path,
                                    const json& data) {
    int64_t now = NowNanos();
    VersionMeta vm;
    vm.created_ns = now;
    vm.deletion_ns = DeletionTimeFor(now, c, m);
    std::vector<uint64_t> pruned = m.AddVersion(vm, c.max_versions);
    std::vector<TxnOp> ops;
    ops.reserve(2 + pruned.size());
    ops.push_back({TxnOp::Kind::kPut, VersionKey(m, m.current_version), DumpJson(data)});
    ops.push_back({TxnOp::Kind::kPut, MetaKey(path), m.Encode()});
    for (uint64_t v : pruned) ops.push_back({TxnOp::Kind::kDelete, VersionKey(m, v), ""});
    RETURN_IF_ERROR(req.storage->Transaction(ops));
    return Response::WithData(VersionJson(m.current_version, vm, m));
  }

  internal::KeyLocks locks_;
  std::mutex config_mu_;  // serializes config read-modify-write
};

}  // namespace

std::unique_ptr<framework::Backend> NewV2(const framework::BackendConfig& config) {
  return std::make_unique<KvV2Backend>(config);
}

}  // namespace tresor::kv
