// HTTP client for the Vault API, as the `vault` CLI uses it.
//
// Reads its settings the way Vault's Go client does (VAULT_ADDR, VAULT_TOKEN or the token
// helper file ~/.vault-token, VAULT_CACERT, VAULT_CAPATH, VAULT_CLIENT_CERT/KEY,
// VAULT_SKIP_VERIFY, VAULT_NAMESPACE, VAULT_CLIENT_TIMEOUT, VAULT_MAX_RETRIES), sends
// `X-Vault-Request: true`, follows exactly one 301/302/307 re-sending method and body, and
// retries connection errors and 5xx (except 501) like the Go client's retryablehttp policy.
//
// Errors come back as text formatted exactly like the Go client's, because the CLI prints
// them verbatim: transport failures look like Go's url.Error
// (`Get "http://127.0.0.1:8200/v1/sys/seal-status": dial tcp 127.0.0.1:8200: connect:
// connection refused`) and HTTP errors like api.ResponseError (`Error making API
// request.\n\nURL: GET ...\nCode: 400. Errors:\n\n* msg`).
//
// A Client is used from one thread at a time; it owns a libcurl easy handle.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/secure.h"
#include "common/status.h"

namespace tresor::client {

struct Config {
  std::string address = "https://127.0.0.1:8200";
  SecureString token;
  std::string ca_cert;
  std::string ca_path;
  std::string client_cert;
  std::string client_key;
  std::string tls_server_name;
  bool tls_skip_verify = false;
  std::string ns;               // VAULT_NAMESPACE, sent as X-Vault-Namespace when set
  std::string wrap_ttl;         // VAULT_WRAP_TTL / -wrap-ttl, sent as X-Vault-Wrap-TTL
  long timeout_seconds = 60;    // whole-request timeout
  int max_retries = 2;          // extra attempts on connection errors and 5xx (not 501)

  // Defaults overlaid with the VAULT_* environment and the token helper file.
  static Config FromEnvironment();
};

// Reads $HOME/.vault-token (the internal token helper). Empty if absent.
SecureString ReadTokenHelper();
// Writes the token to $HOME/.vault-token (mode 0600, no newline).
Status StoreTokenHelper(const std::string& token);
// Removes the token helper file.
Status EraseTokenHelper();

struct Request {
  std::string method = "GET";  // any verb, including LIST
  std::string path;            // "/v1/..." (leading slash); query added from `query`
  std::vector<std::pair<std::string, std::string>> query;  // sent in sorted key order
  std::optional<std::string> body;                          // sent as-is when present
  std::optional<std::string> token;  // overrides the configured token for this request
  bool no_token = false;             // send no token at all
  std::vector<std::string> headers;  // extra "Name: value" lines (e.g. a PATCH content type)
};

struct Response {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string method;  // as finally sent (after a redirect)
  std::string url;     // full URL as finally sent
};

// The Go client's error text for a response with status >= 400.
std::string FormatApiError(const Response& r);

// Status codes in the returned Status: kUnavailable for transport failures; for HTTP errors
// a code derived from the HTTP status (kInvalidRequest for 4xx, kSealed for 503, kInternal
// for other 5xx, kPermissionDenied for 403, kNotFound for 404) with the formatted message.
class Client {
 public:
  explicit Client(Config config);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Config& config() const { return config_; }
  void SetToken(const std::string& token) { config_.token = SecureString(token); }
  void SetAddress(const std::string& addr) { config_.address = addr; }

  // Sends the request; only transport failures are errors. Any HTTP status is returned.
  Result<Response> Send(const Request& req);
  // Sends the request and turns a status >= 400 into an error carrying FormatApiError().
  Result<Response> Call(const Request& req);

  // The HTTP status of the last API error returned by Call (0 if it was a transport error).
  int last_error_status() const { return last_error_status_; }
  // The decoded `errors` array of the last API error (empty if none or not JSON).
  const std::vector<std::string>& last_errors() const { return last_errors_; }

 private:
  Result<Response> SendOnce(const std::string& method, const std::string& url,
                            const Request& req);
  std::string BuildUrl(const Request& req) const;

  Config config_;
  void* curl_ = nullptr;  // CURL*
  int last_error_status_ = 0;
  std::vector<std::string> last_errors_;
};

// Percent-encoding as Go's url.QueryEscape (space -> '+').
std::string QueryEscape(const std::string& s);
// Encodes pairs as Go's url.Values.Encode: sorted by key, stable for equal keys.
std::string EncodeQuery(std::vector<std::pair<std::string, std::string>> q);

}  // namespace tresor::client
