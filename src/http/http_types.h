// The HTTP layer's view of a request and a response. The http module turns bytes on the
// wire into an HttpRequest and an HttpResponse back into bytes; it knows nothing about
// secrets, tokens or Vault semantics. core/ maps HttpRequest -> logical Request.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tresor::http {

struct HttpRequest {
  std::string method;    // upper case as sent: GET, PUT, POST, DELETE, LIST, HEAD, PATCH
  std::string target;    // request target exactly as received (path + "?" + query)
  std::string path;      // path part, percent-decoded ("/v1/secret/data/x")
  std::string raw_path;  // path part as received, still percent-encoded
  std::string raw_query; // query part as received, without "?"
  std::multimap<std::string, std::string> query;  // decoded query parameters
  std::map<std::string, std::string> headers;     // header names lower-cased
  std::string body;
  std::string remote_addr;  // client IP without port
  bool tls = false;

  // First value of a query parameter, or "" if absent.
  std::string QueryParam(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? std::string() : it->second;
  }
  bool HasQueryParam(const std::string& name) const { return query.count(name) > 0; }
  // Header value by lower-case name, or "".
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";  // empty: no Content-Type header
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  std::string body;
};

// Called on a worker thread (never on an I/O thread); may block on storage or the network.
using HttpHandler = std::function<HttpResponse(HttpRequest&)>;

}  // namespace tresor::http
