#include "client/client.h"

#include <curl/curl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/duration.h"
#include "common/strings.h"

namespace tresor::client {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool ParseBoolLoose(const std::string& s, bool* out) {
  static const char* kTrue[] = {"1", "t", "T", "TRUE", "true", "True"};
  static const char* kFalse[] = {"0", "f", "F", "FALSE", "false", "False"};
  for (auto* t : kTrue)
    if (s == t) return *out = true, true;
  for (auto* f : kFalse)
    if (s == f) return *out = false, true;
  return false;
}

std::string TokenHelperPath() {
  std::string home = Env("HOME");
  if (home.empty()) home = ".";
  return home + "/.vault-token";
}

// Go's url.Error operation name: "Get", "Put", "List", ...
std::string UrlErrorOp(const std::string& method) {
  if (method.empty()) return method;
  std::string out(1, method[0]);
  out += ToLower(method.substr(1));
  return out;
}

struct ParsedUrl {
  std::string scheme, host, port;
};

ParsedUrl ParseUrl(const std::string& url) {
  ParsedUrl p;
  std::string rest = url;
  auto pos = rest.find("://");
  if (pos != std::string::npos) {
    p.scheme = rest.substr(0, pos);
    rest = rest.substr(pos + 3);
  }
  auto slash = rest.find_first_of("/?");
  std::string hostport = rest.substr(0, slash);
  if (auto at = hostport.rfind('@'); at != std::string::npos) hostport = hostport.substr(at + 1);
  if (!hostport.empty() && hostport[0] == '[') {
    auto close = hostport.find(']');
    p.host = hostport.substr(0, close + 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':') p.port = hostport.substr(close + 2);
  } else if (auto colon = hostport.rfind(':'); colon != std::string::npos) {
    p.host = hostport.substr(0, colon);
    p.port = hostport.substr(colon + 1);
  } else {
    p.host = hostport;
  }
  if (p.port.empty()) p.port = p.scheme == "http" ? "80" : "443";
  return p;
}

size_t WriteBody(char* data, size_t size, size_t n, void* userp) {
  static_cast<std::string*>(userp)->append(data, size * n);
  return size * n;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* userp) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(userp);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();  // a new response (e.g. after 100-continue)
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = ToLower(TrimSpace(line.substr(0, colon)));
    (*headers)[name] = std::string(TrimSpace(line.substr(colon + 1)));
  }
  return size * n;
}

struct CurlInit {
  CurlInit() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

Code CodeForHttp(int status) {
  if (status == 403) return Code::kPermissionDenied;
  if (status == 404) return Code::kNotFound;
  if (status == 503) return Code::kSealed;
  if (status == 429) return Code::kTooManyRequests;
  if (status >= 500) return Code::kInternal;
  return Code::kInvalidRequest;
}

bool ShouldRetry(int status, const std::string& body) {
  if (status == 0) return true;
  if (status == 412) return true;
  if (status >= 500 && status != 501) {
    // A sealed node stays sealed for the next 4 seconds too; fail fast there.
    if (status == 503 && body.find("Vault is sealed") != std::string::npos) return false;
    return true;
  }
  return false;
}

}  // namespace

Config Config::FromEnvironment() {
  Config c;
  if (auto a = Env("VAULT_ADDR"); !a.empty()) c.address = a;
  if (auto t = Env("VAULT_TOKEN"); !t.empty()) {
    c.token = SecureString(t);
  } else {
    c.token = ReadTokenHelper();
  }
  c.ca_cert = Env("VAULT_CACERT");
  c.ca_path = Env("VAULT_CAPATH");
  c.client_cert = Env("VAULT_CLIENT_CERT");
  c.client_key = Env("VAULT_CLIENT_KEY");
  c.tls_server_name = Env("VAULT_TLS_SERVER_NAME");
  if (auto s = Env("VAULT_SKIP_VERIFY"); !s.empty()) {
    bool b = false;
    if (ParseBoolLoose(s, &b)) c.tls_skip_verify = b;
  }
  c.ns = Env("VAULT_NAMESPACE");
  c.wrap_ttl = Env("VAULT_WRAP_TTL");
  if (auto t = Env("VAULT_CLIENT_TIMEOUT"); !t.empty()) {
    auto v = ParseDurationSeconds(t);
    if (v && *v > 0) c.timeout_seconds = long(*v);
  }
  if (auto r = Env("VAULT_MAX_RETRIES"); !r.empty()) {
    c.max_retries = std::max(0, std::atoi(r.c_str()));
  }
  return c;
}

SecureString ReadTokenHelper() {
  std::ifstream in(TokenHelperPath(), std::ios::binary);
  if (!in) return SecureString();
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  SecureString out{std::string(TrimSpace(s))};
  Wipe(s);
  return out;
}

Status StoreTokenHelper(const std::string& token) {
  std::string path = TokenHelperPath();
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Status::IOError("open " + tmp + ": " + std::strerror(errno));
  ::fchmod(fileno(f), 0600);
  bool ok = std::fwrite(token.data(), 1, token.size(), f) == token.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::IOError("write " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Status EraseTokenHelper() {
  std::string path = TokenHelperPath();
  if (std::remove(path.c_str()) != 0 && errno != ENOENT)
    return Status::IOError("remove " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

std::string QueryEscape(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += char(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string EncodeQuery(std::vector<std::pair<std::string, std::string>> q) {
  std::stable_sort(q.begin(), q.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (const auto& [k, v] : q) {
    if (!out.empty()) out += '&';
    out += QueryEscape(k) + "=" + QueryEscape(v);
  }
  return out;
}

std::string FormatApiError(const Response& r) {
  std::vector<std::string> errors;
  bool raw = false;
  try {
    auto j = nlohmann::json::parse(r.body);
    if (!j.is_object()) throw std::runtime_error("not an object");
    if (j.contains("errors") && !j["errors"].is_null()) {
      for (const auto& e : j["errors"]) errors.push_back(e.get<std::string>());
    }
  } catch (...) {
    raw = true;
  }
  std::string out = "Error making API request.\n\nURL: " + r.method + " " + r.url +
                    "\nCode: " + std::to_string(r.status) + ". " +
                    (raw ? "Raw Message" : "Errors") + ":\n\n";
  if (raw) {
    out += r.body;
  } else {
    for (const auto& e : errors) out += "* " + e;
  }
  return out;
}

Client::Client(Config config) : config_(std::move(config)) {
  static CurlInit init;
  curl_ = curl_easy_init();
}

Client::~Client() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

std::string Client::BuildUrl(const Request& req) const {
  std::string base = config_.address;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string url = base + req.path;
  if (!req.query.empty()) url += "?" + EncodeQuery(req.query);
  return url;
}

Result<Response> Client::SendOnce(const std::string& method, const std::string& url,
                                  const Request& req) {
  CURL* c = static_cast<CURL*>(curl_);
  if (!c) return Status::Internal("curl initialisation failed");
  curl_easy_reset(c);
  Response resp;
  resp.method = method;
  resp.url = url;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, config_.timeout_seconds);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, std::min<long>(config_.timeout_seconds, 30));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp.headers);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "Go-http-client/1.1");
  if (config_.tls_skip_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!config_.ca_cert.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, config_.ca_cert.c_str());
  if (!config_.ca_path.empty()) curl_easy_setopt(c, CURLOPT_CAPATH, config_.ca_path.c_str());
  if (!config_.client_cert.empty())
    curl_easy_setopt(c, CURLOPT_SSLCERT, config_.client_cert.c_str());
  if (!config_.client_key.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, config_.client_key.c_str());

  struct curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "X-Vault-Request: true");
  headers = curl_slist_append(headers, "Expect:");
  bool has_content_type = false;
  for (const auto& h : req.headers) {
    headers = curl_slist_append(headers, h.c_str());
    if (ToLower(h).rfind("content-type:", 0) == 0) has_content_type = true;
  }
  if (!has_content_type) headers = curl_slist_append(headers, "Content-Type:");
  std::string token_header;
  const std::string& token = req.token ? *req.token : config_.token.str();
  if (!req.no_token && !token.empty()) {
    token_header = "X-Vault-Token: " + token;
    headers = curl_slist_append(headers, token_header.c_str());
  }
  std::string ns_header;
  if (!config_.ns.empty()) {
    ns_header = "X-Vault-Namespace: " + config_.ns;
    headers = curl_slist_append(headers, ns_header.c_str());
  }
  std::string wrap_header;
  if (!config_.wrap_ttl.empty()) {
    wrap_header = "X-Vault-Wrap-TTL: " + config_.wrap_ttl;
    headers = curl_slist_append(headers, wrap_header.c_str());
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

  if (method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (req.body && method != "GET" && method != "HEAD") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(req.body->size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body->data());
  } else if (method == "PUT" || method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(0));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
  }

  CURLcode rc = curl_easy_perform(c);
  long os_errno = 0;
  curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
  curl_slist_free_all(headers);
  if (!token_header.empty()) Wipe(token_header);
  if (rc != CURLE_OK) {
    ParsedUrl p = ParseUrl(url);
    std::string detail;
    switch (rc) {
      case CURLE_COULDNT_CONNECT:
        detail = "dial tcp " + p.host + ":" + p.port + ": connect: " +
                 (os_errno == ECONNREFUSED || os_errno == 0
                      ? std::string("connection refused")
                      : ToLower(std::strerror(int(os_errno))));
        break;
      case CURLE_COULDNT_RESOLVE_HOST:
        detail = "dial tcp: lookup " + p.host + ": no such host";
        break;
      case CURLE_OPERATION_TIMEDOUT:
        detail = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)";
        break;
      case CURLE_URL_MALFORMAT:
      case CURLE_UNSUPPORTED_PROTOCOL:
        detail = "unsupported protocol scheme \"" + p.scheme + "\"";
        break;
      default:
        detail = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    }
    return Status::Unavailable(UrlErrorOp(method) + " \"" + url + "\": " + detail);
  }
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  resp.status = int(code);
  return resp;
}

Result<Response> Client::Send(const Request& req) {
  std::string method = req.method;
  std::string url = BuildUrl(req);
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0;; ++attempt) {
    auto r = SendOnce(method, url, req);
    bool retry = false;
    if (!r.ok()) {
      retry = r.status().message().find("certificate") == std::string::npos;
    } else {
      int s = r->status;
      if ((s == 301 || s == 302 || s == 307) && r->headers.count("location")) {
        std::string loc = r->headers["location"];
        if (loc.find("://") == std::string::npos) {
          // Relative reference: resolve against the request's scheme://authority.
          auto scheme_end = url.find("://");
          auto path_start = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
          std::string origin = url.substr(0, path_start);
          loc = origin + (loc.empty() || loc[0] != '/' ? "/" : "") + loc;
        }
        if (url.rfind("https://", 0) == 0 && loc.rfind("https://", 0) != 0) {
          return Status::Unavailable("redirect would cause protocol downgrade");
        }
        auto r2 = SendOnce(method, loc, req);
        return r2;
      }
      retry = ShouldRetry(s, r->body);
    }
    if (!retry || attempt >= config_.max_retries) return r;
    std::uniform_int_distribution<int> jitter(1000, 1500);
    std::this_thread::sleep_for(std::chrono::milliseconds(jitter(rng) * (attempt + 1)));
  }
}

Result<Response> Client::Call(const Request& req) {
  last_error_status_ = 0;
  last_errors_.clear();
  auto r = Send(req);
  if (!r.ok()) return r.status();
  if (r->status >= 400) {
    last_error_status_ = r->status;
    try {
      auto j = nlohmann::json::parse(r->body);
      if (j.is_object() && j.contains("errors") && j["errors"].is_array())
        for (const auto& e : j["errors"])
          if (e.is_string()) last_errors_.push_back(e.get<std::string>());
    } catch (...) {
    }
    return Status(CodeForHttp(r->status), FormatApiError(*r));
  }
  return r;
}

}  // namespace tresor::client
