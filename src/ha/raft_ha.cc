#include "ha/raft_ha.h"

#include <curl/curl.h>

#include "common/duration.h"
#include "common/encoding.h"
#include "common/log.h"
#include "common/random.h"
#include "common/strings.h"
#include "core/envelope.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "ha/cluster_tls.h"
#include "http/json_body.h"
#include "ha/ha_util.h"
#include "raft/raft_fsm.h"
#include "seal/shamir_seal.h"
#include "snapshot/archive.h"
#include "common/thread_name.h"

namespace tresor::ha {

using nlohmann::json;

namespace {

constexpr const char* kLeaderKey = "core/ha/leader";
constexpr const char* kForwardedHeader = "x-tresor-forwarded";

struct HttpResult {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

size_t WriteBody(char* p, size_t sz, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, sz * n);
  return sz * n;
}

size_t WriteHeader(char* p, size_t sz, size_t n, void* ud) {
  auto* out = static_cast<HttpResult*>(ud);
  std::string line(p, sz * n);
  if (line.rfind("HTTP/", 0) == 0) {
    out->headers.clear();  // a new response (e.g. after 100-continue)
    return sz * n;
  }
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name(TrimSpace(line.substr(0, colon)));
    std::string value(TrimSpace(line.substr(colon + 1)));
    out->headers.emplace_back(name, value);
  }
  return sz * n;
}

// One HTTP exchange with libcurl; one handle per thread keeps connections alive. `tls`
// (optional): CA, client certificate and server name for an https peer.
Result<HttpResult> HttpCall(const std::string& method, const std::string& url,
                            const std::vector<std::string>& headers, const std::string& body, long timeout_s = 60,
                            const LeaderTls* tls = nullptr) {
  thread_local CURL* h = nullptr;
  if (!h) h = curl_easy_init();
  if (!h) return Status::Internal("cannot create an HTTP client");
  curl_easy_reset(h);
  HttpResult out;
  std::string target = url;
  struct curl_slist* connect_to = nullptr;
  if (tls && !tls->servername.empty()) {
    // Talk to the URL's host and port but present and verify the given name: the URL
    // names the server, CONNECT_TO says where to connect.
    std::string u = url, scheme;
    auto p = u.find("://");
    if (p != std::string::npos) {
      scheme = u.substr(0, p + 3);
      u = u.substr(p + 3);
    }
    auto slash = u.find('/');
    std::string hostport = u.substr(0, slash), rest = slash == std::string::npos ? "" : u.substr(slash);
    // host ("name", "1.2.3.4" or "[v6]") and port; the default port if none
    std::string host = hostport, port = scheme == "http://" ? "80" : "443";
    auto colon = hostport.rfind(':');
    if (colon != std::string::npos && hostport.find(']', colon) == std::string::npos) {
      host = hostport.substr(0, colon);
      port = hostport.substr(colon + 1);
    }
    target = scheme + tls->servername + ":" + port + rest;
    connect_to = curl_slist_append(nullptr, (tls->servername + ":" + port + ":" + host + ":" + port).c_str());
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to);
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_URL, target.c_str());
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &out.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &out);
  if (method == "HEAD") curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  struct curl_blob ca_blob, cert_blob, key_blob;
  if (tls && !tls->ca_pem.empty()) {
    ca_blob.data = const_cast<char*>(tls->ca_pem.data());
    ca_blob.len = tls->ca_pem.size();
    ca_blob.flags = CURL_BLOB_COPY;
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca_blob);
  }
  if (tls && !tls->client_cert_pem.empty() && !tls->client_key_pem.empty()) {
    cert_blob.data = const_cast<char*>(tls->client_cert_pem.data());
    cert_blob.len = tls->client_cert_pem.size();
    cert_blob.flags = CURL_BLOB_COPY;
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert_blob);
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    // NOCOPY: curl reads the key from our (wiped) buffer while the transfer runs.
    key_blob.data = const_cast<char*>(tls->client_key_pem.str().data());
    key_blob.len = tls->client_key_pem.size();
    key_blob.flags = CURL_BLOB_NOCOPY;
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key_blob);
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (!body.empty() || method == "PUT" || method == "POST" || method == "PATCH") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  struct curl_slist* hl = nullptr;
  for (auto& hd : headers) hl = curl_slist_append(hl, hd.c_str());
  hl = curl_slist_append(hl, "Expect:");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(hl);
  // The handle outlives this call: drop every pointer into our buffers.
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  if (connect_to) {
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, nullptr);
    curl_slist_free_all(connect_to);
  }
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    return Status::Unavailable("request to " + url + " failed: " + detail);
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out.status);
  return out;
}

Result<json> PostJson(const std::string& url, const json& body, const LeaderTls* tls = nullptr) {
  ASSIGN_OR_RETURN(HttpResult r, HttpCall("POST", url, {"Content-Type: application/json"}, body.dump(), 10, tls));
  json j = json::parse(r.body, nullptr, false);
  if (r.status >= 400) {
    std::string msg = "leader answered " + std::to_string(r.status);
    if (j.is_object() && j.contains("errors") && j["errors"].is_array() && !j["errors"].empty() && j["errors"][0].is_string())
      msg += ": " + j["errors"][0].get<std::string>();
    return Status::InvalidRequest(msg);
  }
  if (j.is_discarded()) return Status::Internal("leader sent invalid JSON");
  return j;
}

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// Join: the challenge secret (16 random bytes the leader sealed with its unseal key) is never
// sent back in the clear. The joining node proves it opened the challenge with an HMAC of
// it, and the leader sends the cluster TLS keyring encrypted under a key derived from it
// (the bootstrap endpoints may be plain http).
std::string AnswerProof(const SecureString& secret, const std::string& server_id) {
  return crypto::HmacSha256(secret.view(), "tresor raft bootstrap answer:" + server_id);
}

Result<SecureString> KeyringKey(const SecureString& secret, const std::string& server_id) {
  ASSIGN_OR_RETURN(std::string k, crypto::HkdfSha256(secret.view(), "", "tresor raft tls keyring:" + server_id, 32));
  return SecureString(std::move(k));
}

Result<std::string> SealKeyring(const SecureString& secret, const std::string& server_id, const ClusterKeyring& kr) {
  ASSIGN_OR_RETURN(SecureString key, KeyringKey(secret, server_id));
  std::string nonce = RandomBytes(crypto::kAeadNonceSize);
  SecureString plain = KeyringToJson(kr);
  ASSIGN_OR_RETURN(std::string ct, crypto::AeadSeal(crypto::AeadAlg::kAes256Gcm, key.view(), nonce, plain.view(),
                                                    "raft-tls-keyring:" + server_id));
  return nonce + ct;
}

Result<ClusterKeyring> OpenKeyring(const SecureString& secret, const std::string& server_id, const std::string& blob) {
  if (blob.size() < crypto::kAeadNonceSize) return Status::Corruption("keyring blob too short");
  ASSIGN_OR_RETURN(SecureString key, KeyringKey(secret, server_id));
  ASSIGN_OR_RETURN(std::string plain,
                   crypto::AeadOpen(crypto::AeadAlg::kAes256Gcm, key.view(), blob.substr(0, crypto::kAeadNonceSize),
                                    blob.substr(crypto::kAeadNonceSize), "raft-tls-keyring:" + server_id));
  SecureString p(std::move(plain));
  return KeyringFromJson(p.view());
}

}  // namespace

RaftHa::RaftHa(RaftHaOptions opts, raft::RaftStorage* storage, core::Core* core)
    : opts_(std::move(opts)), storage_(storage), node_(storage->node()), core_(core), port_(opts_.cluster_port) {
  static std::once_flag curl_once;
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

RaftHa::~RaftHa() { Shutdown(); }

Status RaftHa::Start() {
  node_->SetEventCallback([this](raft::RaftEvent ev) { OnEvent(ev); });
  if (port_) {
    raft::RaftNode* node = node_;
    port_->SetRaftAcceptor([node](uint64_t id, const std::string& addr, int fd) { node->AcceptConnection(id, addr, fd); });
    // Standbys' echoes arrive here too; RaftHa::Forward never forwards a client's request
    // under kInternalPrefix, so only a cluster member can send one.
    port_->SetForwardHandler([this](http::HttpRequest& req) {
      return req.path == kEchoPath ? HandleEcho(req) : core_->HandleHttp(req);
    });
  }
  if (node_->HasExistingState()) RETURN_IF_ERROR(EnsureStarted());
  autopilot_thread_ = std::thread([this] {
    SetThreadName("autopilot");
    AutopilotLoop();
  });
  if (!opts_.retry_join.empty() && !node_->HasExistingState()) {
    retry_thread_ = std::thread([this] { RetryJoinLoop(); });
  }
  return Status::Ok();
}

void RaftHa::Shutdown() {
  {
    std::lock_guard lock(stop_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (retry_thread_.joinable()) retry_thread_.join();
  if (autopilot_thread_.joinable()) autopilot_thread_.join();
  std::vector<std::thread> ps;
  {
    std::lock_guard lock(mu_);
    ps.swap(promoters_);
  }
  for (auto& t : ps)
    if (t.joinable()) t.join();
  ready_ = false;
  node_->Close();
  if (port_) port_->Stop();
}

Status RaftHa::EnsureStarted() {
  std::lock_guard lock(mu_);
  if (started_) return Status::Ok();
  RETURN_IF_ERROR(node_->Start());
  started_ = true;
  LOG_INFO("ha: raft started (node {})", node_->node_id());
  return Status::Ok();
}

void RaftHa::OnEvent(raft::RaftEvent ev) {
  switch (ev) {
    case raft::RaftEvent::kBecameLeader: {
      json rec = {{"node_id", node_->node_id()},
                  {"api_addr", opts_.api_addr},
                  {"cluster_addr", opts_.cluster_addr},
                  {"active_ns", std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count()}};
      Status st = storage_->Put(kLeaderKey, rec.dump());
      if (!st.ok()) {
        LOG_WARN("ha: cannot advertise leadership: {}", st.ToString());
        return;
      }
      if (!core_->Sealed()) {
        st = core_->ReloadActive();
        if (!st.ok()) LOG_ERROR("ha: reload on becoming active failed: {}", st.ToString());
      }
      ready_ = true;
      LOG_INFO("ha: this node is now the active node");
      // Followers learn that the record is committed from the leader's next message, which
      // in an idle cluster is the heartbeat up to heartbeat_timeout away; until then their
      // clients wait in WaitForLeader. One more entry carries the commit index at once.
      node_->Nudge();
      break;
    }
    case raft::RaftEvent::kLostLeadership:
      ready_ = false;
      LOG_INFO("ha: this node is now a standby");
      break;
    case raft::RaftEvent::kRemoved:
      ready_ = false;
      LOG_WARN("ha: this node was removed from the raft cluster");
      break;
  }
}

bool RaftHa::IsActive() { return ready_.load() && node_->IsLeader(); }

std::optional<RaftHa::LeaderRecord> RaftHa::CurrentLeaderRecord() { return CurrentLeaderRecord(node_->GetStatus()); }

std::optional<RaftHa::LeaderRecord> RaftHa::CurrentLeaderRecord(const raft::RaftStatus& st) {
  if (st.leader_id.empty()) return std::nullopt;
  {
    std::lock_guard lock(mu_);
    if (cached_ && cached_->node_id == st.leader_id) return cached_;
  }
  auto raw = storage_->Get(kLeaderKey);
  if (!raw.ok() || !*raw) return std::nullopt;
  json j = json::parse(**raw, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  LeaderRecord r{j.value("node_id", ""), j.value("api_addr", ""), j.value("cluster_addr", ""),
                 j.value("active_ns", int64_t(0))};
  if (r.node_id != st.leader_id) return std::nullopt;  // the new leader has not written yet
  std::lock_guard lock(mu_);
  cached_ = r;
  return r;
}

core::HaLeader RaftHa::Leader() {
  core::HaLeader l;
  raft::RaftStatus st = node_->GetStatus();
  l.raft_committed_index = st.commit_index;
  l.raft_applied_index = st.applied_index;
  if (IsActive()) {
    l.known = true;
    l.is_self = true;
    l.leader_address = opts_.api_addr;
    l.leader_cluster_address = opts_.cluster_addr;
    l.active_time = core_->active_since();
    if (auto rec = CurrentLeaderRecord(st)) {
      l.active_time = std::chrono::system_clock::time_point(
          std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(rec->active_ns)));
    }
    return l;
  }
  if (auto rec = CurrentLeaderRecord(st)) {
    l.known = true;
    l.leader_address = rec->api_addr;
    l.leader_cluster_address = rec->cluster_addr;
  }
  return l;
}

Status RaftHa::PrepareInit() {
  if (!node_->HasExistingState()) RETURN_IF_ERROR(node_->Bootstrap());
  RETURN_IF_ERROR(EnsureStarted());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!node_->IsLeader()) {
    if (std::chrono::steady_clock::now() > deadline)
      return Status::Unavailable("raft: this node did not become leader; is it already part of a cluster?");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Ok();
}

core::HaLeader RaftHa::WaitForLeader() {
  // Right after an election the new leader's record may not have reached this node yet.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  core::HaLeader l = Leader();
  while ((!l.known || l.leader_address.empty()) && !l.is_self && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    l = Leader();
  }
  return l;
}

http::HttpResponse RaftHa::Redirect(const http::HttpRequest& req) {
  core::HaLeader l = WaitForLeader();
  if (!l.known || l.leader_address.empty())
    return core::ErrorResponse(Status::Internal("local node not active but active cluster node not found"));
  http::HttpResponse r;
  r.status = 307;
  r.content_type.clear();
  r.headers.emplace_back("Location", TrimSlash(l.leader_address) + req.target);
  return r;
}

void RaftHa::WarmForwarding() {
  // As many as the standby's HTTP workers (64 with raft storage) forward at once: when load
  // arrives, each forwarded request that has to open its own connection waits behind all
  // the others' TLS handshakes. Measured (bench/raft_cluster, 64 clients, p99 of the first
  // 2 s on a standby): none opened ahead 189-285 ms, 16: 230 ms, 32: 150 ms, 64: 54-63 ms.
  // Cost: one idle connection and one blocked thread per connection on the active node.
  constexpr size_t kWarmConnections = 64;
  if (!port_ || !opts_.forwarding) return;
  auto rec = CurrentLeaderRecord();
  if (!rec || rec->cluster_addr.empty() || rec->node_id == node_->node_id()) return;
  std::string peer = HostPort(rec->cluster_addr);
  std::string stint = rec->node_id + "@" + peer + "/" + std::to_string(rec->active_ns);  // one per leadership
  if (stint == warmed_for_) return;
  auto opened = port_->PrewarmForwarding(peer, kWarmConnections);
  if (!opened.ok()) {
    LOG_DEBUG("ha: cannot open forwarding connections to {}: {}", peer, opened.status().message());
    return;
  }
  warmed_for_ = stint;
  LOG_DEBUG("ha: opened {} forwarding connections to the active node at {}", *opened, peer);
}

http::HttpResponse RaftHa::Forward(const http::HttpRequest& req) {
  if (node_->IsRemoved())
    return core::ErrorResponse(Status::Unavailable(
        "this node was removed from the raft cluster; wipe its data directory and join it again"));
  if (req.path.rfind(kInternalPrefix, 0) == 0) return core::ErrorResponse(Status::UnsupportedPath());
  if (!opts_.forwarding || !req.Header(kForwardedHeader).empty()) return Redirect(req);
  core::HaLeader l = WaitForLeader();
  if (!l.known || l.leader_address.empty() || l.is_self)
    return core::ErrorResponse(Status::Internal("local node not active but active cluster node not found"));
  std::vector<std::string> headers;
  for (auto& [k, v] : req.headers) {
    if (k == "host" || k == "content-length" || k == "connection" || k == "transfer-encoding" || k == "expect" ||
        k == "keep-alive")
      continue;
    headers.push_back(k + ": " + v);
  }
  headers.push_back(std::string(kForwardedHeader) + ": 1");
  if (!req.remote_addr.empty()) headers.push_back("X-Forwarded-For: " + req.remote_addr);
  Result<HttpResult> res = Status::Unavailable("no cluster address");
  if (port_) {
    // Over the cluster port (mutual TLS), to the active node's cluster_addr.
    if (!l.leader_cluster_address.empty()) {
      bool unknown = false;
      auto fr = port_->Forward(HostPort(l.leader_cluster_address), req, &unknown);
      if (fr.ok()) {
        res = HttpResult{fr->status, std::move(fr->headers), std::move(fr->body)};
      } else if (unknown) {
        // The active node may have applied it: neither send it again nor redirect the client
        // (which would re-send it); the client must check and retry, as after a 503 from raft.
        LOG_WARN("ha: forwarded {} request lost its connection: {}", req.method, fr.status().message());
        return core::ErrorResponse(Status::Unavailable(
            "request forwarded to the active node, but the connection was lost before its response; "
            "the request may or may not have been applied"));
      } else {
        res = fr.status();
      }
    }
  } else {
    res = HttpCall(req.method, TrimSlash(l.leader_address) + req.target, headers, req.body);
  }
  if (!res.ok()) {
    LOG_WARN("ha: forwarding failed, redirecting: {}", res.status().message());
    return Redirect(req);
  }
  http::HttpResponse out;
  out.status = static_cast<int>(res->status);
  out.content_type.clear();
  for (auto& [k, v] : res->headers) {
    std::string lk = ToLower(k);
    if (lk == "content-length" || lk == "connection" || lk == "transfer-encoding" || lk == "date" || lk == "keep-alive")
      continue;
    if (lk == "content-type") {
      out.content_type = v;
      continue;
    }
    out.headers.emplace_back(k, v);
  }
  out.body = std::move(res->body);
  return out;
}

// ---------------------------------------------------------------------------------------
// Cluster TLS keyring

Status RaftHa::OnInit(Storage* barrier) {
  ASSIGN_OR_RETURN(ClusterKeyring kr, GenerateClusterKeyring());
  SecureString j = KeyringToJson(kr);
  RETURN_IF_ERROR(barrier->Put(kClusterTlsPath, j.view()));
  LOG_INFO("ha: generated the cluster TLS keyring");
  return Status::Ok();
}

void RaftHa::OnUnsealed(Storage* barrier) {
  if (!port_) return;
  auto raw = barrier->Get(kClusterTlsPath);
  if (!raw.ok() || !*raw) {
    LOG_ERROR("ha: no cluster TLS keyring in the barrier; this node cannot take part in raft");
    return;
  }
  SecureString j(std::move(**raw));
  auto kr = KeyringFromJson(j.view());
  Status st = kr.ok() ? port_->SetKeyring(&*kr) : kr.status();
  if (!st.ok()) LOG_ERROR("ha: cannot install the cluster TLS keyring: {}", st.ToString());
}

void RaftHa::OnSealed() {
  if (!port_) return;
  Status st = port_->SetKeyring(nullptr);
  (void)st;
}

// ---------------------------------------------------------------------------------------
// Join

Status RaftHa::Join(const std::string& leader_api_addr, const LeaderTls& tls) {
  std::string leader = TrimSlash(leader_api_addr);
  if (leader.empty()) return Status::InvalidRequest("leader_api_addr is required");
  RETURN_IF_ERROR(EnsureStarted());
  ASSIGN_OR_RETURN(json resp, PostJson(leader + "/v1/sys/storage/raft/bootstrap/challenge",
                                       {{"server_id", node_->node_id()}}, &tls));
  if (!resp.contains("challenge") || !resp["challenge"].is_string() || !resp.contains("seal_config"))
    return Status::Internal("leader sent an invalid challenge");
  ASSIGN_OR_RETURN(seal::SealConfig sc, seal::SealConfig::FromJson(resp["seal_config"]));
  auto blob = Base64Decode(resp["challenge"].get<std::string>());
  if (!blob) return Status::Internal("leader sent an invalid challenge");
  core_->seal()->SetJoinConfig(sc);
  std::lock_guard lock(mu_);
  join_leader_ = leader;
  join_tls_ = tls;
  join_challenge_ = *blob;
  LOG_INFO("ha: join challenge received from {}; unseal this node with the cluster's keys", leader);
  return Status::Ok();
}

Status RaftHa::OnJoinKeyRecovered() {
  std::string leader, challenge;
  LeaderTls tls;
  {
    std::lock_guard lock(mu_);
    leader = join_leader_;
    tls = join_tls_;
    challenge = join_challenge_;
  }
  if (leader.empty()) return Status::InvalidRequest("Unseal failed, invalid key");
  auto secret = core_->seal()->UnwrapWithUnsealKey(challenge, "raft-challenge:" + node_->node_id());
  if (!secret.ok()) return Status::InvalidRequest("Unseal failed, invalid key");
  SecureString sec(std::move(*secret));
  auto r = PostJson(leader + "/v1/sys/storage/raft/bootstrap/answer",
                    {{"server_id", node_->node_id()},
                     {"answer", Base64Encode(AnswerProof(sec, node_->node_id()))},
                     {"cluster_addr", HostPort(opts_.cluster_addr)}},
                    &tls);
  if (!r.ok()) return Status::InvalidRequest("error answering the raft bootstrap challenge: " + r.status().message());
  if (port_) {
    // The cluster keyring, so this node can take part in raft before it can read the barrier.
    auto blob = r->is_object() && r->contains("tls_keyring") && (*r)["tls_keyring"].is_string()
                    ? Base64Decode((*r)["tls_keyring"].get<std::string>())
                    : std::nullopt;
    if (!blob) return Status::Internal("the leader sent no cluster TLS keyring");
    auto kr = OpenKeyring(sec, node_->node_id(), *blob);
    if (!kr.ok()) return Status::Internal("cannot open the cluster TLS keyring from the leader: " + kr.status().message());
    RETURN_IF_ERROR(port_->SetKeyring(&*kr));
  }
  {
    std::lock_guard lock(mu_);
    join_leader_.clear();
    join_challenge_.clear();
    join_tls_ = LeaderTls{};  // the client key is not needed any more
  }
  LOG_INFO("ha: joined the raft cluster through {}", leader);
  return Status::Ok();
}

void RaftHa::RetryJoinLoop() {
  for (;;) {
    if (node_->HasExistingState() && node_->GetStatus().leader_id != "") return;
    {
      std::lock_guard lock(mu_);
      if (!join_leader_.empty()) goto wait;  // challenge held; waiting for the unseal keys
    }
    for (auto& rj : opts_.retry_join) {
      Status st = Join(rj.leader_api_addr, rj.tls);
      if (st.ok()) break;
      LOG_INFO("ha: retry_join {}: {}", rj.leader_api_addr, st.message());
    }
  wait:
    std::unique_lock lock(stop_mu_);
    if (stop_cv_.wait_for(lock, std::chrono::seconds(2), [this] { return stopping_; })) return;
  }
}

http::HttpResponse RaftHa::HandleMember(http::HttpRequest& req) {
  auto body = http::ParseJsonBody(req.body, 64);
  if (!body.ok()) return core::ErrorResponse(body.status());
  std::string id = body->is_object() ? body->value("server_id", "") : "";
  if (id.empty()) return core::ErrorResponse(Status::InvalidRequest("no server id provided"));
  auto conf = node_->Configuration();
  if (!conf.ok()) return core::ErrorResponse(conf.status());
  uint64_t rid = raft::RaftIdFor(id);
  bool member = false;
  for (auto& s : conf->servers) member |= s.raft_id == rid;
  auto rec = node_->fsm()->Node(rid);
  bool removed = !member && rec && rec->removed && rec->node_id == id;
  return core::JsonResponse(200, {{"member", member}, {"removed", removed}});
}

void RaftHa::CheckRemovedWhileDown() {
  if (node_->IsRemoved() || IsActive() || node_->StalledForMs() < 10000) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_member_check_ < std::chrono::seconds(10)) return;
  last_member_check_ = now;
  auto raw = storage_->Get(kLeaderKey);
  if (!raw.ok() || !*raw) return;
  json rec = json::parse(**raw, nullptr, false);
  if (!rec.is_object()) return;
  std::string api = TrimSlash(rec.value("api_addr", ""));
  if (api.empty() || rec.value("node_id", "") == node_->node_id()) return;
  auto r = PostJson(api + "/v1/sys/storage/raft/bootstrap/member", {{"server_id", node_->node_id()}});
  if (!r.ok()) {
    LOG_INFO("ha: no raft progress for {} s and {} cannot tell whether this node is a member: {}",
             node_->StalledForMs() / 1000, api, r.status().message());
    return;
  }
  if (r->is_object() && r->value("removed", false)) {
    LOG_WARN("ha: the active node at {} says this node was removed from the raft cluster", api);
    node_->MarkRemoved();
  }
}

// ---------------------------------------------------------------------------------------
// Snapshots: Vault's file (src/snapshot/archive.h). SHA256SUMS.sealed is sealed with the
// Shamir unseal key, as Vault seals it with the seal, so only a cluster with the same
// unseal keys restores it without -force.

namespace {
constexpr std::string_view kSnapshotSumsAad = "tresor raft snapshot sums";

bool LeftOutOfSnapshots(std::string_view k) {
  return k == kLeaderKey || k.substr(0, raft::kRestoreStagingRoot.size()) == raft::kRestoreStagingRoot;
}
}  // namespace

Result<std::string> RaftHa::BuildSnapshot() {
  snapshot::Meta meta;
  const raft::RaftStatus status = node_->GetStatus();
  meta.index = status.applied_index;
  meta.term = status.term;
  if (auto conf = node_->Configuration(); conf.ok()) {
    meta.configuration_index = conf->index;
    for (const auto& s : conf->servers) meta.servers.push_back({s.node_id, s.address, s.voter});
  }
  std::string state;
  {
    ASSIGN_OR_RETURN(auto snap, storage_->Snapshot());
    RETURN_IF_ERROR(snap->ForEach([&](std::string_view k, std::string_view v) {
      if (!LeftOutOfSnapshots(k)) snapshot::AppendEntry(&state, k, v);
      return Status::Ok();
    }));
  }
  return snapshot::Write(meta, state, [this](std::string_view sums) {
    return core_->seal()->WrapWithUnsealKey(sums, kSnapshotSumsAad);
  });
}

namespace {
// Deletes every key staged by an earlier restore that never committed (leadership lost
// half-way, say), in entries below the size limit.
Status DropStaleStaging(raft::RaftStorage* storage) {
  ASSIGN_OR_RETURN(auto snap, storage->Snapshot());
  std::vector<std::string> stale;
  RETURN_IF_ERROR(snap->ForEach([&](std::string_view k, std::string_view) {
    if (k.substr(0, raft::kRestoreStagingRoot.size()) == raft::kRestoreStagingRoot) stale.emplace_back(k);
    return Status::Ok();
  }));
  snap.reset();
  std::vector<TxnOp> ops;
  size_t size = 0;
  for (auto& k : stale) {
    size += k.size() + 16;
    ops.push_back({TxnOp::Kind::kDelete, std::move(k), ""});
    if (size > 256 * 1024) {
      RETURN_IF_ERROR(storage->Transaction(ops));
      ops.clear();
      size = 0;
    }
  }
  if (!ops.empty()) RETURN_IF_ERROR(storage->Transaction(ops));
  return Status::Ok();
}
}  // namespace

http::HttpResponse RaftHa::HandleSnapshot(http::HttpRequest& req, bool force) {
  if (req.method == "GET" && !force) {
    auto snap = BuildSnapshot();
    if (!snap.ok()) return core::ErrorResponse(snap.status());
    http::HttpResponse r;
    r.content_type = "application/octet-stream";
    r.body = std::move(*snap);
    return r;
  }
  if (!IsWrite(req.method)) return core::JsonResponse(405, {{"errors", json::array()}});
  snapshot::OpenFn open = [this](std::string_view sealed) {
    return core_->seal()->UnwrapWithUnsealKey(sealed, kSnapshotSumsAad);
  };
  auto archive = snapshot::Read(req.body, force ? nullptr : &open);
  if (!archive.ok()) {
    if (snapshot::SealedSumsDidNotOpen(archive.status()))
      return core::ErrorResponse(Status::InvalidRequest(
          "could not verify hash file, possibly the snapshot is using a different set of unseal keys; use the "
          "snapshot-force API to bypass this check"));
    LOG_WARN("ha: snapshot restore refused: {}", archive.status().message());
    return core::ErrorResponse(archive.status());
  }
  // Every key must be storable once the restore commits: an empty key would stop every
  // node's state machine then (a long one already fails while staging, changing nothing).
  size_t keys = 0;
  Status parsed = snapshot::ForEachEntry(archive->state, [&](const snapshot::Entry& e) {
    if (e.key.empty()) return Status::Corruption("failed to read snapshot file: an entry has an empty key");
    keys += !LeftOutOfSnapshots(e.key);
    return Status::Ok();
  });
  if (!parsed.ok()) return core::ErrorResponse(parsed);
  if (keys == 0) return core::ErrorResponse(Status::InvalidRequest("failed to read snapshot file: empty"));
  // A snapshot can be far larger than one raft entry (max_entry_size). Stage it in
  // ordinary entries under a fresh prefix, then one small commit entry makes every node
  // swap it in within one LMDB transaction: until the commit the old state is intact and
  // served, and a restore interrupted before it changes nothing visible.
  Status st = DropStaleStaging(storage_);
  if (!st.ok()) return core::ErrorResponse(st);
  const std::string id = NewUUID().substr(0, 8);
  const std::string prefix = raft::RestoreStagingPrefix(id);
  // Entries of at most 3/4 of the limit (the rest is headroom for the encoding); a single
  // key/value above the limit fails the restore before anything is committed.
  const size_t limit = std::max<size_t>(node_->max_entry_size() / 4 * 3, 4096);
  std::vector<TxnOp> ops;
  size_t size = 0, chunks = 0;
  st = snapshot::ForEachEntry(archive->state, [&](const snapshot::Entry& e) {
    const std::string_view k = e.key, v = e.value;
    if (LeftOutOfSnapshots(k)) return Status::Ok();
    size_t item = prefix.size() + k.size() + v.size() + 9;
    if (!ops.empty() && size + item > limit) {
      RETURN_IF_ERROR(storage_->Transaction(ops));
      ops.clear();
      size = 0;
      chunks++;
    }
    size += item;
    ops.push_back({TxnOp::Kind::kPut, prefix + std::string(k), std::string(v)});
    return Status::Ok();
  });
  if (st.ok() && !ops.empty()) {
    st = storage_->Transaction(ops);
    chunks++;
  }
  if (st.ok()) st = node_->CommitRestore(id);
  if (!st.ok()) {
    LOG_WARN("ha: snapshot restore failed before its commit: {}", st.message());
    (void)DropStaleStaging(storage_);
    return core::ErrorResponse(st);
  }
  LOG_INFO("ha: restored a snapshot of {} keys at index {} ({} staging entries)", keys, archive->meta.index, chunks);
  // The keyring may have changed (another cluster's snapshot): reload, or seal if the
  // current keys no longer open it.
  Status rl = core_->ReloadActive();
  if (!rl.ok()) LOG_WARN("ha: sealed after restore; unseal with the snapshot's keys");
  return NoContent();
}

// ---------------------------------------------------------------------------------------
// Endpoints

std::optional<http::HttpResponse> RaftHa::HandleRaw(const std::string& path, http::HttpRequest& req) {
  if (path == "sys/storage/raft/join") return HandleJoin(req);  // the joining node's own, sealed
  // Every other endpoint belongs to the active node. Its route says what HandleRaw checks
  // first, in Vault's order: sealed (503); on a standby, forward or redirect to the active
  // node whatever the method; sudo on the request's path (the unauthenticated bootstrap
  // endpoints need none); then the method (405). kAny routes check methods themselves.
  enum class Verbs { kGet, kWrite, kAny };
  enum class Sudo {
    kNo,
    kYes,
    kAfterMethod,  // Vault serves sys/step-down outside its router: 405 before the token
  };
  using Fn = http::HttpResponse (*)(RaftHa*, const std::string&, http::HttpRequest&);
  struct Route {
    std::string_view path;  // a trailing '/' matches everything under it
    Verbs verbs;
    bool redirect;  // standby: 307 to the active node instead of forwarding (large bodies)
    Sudo sudo;
    Fn fn;
  };
  static const Route kRoutes[] = {
      {"sys/storage/raft/bootstrap/challenge", Verbs::kWrite, false, Sudo::kNo,
       [](RaftHa* h, const std::string&, http::HttpRequest& r) { return h->HandleChallenge(r); }},
      {"sys/storage/raft/bootstrap/answer", Verbs::kWrite, false, Sudo::kNo,
       [](RaftHa* h, const std::string&, http::HttpRequest& r) { return h->HandleAnswer(r); }},
      {"sys/storage/raft/bootstrap/member", Verbs::kWrite, false, Sudo::kNo,
       [](RaftHa* h, const std::string&, http::HttpRequest& r) { return h->HandleMember(r); }},
      {"sys/storage/raft/configuration", Verbs::kGet, false, Sudo::kYes,
       [](RaftHa* h, const std::string&, http::HttpRequest&) { return h->HandleConfiguration(); }},
      {"sys/storage/raft/remove-peer", Verbs::kWrite, false, Sudo::kYes,
       [](RaftHa* h, const std::string&, http::HttpRequest& r) { return h->HandleRemovePeer(r); }},
      {"sys/step-down", Verbs::kWrite, false, Sudo::kAfterMethod,
       [](RaftHa* h, const std::string&, http::HttpRequest&) { return h->HandleStepDown(); }},
      {"sys/ha-status", Verbs::kGet, false, Sudo::kYes,
       [](RaftHa* h, const std::string&, http::HttpRequest&) { return h->HandleHaStatus(); }},
      {"sys/storage/raft/autopilot/configuration", Verbs::kAny, false, Sudo::kYes,
       [](RaftHa* h, const std::string&, http::HttpRequest& r) { return h->HandleAutopilotConfig(r); }},
      {"sys/storage/raft/autopilot/state", Verbs::kGet, false, Sudo::kYes,
       [](RaftHa* h, const std::string&, http::HttpRequest&) { return h->HandleAutopilotState(); }},
      {"sys/storage/raft/snapshot-auto/", Verbs::kAny, false, Sudo::kYes,
       [](RaftHa* h, const std::string& p, http::HttpRequest& r) { return h->HandleSnapshotAuto(p, r); }},
      {"sys/storage/raft/snapshot", Verbs::kAny, true, Sudo::kYes,
       [](RaftHa* h, const std::string&, http::HttpRequest& r) { return h->HandleSnapshot(r, false); }},
      {"sys/storage/raft/snapshot-force", Verbs::kWrite, true, Sudo::kYes,
       [](RaftHa* h, const std::string&, http::HttpRequest& r) { return h->HandleSnapshot(r, true); }},
  };
  const Route* route = nullptr;
  for (const Route& r : kRoutes) {
    bool prefix = r.path.back() == '/';
    if (prefix ? path.starts_with(r.path) : path == r.path) {
      route = &r;
      break;
    }
  }
  if (!route) return std::nullopt;
  if (core_->Sealed()) return core::ErrorResponse(Status::Sealed());
  if (!IsActive()) return route->redirect ? Redirect(req) : Forward(req);
  bool method_ok = route->verbs == Verbs::kAny || (route->verbs == Verbs::kGet ? req.method == "GET" : IsWrite(req.method));
  if (!method_ok && route->sudo == Sudo::kAfterMethod) return core::JsonResponse(405, {{"errors", json::array()}});
  if (route->sudo != Sudo::kNo) {
    Status auth = core_->AuthorizeSudo(req, path);
    if (!auth.ok()) return core::ErrorResponse(auth);
  }
  if (!method_ok) return core::JsonResponse(405, {{"errors", json::array()}});
  return route->fn(this, path, req);
}

http::HttpResponse RaftHa::HandleJoin(http::HttpRequest& req) {
  if (!IsWrite(req.method)) return core::JsonResponse(405, {{"errors", json::array()}});
  auto body = http::ParseJsonBody(req.body, 64);
  if (!body.ok()) return core::ErrorResponse(body.status());
  const json& b = *body;
  if (b.value("non_voter", false))
    return core::ErrorResponse(Status::InvalidRequest("non-voting nodes are not supported in this edition"));
  std::string leader = b.contains("leader_api_addr") && b["leader_api_addr"].is_string() ? b["leader_api_addr"].get<std::string>() : "";
  if (leader.empty()) return core::ErrorResponse(Status::InvalidRequest("leader_api_addr is required"));
  auto inited = core_->Initialized();
  if (inited.ok() && *inited && (!core_->Sealed() || node_->HasExistingState()))
    return core::ErrorResponse(Status::InvalidRequest("node is already a member of a raft cluster"));
  auto str = [&b](const char* k) { return b.contains(k) && b[k].is_string() ? b[k].get<std::string>() : std::string(); };
  LeaderTls tls;
  tls.ca_pem = str("leader_ca_cert");
  tls.client_cert_pem = str("leader_client_cert");
  tls.client_key_pem = SecureString(str("leader_client_key"));
  tls.servername = str("leader_tls_servername");
  if (tls.client_cert_pem.empty() != tls.client_key_pem.empty())
    return core::ErrorResponse(
        Status::InvalidRequest("leader_client_cert and leader_client_key must be provided together"));
  Status st = Join(leader, tls);
  if (!st.ok()) {
    if (b.value("retry", false)) {
      LOG_WARN("ha: join failed, retrying in the background: {}", st.message());
      std::lock_guard lock(stop_mu_);
      if (!retry_thread_.joinable() && !stopping_) {
        opts_.retry_join = {RetryJoin{leader, tls}};
        retry_thread_ = std::thread([this] { RetryJoinLoop(); });
      }
      return core::JsonResponse(200, {{"joined", true}});
    }
    // Vault: 500 "failed to join raft cluster: <why>" (the leader unreachable, TLS refused).
    return core::JsonResponse(500, {{"errors", json::array({"failed to join raft cluster: " + st.message()})}});
  }
  return core::JsonResponse(200, {{"joined", true}});
}

http::HttpResponse RaftHa::HandleChallenge(http::HttpRequest& req) {
  auto body = http::ParseJsonBody(req.body, 64);
  if (!body.ok()) return core::ErrorResponse(body.status());
  std::string id = body->value("server_id", "");
  if (id.empty()) return core::ErrorResponse(Status::InvalidRequest("no server id provided"));
  auto cfg = core_->seal()->Config();
  if (!cfg.ok() || !*cfg) return core::ErrorResponse(Status::Internal("seal configuration unavailable"));
  std::string answer = RandomBytes(16);
  auto blob = core_->seal()->WrapWithUnsealKey(answer, "raft-challenge:" + id);
  if (!blob.ok()) return core::ErrorResponse(blob.status());
  {
    std::lock_guard lock(mu_);
    challenges_[id] = answer;
  }
  Wipe(answer);
  return core::JsonResponse(200, {{"challenge", Base64Encode(*blob)}, {"seal_config", (**cfg).ToJson()}});
}

http::HttpResponse RaftHa::HandleAnswer(http::HttpRequest& req) {
  auto body = http::ParseJsonBody(req.body, 64);
  if (!body.ok()) return core::ErrorResponse(body.status());
  std::string id = body->value("server_id", ""), addr = body->value("cluster_addr", "");
  auto answer = Base64Decode(body->value("answer", ""));
  if (id.empty()) return core::ErrorResponse(Status::InvalidRequest("no server id provided"));
  if (addr.empty()) return core::ErrorResponse(Status::InvalidRequest("no cluster_addr provided"));
  SecureString secret;
  {
    std::lock_guard lock(mu_);
    auto it = challenges_.find(id);
    bool ok = it != challenges_.end() && answer &&
              ConstantTimeEquals(AnswerProof(SecureString(it->second), id), *answer);
    if (ok) secret = SecureString(it->second);
    if (it != challenges_.end()) {
      Wipe(it->second);
      challenges_.erase(it);
    }
    if (!ok) return core::ErrorResponse(Status::InvalidRequest("invalid answer given"));
  }
  std::string sealed_keyring;
  if (port_) {
    auto kr = port_->Keyring();
    if (!kr) return core::ErrorResponse(Status::Internal("this node has no cluster TLS keyring"));
    auto enc = SealKeyring(secret, id, *kr);
    if (!enc.ok()) return core::ErrorResponse(enc.status());
    sealed_keyring = Base64Encode(*enc);
  }
  Status st = node_->AddNonVoter(id, HostPort(addr));
  if (!st.ok()) return core::ErrorResponse(st);
  // Autopilot (the active node's once-a-second thread) promotes it to voter once it has
  // been healthy for server_stabilization_time (PromoteStableNonVoters).
  LOG_INFO("ha: added {} ({}) as a non-voter", id, addr);
  json out = {{"peers", json::array()}};
  if (!sealed_keyring.empty()) out["tls_keyring"] = sealed_keyring;
  return core::JsonResponse(200, out);
}

http::HttpResponse RaftHa::HandleConfiguration() {
  auto cfg = node_->Configuration();
  if (!cfg.ok()) return core::ErrorResponse(cfg.status());
  nlohmann::ordered_json servers = nlohmann::ordered_json::array();
  for (auto& s : cfg->servers) {
    nlohmann::ordered_json o;
    o["node_id"] = s.node_id;
    o["address"] = s.address;
    o["leader"] = s.leader;
    o["protocol_version"] = "3";
    o["voter"] = s.voter;
    servers.push_back(o);
  }
  nlohmann::ordered_json config;
  config["index"] = cfg->index;
  config["servers"] = servers;
  nlohmann::ordered_json data;
  data["config"] = config;
  return DataEnvelope(data);
}

http::HttpResponse RaftHa::HandleRemovePeer(http::HttpRequest& req) {
  auto body = http::ParseJsonBody(req.body, 64);
  if (!body.ok()) return core::ErrorResponse(body.status());
  std::string id = body->value("server_id", "");
  if (id.empty()) return core::ErrorResponse(Status::InvalidRequest("no server id provided"));
  {
    std::lock_guard lock(ap_mu_);
    removing_.insert(id);  // autopilot must not promote it back while it is demoted
  }
  Status st = node_->RemovePeer(id);
  {
    std::lock_guard lock(ap_mu_);
    removing_.erase(id);
  }
  if (!st.ok()) return core::ErrorResponse(st);
  return NoContent();
}

http::HttpResponse RaftHa::HandleStepDown() {
  ready_ = false;
  Status st = node_->TransferLeadership();
  if (!st.ok()) {
    if (node_->IsLeader()) ready_ = true;
    return core::ErrorResponse(st);
  }
  return NoContent();
}

}  // namespace tresor::ha
