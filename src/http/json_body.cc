#include "http/json_body.h"

#include <string>

#include "common/json.h"

namespace tresor::http {
namespace {

using Json = nlohmann::json;
using DomBuilder = nlohmann::detail::json_sax_dom_parser<Json>;

// Builds the DOM through nlohmann's own SAX DOM builder, refusing to open a container
// beyond max_depth. Returning false from a callback stops the parse at once.
class DepthLimitedSax {
 public:
  DepthLimitedSax(Json& root, int max_depth) : dom_(root, /*allow_exceptions=*/false), max_depth_(max_depth) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(Json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(Json::number_float_t v, const Json::string_t& s) { return dom_.number_float(v, s); }
  bool string(Json::string_t& v) { return dom_.string(v); }
  bool binary(Json::binary_t& v) { return dom_.binary(v); }
  bool key(Json::string_t& v) { return dom_.key(v); }
  bool start_object(std::size_t n) { return Enter() && dom_.start_object(n); }
  bool start_array(std::size_t n) { return Enter() && dom_.start_array(n); }
  bool end_object() { --depth_; return dom_.end_object(); }
  bool end_array() { --depth_; return dom_.end_array(); }

  template <class Exception>
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/, const Exception& ex) {
    error_ = DescribeParseError(ex.what());
    return false;
  }

  bool too_deep() const { return too_deep_; }
  const std::string& error() const { return error_; }

 private:
  bool Enter() {
    if (++depth_ > max_depth_) {
      too_deep_ = true;
      return false;
    }
    return true;
  }

  // nlohmann's text looks like
  //   [json.exception.parse_error.101] parse error at line 1, column 2: syntax error while
  //   parsing value - invalid literal; last read: 'x'; expected ...
  // Drop the library prefix and the "last read" excerpt (it may be a piece of a secret).
  static std::string DescribeParseError(std::string_view what) {
    if (auto p = what.find("] "); what.starts_with("[json.exception") && p != std::string_view::npos) {
      what.remove_prefix(p + 2);
    }
    std::string out(what);
    static constexpr std::string_view kLastRead = "; last read: '";
    if (auto p = out.find(kLastRead); p != std::string::npos) {
      auto q = out.rfind("'; expected ");
      if (q != std::string::npos && q >= p + kLastRead.size() - 1) {
        out.erase(p, q + 1 - p);
      } else {
        out.erase(p);
      }
    }
    return out;
  }

  DomBuilder dom_;
  int max_depth_;
  int depth_ = 0;
  bool too_deep_ = false;
  std::string error_;
};

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

Result<nlohmann::json> ParseJsonBody(std::string_view body, int max_depth) {
  std::size_t first = 0;
  while (first < body.size() && IsJsonSpace(body[first])) ++first;
  if (first == body.size()) return Json::object();

  // Fast path; a document it refuses is parsed again below so the error is worded.
  if (auto fast = ParseJson(body, max_depth)) {
    if (fast->is_object()) return std::move(*fast);
    if (fast->is_null()) return Json::object();
  }

  Json root;
  DepthLimitedSax sax(root, max_depth);
  bool ok = Json::sax_parse(body.begin(), body.end(), &sax, nlohmann::detail::input_format_t::json,
                            /*strict=*/true, /*ignore_comments=*/false);
  if (sax.too_deep()) {
    return Status::InvalidRequest("failed to parse JSON input: nesting depth exceeds the maximum of " +
                                  std::to_string(max_depth));
  }
  if (!ok) {
    return Status::InvalidRequest("failed to parse JSON input: " +
                                  (sax.error().empty() ? std::string("malformed JSON") : sax.error()));
  }
  if (root.is_null()) return Json::object();
  if (!root.is_object()) {
    return Status::InvalidRequest(std::string("failed to parse JSON input: expected a JSON object, got ") +
                                  (root.is_array() ? "an array" : root.is_string() ? "a string" : root.is_boolean() ? "a boolean" : "a number"));
  }
  return root;
}

}  // namespace tresor::http
