// Scheduled snapshots (beyond Vault's open-source edition; the API follows Vault
// Enterprise's sys/storage/raft/snapshot-auto, local storage only):
//   sys/storage/raft/snapshot-auto/config/<name>   GET / POST|PUT / DELETE (sudo)
//   sys/storage/raft/snapshot-auto/config/         LIST (sudo)
//   sys/storage/raft/snapshot-auto/status/<name>   GET (sudo)
// A configuration lives in the replicated store (core/raft/snapshot-auto/config/<name>,
// plain JSON: it holds no secret), so whichever node is active runs the schedule. The
// active node's autopilot thread writes <path_prefix>/<file_prefix>-<unix nanos>.snap
// every `interval` (the same bytes as GET sys/storage/raft/snapshot: values stay
// barrier-encrypted) and deletes all but the newest `retain` files of that prefix. A new
// active node continues from the newest file in the directory.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/duration.h"
#include "common/log.h"
#include "core/envelope.h"
#include "framework/field.h"
#include "ha/ha_util.h"
#include "ha/raft_ha.h"
#include "http/json_body.h"

namespace tresor::ha {

using nlohmann::json;
using ojson = nlohmann::ordered_json;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kConfigPrefix = "core/raft/snapshot-auto/config/";
constexpr const char* kApiConfig = "sys/storage/raft/snapshot-auto/config/";
constexpr const char* kApiStatus = "sys/storage/raft/snapshot-auto/status/";

struct AutoConfig {
  int64_t interval = 0;  // seconds
  int64_t retain = 1;
  std::string path_prefix;
  std::string file_prefix = "vault-snapshot";
  std::string storage_type;
  int64_t local_max_space = 0;  // bytes; 0 = unlimited

  json ToJson() const {
    return {{"interval", interval},       {"retain", retain},
            {"path_prefix", path_prefix}, {"file_prefix", file_prefix},
            {"storage_type", storage_type}, {"local_max_space", local_max_space}};
  }
  static AutoConfig FromJson(const json& j) {
    AutoConfig c;
    c.interval = j.value("interval", int64_t(0));
    c.retain = j.value("retain", int64_t(1));
    c.path_prefix = j.value("path_prefix", "");
    c.file_prefix = j.value("file_prefix", "vault-snapshot");
    c.storage_type = j.value("storage_type", "");
    c.local_max_space = j.value("local_max_space", int64_t(0));
    return c;
  }
};

std::string Shown(const json& raw) { return raw.is_string() ? raw.get<std::string>() : raw.dump(); }

Status FieldError(const std::string& name, const json& raw, const std::string& why) {
  return Status::InvalidRequest("Field validation failed: error converting input " + Shown(raw) + " for field \"" +
                                name + "\": " + why);
}

Result<int64_t> IntField(const std::string& name, const json& raw) {
  auto v = framework::ConvertField(framework::FieldType::kInt, raw);
  if (!v.ok())
    return FieldError(name, raw,
                      "cannot parse '" + Shown(raw) + "' as int: strconv.ParseInt: parsing \"" + Shown(raw) +
                          "\": invalid syntax");
  return v->get<int64_t>();
}

bool ValidName(const std::string& n) {
  if (n.empty() || n.size() > 128) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return n != "." && n != "..";
}

Result<std::optional<AutoConfig>> LoadConfig(raft::RaftStorage* storage, const std::string& name) {
  ASSIGN_OR_RETURN(auto raw, storage->Get(std::string(kConfigPrefix) + name));
  if (!raw) return std::optional<AutoConfig>();
  json j = json::parse(*raw, nullptr, false);
  if (!j.is_object()) return Status::Internal("stored snapshot-auto configuration " + name + " is corrupt");
  return std::optional<AutoConfig>(AutoConfig::FromJson(j));
}

// "<file_prefix>-<digits>.snap" -> the digits (unix nanoseconds); -1 otherwise.
int64_t SnapshotStamp(const std::string& file, const std::string& prefix) {
  const std::string head = prefix + "-", tail = ".snap";
  if (file.size() <= head.size() + tail.size() || file.compare(0, head.size(), head) != 0 ||
      file.compare(file.size() - tail.size(), tail.size(), tail) != 0)
    return -1;
  std::string digits = file.substr(head.size(), file.size() - head.size() - tail.size());
  if (digits.empty() || digits.size() > 19 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
  return std::stoll(digits);
}

// This configuration's snapshot files in its directory, oldest first.
std::vector<std::pair<int64_t, fs::path>> ListSnapshots(const AutoConfig& c) {
  std::vector<std::pair<int64_t, fs::path>> out;
  std::error_code ec;
  for (fs::directory_iterator it(c.path_prefix, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    int64_t stamp = SnapshotStamp(it->path().filename().string(), c.file_prefix);
    if (stamp >= 0) out.emplace_back(stamp, it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::chrono::system_clock::time_point FromNanos(int64_t ns) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(ns)));
}

int64_t Nanos(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Writes one snapshot file (0600, via a temporary name so a reader never sees half of
// one) and prunes the oldest so that `retain` remain. Returns the file's path.
Result<std::string> WriteSnapshotFile(const AutoConfig& c, const std::string& data,
                                      std::chrono::system_clock::time_point at) {
  std::error_code ec;
  fs::create_directories(c.path_prefix, ec);
  if (ec) return Status::IOError("cannot create " + c.path_prefix + ": " + ec.message());
  auto existing = ListSnapshots(c);
  if (c.local_max_space > 0) {
    uintmax_t used = 0;
    for (auto& [stamp, p] : existing) used += fs::file_size(p, ec);
    if (used + data.size() > static_cast<uintmax_t>(c.local_max_space))
      return Status::IOError("not enough space left in local_max_space (" + std::to_string(c.local_max_space) +
                             " bytes) for a snapshot of " + std::to_string(data.size()) + " bytes");
  }
  fs::path final_path = fs::path(c.path_prefix) / (c.file_prefix + "-" + std::to_string(Nanos(at)) + ".snap");
  fs::path tmp = final_path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IOError("cannot write " + tmp.string());
    ::chmod(tmp.c_str(), 0600);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.flush();
    if (!out) {
      fs::remove(tmp, ec);
      return Status::IOError("cannot write " + tmp.string());
    }
  }
  // Prune before the new file appears, so that no more than `retain` are ever visible.
  auto all = ListSnapshots(c);
  size_t keep = static_cast<size_t>(std::max<int64_t>(c.retain, 1)) - 1;
  for (size_t i = 0; i + keep < all.size(); i++) {
    fs::remove(all[i].second, ec);
    if (ec) LOG_WARN("ha: scheduled snapshot: cannot delete {}: {}", all[i].second.string(), ec.message());
  }
  fs::rename(tmp, final_path, ec);
  if (ec) return Status::IOError("cannot rename " + tmp.string() + ": " + ec.message());
  return final_path.string();
}

}  // namespace

http::HttpResponse RaftHa::HandleSnapshotAuto(const std::string& path, http::HttpRequest& req) {
  bool list = req.method == "LIST" || (req.method == "GET" && req.QueryParam("list") == "true");
  if (path == kApiConfig || path + "/" == kApiConfig) {
    if (!list) return core::JsonResponse(405, {{"errors", json::array()}});
    auto keys = storage_->List(kConfigPrefix);
    if (!keys.ok()) return core::ErrorResponse(keys.status());
    if (keys->empty()) return core::JsonResponse(404, {{"errors", json::array()}});
    std::sort(keys->begin(), keys->end());
    ojson d;
    d["keys"] = *keys;
    return DataEnvelope(d);
  }
  std::string name;
  bool status = false;
  if (path.rfind(kApiConfig, 0) == 0) {
    name = path.substr(std::string_view(kApiConfig).size());
  } else if (path.rfind(kApiStatus, 0) == 0) {
    name = path.substr(std::string_view(kApiStatus).size());
    status = true;
  } else {
    return core::JsonResponse(404, {{"errors", json::array()}});
  }
  if (!ValidName(name)) return core::ErrorResponse(Status::InvalidRequest("invalid snapshot configuration name"));
  const std::string key = std::string(kConfigPrefix) + name;
  auto existing = LoadConfig(storage_, name);
  if (!existing.ok()) return core::ErrorResponse(existing.status());

  if (status) {
    if (req.method != "GET") return core::JsonResponse(405, {{"errors", json::array()}});
    if (!*existing) return core::JsonResponse(404, {{"errors", json::array()}});
    AutoSnapshotStatus s;
    {
      std::lock_guard lock(ap_mu_);
      auto it = auto_status_.find(name);
      if (it != auto_status_.end()) s = it->second;
    }
    ojson d;
    d["consecutive_errors"] = s.consecutive_errors;
    d["last_snapshot_end"] = s.last_end;
    d["last_snapshot_error"] = s.last_error;
    d["last_snapshot_start"] = s.last_start;
    d["last_snapshot_url"] = s.last_url;
    d["next_snapshot_start"] =
        s.next == std::chrono::system_clock::time_point{} ? "" : FormatRFC3339Nano(s.next);
    d["snapshot_start"] = "";
    d["snapshot_url"] = "";
    return DataEnvelope(d);
  }

  if (req.method == "GET" && !list) {
    if (!*existing) return core::JsonResponse(404, {{"errors", json::array()}});
    ojson d;
    const AutoConfig& c = **existing;
    d["file_prefix"] = c.file_prefix;
    d["interval"] = c.interval;
    d["local_max_space"] = c.local_max_space;
    d["path_prefix"] = c.path_prefix;
    d["retain"] = c.retain;
    d["storage_type"] = c.storage_type;
    return DataEnvelope(d);
  }
  if (req.method == "DELETE") {
    Status st = storage_->Delete(key);
    if (!st.ok()) return core::ErrorResponse(st);
    std::lock_guard lock(ap_mu_);
    auto_status_.erase(name);
    return NoContent();
  }
  if (!IsWrite(req.method)) return core::JsonResponse(405, {{"errors", json::array()}});

  auto body = http::ParseJsonBody(req.body, 64);
  if (!body.ok()) return core::ErrorResponse(body.status());
  if (!body->is_object()) return core::ErrorResponse(Status::InvalidRequest("invalid request body"));
  const json& b = *body;
  AutoConfig c = existing->value_or(AutoConfig{});
  auto present = [&](const char* f) { return b.contains(f) && !b[f].is_null(); };
  if (present("interval")) {
    auto v = framework::ConvertField(framework::FieldType::kDurationSecond, b["interval"]);
    if (!v.ok()) return core::ErrorResponse(FieldError("interval", b["interval"], "time: invalid duration \"" + Shown(b["interval"]) + "\""));
    c.interval = v->get<int64_t>();
  }
  if (present("retain")) {
    auto v = IntField("retain", b["retain"]);
    if (!v.ok()) return core::ErrorResponse(v.status());
    c.retain = *v;
  }
  if (present("local_max_space")) {
    auto v = IntField("local_max_space", b["local_max_space"]);
    if (!v.ok()) return core::ErrorResponse(v.status());
    c.local_max_space = *v;
  }
  for (const char* f : {"path_prefix", "path", "file_prefix", "storage_type"}) {
    if (present(f) && !b[f].is_string())
      return core::ErrorResponse(FieldError(f, b[f], "expected a string"));
  }
  if (present("path_prefix")) c.path_prefix = b["path_prefix"].get<std::string>();
  else if (present("path")) c.path_prefix = b["path"].get<std::string>();  // local directory alias
  if (present("file_prefix")) c.file_prefix = b["file_prefix"].get<std::string>();
  if (present("storage_type")) {
    std::string t = b["storage_type"].get<std::string>();
    if (*existing && t != (*existing)->storage_type)
      return core::ErrorResponse(Status::InvalidRequest("storage_type cannot be changed"));
    c.storage_type = t;
  }
  if (c.interval <= 0) return core::ErrorResponse(Status::InvalidRequest("interval must be set to a positive duration"));
  if (c.retain < 1) return core::ErrorResponse(Status::InvalidRequest("retain must be at least 1"));
  if (c.local_max_space < 0) return core::ErrorResponse(Status::InvalidRequest("local_max_space must not be negative"));
  if (c.storage_type.empty()) return core::ErrorResponse(Status::InvalidRequest("storage_type is required"));
  if (c.storage_type != "local")
    return core::ErrorResponse(Status::InvalidRequest("unsupported storage_type \"" + c.storage_type +
                                                      "\": only \"local\" is available"));
  if (c.path_prefix.empty()) return core::ErrorResponse(Status::InvalidRequest("path_prefix is required"));
  if (c.path_prefix.front() != '/')
    return core::ErrorResponse(Status::InvalidRequest("path_prefix must be an absolute directory path for storage_type \"local\""));
  if (c.file_prefix.empty() || c.file_prefix.find('/') != std::string::npos)
    return core::ErrorResponse(Status::InvalidRequest("file_prefix must be a non-empty file name prefix without '/'"));
  Status st = storage_->Put(key, c.ToJson().dump());
  if (!st.ok()) return core::ErrorResponse(st);
  LOG_INFO("ha: scheduled snapshot {} configured: every {} into {}, keep {}", name, GoDurationString(c.interval),
           c.path_prefix, c.retain);
  return NoContent();
}

void RaftHa::RunScheduledSnapshots() {
  auto names = storage_->List(kConfigPrefix);
  if (!names.ok()) return;
  auto now = std::chrono::system_clock::now();
  for (const auto& name : *names) {
    auto cfg = LoadConfig(storage_, name);
    if (!cfg.ok() || !*cfg) continue;
    const AutoConfig& c = **cfg;
    AutoSnapshotStatus s;
    {
      std::lock_guard lock(ap_mu_);
      s = auto_status_[name];
    }
    if (s.next == std::chrono::system_clock::time_point{} || s.interval != c.interval) {
      // New schedule, changed interval, or a new active node: continue from the newest
      // file, else one interval from now.
      auto files = ListSnapshots(c);
      s.next = (files.empty() ? now : FromNanos(files.back().first)) + std::chrono::seconds(c.interval);
      s.interval = c.interval;
    }
    if (now >= s.next) {
      auto start = std::chrono::system_clock::now();
      s.last_start = FormatRFC3339Nano(start);
      auto data = BuildSnapshot();
      Result<std::string> file = data.ok() ? WriteSnapshotFile(c, *data, start) : Result<std::string>(data.status());
      auto end = std::chrono::system_clock::now();
      if (file.ok()) {
        s.consecutive_errors = 0;
        s.last_error.clear();
        s.last_url = "file://" + *file;
        s.last_end = FormatRFC3339Nano(end);
        LOG_INFO("ha: scheduled snapshot {} written to {} ({} bytes)", name, *file, data->size());
      } else {
        s.consecutive_errors++;
        s.last_error = file.status().message();
        s.last_end = FormatRFC3339Nano(end);
        LOG_WARN("ha: scheduled snapshot {} failed: {}", name, s.last_error);
      }
      s.next = end + std::chrono::seconds(c.interval);
    }
    std::lock_guard lock(ap_mu_);
    auto_status_[name] = s;
  }
  // Forget the status of configurations deleted meanwhile (e.g. by a restore).
  std::lock_guard lock(ap_mu_);
  for (auto it = auto_status_.begin(); it != auto_status_.end();)
    it = std::find(names->begin(), names->end(), it->first) != names->end() ? std::next(it) : auto_status_.erase(it);
}

}  // namespace tresor::ha
