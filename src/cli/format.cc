#include "cli/format.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <regex>

#include "common/duration.h"
#include "common/strings.h"

namespace tresor::cli {
namespace {

size_t RuneCount(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::vector<std::string> SplitOn(std::string_view s, std::string_view delim) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(delim, start);
    if (pos == std::string_view::npos) {
      out.emplace_back(s.substr(start));
      break;
    }
    out.emplace_back(s.substr(start, pos - start));
    start = pos + delim.size();
  }
  return out;
}

// Decodes one UTF-8 sequence at s[i]; returns the code point (or -1 if invalid) and length.
int DecodeRune(std::string_view s, size_t i, size_t* len) {
  unsigned char c = s[i];
  *len = 1;
  if (c < 0x80) return c;
  int need = (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
  if (need < 0 || i + size_t(need) >= s.size())
    return -1;
  int cp = need == 1 ? (c & 0x1F) : need == 2 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k <= need; ++k) {
    unsigned char cc = s[i + size_t(k)];
    if ((cc & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (cc & 0x3F);
  }
  *len = size_t(need) + 1;
  return cp;
}

std::string FormatNumber(const Json& v) {
  if (v.is_number_float()) {
    double d = v.get<double>();
    char buf[64];
    if (d == double(int64_t(d)) && d < 1e21 && d > -1e21) {
      std::snprintf(buf, sizeof buf, "%.0f", d);
    } else {
      std::snprintf(buf, sizeof buf, "%.17g", d);
      // shortest round-trip representation
      for (int prec = 1; prec <= 17; ++prec) {
        char b2[64];
        std::snprintf(b2, sizeof b2, "%.*g", prec, d);
        if (std::strtod(b2, nullptr) == d) {
          std::snprintf(buf, sizeof buf, "%s", b2);
          break;
        }
      }
    }
    return buf;
  }
  return v.dump();
}

void GoJsonString(std::string_view s, std::string* out) {
  static const char* kHex = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (c < 0x80) {
      switch (c) {
        case '"': *out += "\\\""; break;
        case '\\': *out += "\\\\"; break;
        case '\n': *out += "\\n"; break;
        case '\r': *out += "\\r"; break;
        case '\t': *out += "\\t"; break;
        case '<': case '>': case '&':
          *out += "\\u00";
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
          break;
        default:
          if (c < 0x20) {
            *out += "\\u00";
            out->push_back(kHex[c >> 4]);
            out->push_back(kHex[c & 15]);
          } else {
            out->push_back(char(c));
          }
      }
      ++i;
      continue;
    }
    size_t len = 1;
    int cp = DecodeRune(s, i, &len);
    if (cp < 0) {
      *out += "\\ufffd";
    } else if (cp == 0x2028 || cp == 0x2029) {
      *out += cp == 0x2028 ? "\\u2028" : "\\u2029";
    } else {
      out->append(s.substr(i, len));
    }
    i += len;
  }
  out->push_back('"');
}

void GoJsonValue(const Json& v, int depth, std::string* out) {
  auto indent = [&](int d) {
    out->push_back('\n');
    out->append(size_t(d) * 2, ' ');
  };
  switch (v.type()) {
    case Json::value_t::null: *out += "null"; break;
    case Json::value_t::boolean: *out += v.get<bool>() ? "true" : "false"; break;
    case Json::value_t::string: GoJsonString(v.get_ref<const std::string&>(), out); break;
    case Json::value_t::array:
      if (v.empty()) {
        *out += "[]";
        break;
      }
      out->push_back('[');
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out->push_back(',');
        indent(depth + 1);
        GoJsonValue(v[i], depth + 1, out);
      }
      indent(depth);
      out->push_back(']');
      break;
    case Json::value_t::object: {
      if (v.empty()) {
        *out += "{}";
        break;
      }
      out->push_back('{');
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out->push_back(',');
        first = false;
        indent(depth + 1);
        GoJsonString(it.key(), out);
        *out += ": ";
        GoJsonValue(it.value(), depth + 1, out);
      }
      indent(depth);
      out->push_back('}');
      break;
    }
    case Json::value_t::binary: *out += "null"; break;
    default: *out += FormatNumber(v);
  }
}

// ---- YAML (yaml.v2 style as produced through ghodss/yaml) ----

bool LooksNumeric(const std::string& s) {
  if (s.empty()) return false;
  size_t i = 0;
  if (s[0] == '-' || s[0] == '+') i = 1;
  if (i >= s.size()) return false;
  if (s.substr(i) == ".inf" || s.substr(i) == ".Inf" || s.substr(i) == ".INF") return true;
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return true;
  if (s.compare(i, 2, "0x") == 0 || s.compare(i, 2, "0o") == 0 || s.compare(i, 2, "0b") == 0)
    return s.size() > i + 2;
  bool digit = false, dot = false, exp = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c >= '0' && c <= '9') digit = true;
    else if (c == '_') continue;
    else if (c == '.' && !dot && !exp) dot = true;
    else if ((c == 'e' || c == 'E') && digit && !exp) {
      exp = true;
      if (i + 1 < s.size() && (s[i + 1] == '-' || s[i + 1] == '+')) ++i;
    } else if (c == ':' && digit) continue;  // base 60
    else return false;
  }
  return digit;
}

// yaml.v2 resolves these plain scalars to timestamps, so it quotes such strings.
bool LooksTimestamp(const std::string& s) {
  static const std::regex kTs(R"(^\d{4}-\d{1,2}-\d{1,2}([Tt ].*)?$)");
  return std::regex_match(s, kTs);
}

bool YamlSpecialWord(const std::string& s) {
  static const char* kWords[] = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
                                 "true", "True", "TRUE", "false", "False", "FALSE", "on",
                                 "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL",
                                 "~", "<<", "="};
  for (auto* w : kWords)
    if (s == w) return true;
  return false;
}

std::string YamlScalarString(const std::string& s, int indent) {
  if (s.empty()) return "\"\"";
  if (s.find('\n') != std::string::npos) {
    // Literal block; "|-" when there is no trailing newline.
    std::string out = s.back() == '\n' ? "|" : "|-";
    std::string pad(size_t(indent) + 2, ' ');
    for (const auto& line : Split(s.back() == '\n' ? s.substr(0, s.size() - 1) : s, '\n')) {
      out += "\n";
      if (!line.empty()) out += pad + line;
    }
    return out;
  }
  bool nonprint = false;
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) nonprint = true;
  if (nonprint || YamlSpecialWord(s) || LooksNumeric(s) || LooksTimestamp(s)) {
    std::string out;
    GoJsonString(s, &out);
    return out;
  }
  bool plain = true;
  static const std::string kIndicators = "-?:,[]{}#&*!|>'\"%@`";
  if (kIndicators.find(s[0]) != std::string::npos) {
    // "-", "?" and ":" may start a plain scalar when followed by a non-space.
    if (!((s[0] == '-' || s[0] == '?' || s[0] == ':') && s.size() > 1 && s[1] != ' '))
      plain = false;
  }
  if (s.front() == ' ' || s.back() == ' ' || s.back() == ':') plain = false;
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) plain = false;
  if (s == "-" || s.rfind("---", 0) == 0 || s.rfind("...", 0) == 0) plain = false;
  if (plain) return s;
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "''";
    else out.push_back(c);
  }
  return out + "'";
}

std::string YamlScalar(const Json& v, int indent) {
  switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case Json::value_t::string: return YamlScalarString(v.get_ref<const std::string&>(), indent);
    default: return FormatNumber(v);
  }
}


void YamlNode(const Json& v, int indent, std::string* out);

// Emits a mapping whose first line is already positioned (no indentation before first key).
void YamlMap(const Json& v, int indent, std::string* out, bool first_inline) {
  std::vector<std::string> keys;
  for (auto it = v.begin(); it != v.end(); ++it) keys.push_back(it.key());
  std::sort(keys.begin(), keys.end());
  bool first = true;
  for (const auto& k : keys) {
    if (!(first && first_inline)) out->append(size_t(indent), ' ');
    first = false;
    *out += YamlScalarString(k, indent) + ":";
    const Json& child = v[k];
    if (child.is_object() && !child.empty()) {
      *out += "\n";
      YamlMap(child, indent + 2, out, false);
    } else if (child.is_array() && !child.empty()) {
      *out += "\n";
      YamlNode(child, indent, out);  // yaml.v2 does not indent sequences in mappings
    } else {
      *out += " ";
      if (child.is_object()) *out += "{}";
      else if (child.is_array()) *out += "[]";
      else *out += YamlScalar(child, indent);
      *out += "\n";
    }
  }
}

void YamlSeq(const Json& v, int indent, std::string* out, bool first_inline) {
  bool first = true;
  for (const auto& item : v) {
    if (!(first && first_inline)) out->append(size_t(indent), ' ');
    first = false;
    *out += "- ";
    if (item.is_object() && !item.empty()) {
      YamlMap(item, indent + 2, out, true);
    } else if (item.is_array() && !item.empty()) {
      YamlSeq(item, indent + 2, out, true);
    } else {
      if (item.is_object()) *out += "{}";
      else if (item.is_array()) *out += "[]";
      else *out += YamlScalar(item, indent + 2);
      *out += "\n";
    }
  }
}

void YamlNode(const Json& v, int indent, std::string* out) {
  if (v.is_object() && !v.empty()) return YamlMap(v, indent, out, false);
  if (v.is_array() && !v.empty()) return YamlSeq(v, indent, out, false);
  out->append(size_t(indent), ' ');
  if (v.is_object()) *out += "{}";
  else if (v.is_array()) *out += "[]";
  else *out += YamlScalar(v, indent);
  *out += "\n";
}

}  // namespace

std::string Columnize(const std::vector<std::string>& lines, std::string_view delim,
                      std::string_view glue, std::string_view empty) {
  std::vector<std::vector<std::string>> rows;
  std::vector<size_t> widths;
  for (const auto& line : lines) {
    auto cells = SplitOn(line, delim);
    for (size_t i = 0; i < cells.size(); ++i) {
      std::string v(TrimSpace(cells[i]));
      if (v.empty()) v = std::string(empty);
      cells[i] = v;
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], RuneCount(v));
    }
    rows.push_back(std::move(cells));
  }
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto& cells = rows[r];
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) {
        out.append(widths[i] - RuneCount(cells[i]), ' ');
        out += glue;
      }
    }
    if (r + 1 < rows.size()) out += "\n";
  }
  return out;
}

std::string TableOutput(std::vector<std::string> lines, std::string_view delim) {
  if (lines.empty()) return "";
  auto headers = SplitOn(lines[0], delim);
  std::string underline;
  for (size_t i = 0; i < headers.size(); ++i) {
    underline.append(TrimSpace(headers[i]).size(), '-');
    if (i + 1 < headers.size()) underline += delim;
  }
  lines.insert(lines.begin() + 1, underline);
  return Columnize(lines, delim);
}

namespace {
struct TabCell {
  std::string text;
  size_t width;
};

class TabWriter {
 public:
  TabWriter(std::string_view text, size_t minwidth, size_t padding) : minwidth_(minwidth), padding_(padding) {
    for (const std::string& line : SplitOn(text, "\n")) {
      lines_.emplace_back();
      for (std::string& cell : SplitOn(line, "\t")) {
        size_t width = RuneCount(cell);
        lines_.back().push_back({std::move(cell), width});
      }
    }
  }

  std::string Run() {
    Format(0, lines_.size());
    return std::move(out_);
  }

 private:
  bool HasCell(size_t line, size_t column) const { return column + 1 < lines_[line].size(); }

  // Lays out the lines [line0, line1) whose columns left of widths_.size() are known.
  void Format(size_t line0, size_t line1) {
    const size_t column = widths_.size();
    for (size_t at = line0; at < line1; ++at) {
      if (!HasCell(at, column)) continue;
      Write(line0, at);
      line0 = at;
      size_t width = minwidth_;
      for (; at < line1 && HasCell(at, column); ++at) width = std::max(width, lines_[at][column].width + padding_);
      widths_.push_back(width);
      Format(line0, at);
      widths_.pop_back();
      line0 = at;
      if (at == line1) break;
    }
    Write(line0, line1);
  }

  void Write(size_t line0, size_t line1) {
    for (size_t i = line0; i < line1; ++i) {
      for (size_t j = 0; j < lines_[i].size(); ++j) {
        const TabCell& c = lines_[i][j];
        out_.append(c.text);
        if (j < widths_.size()) out_.append(widths_[j] - c.width, ' ');
      }
      if (i + 1 < lines_.size()) out_ += '\n';
    }
  }

  const size_t minwidth_, padding_;
  std::vector<std::vector<TabCell>> lines_;
  std::vector<size_t> widths_;
  std::string out_;
};
}  // namespace

std::string TabWrite(std::string_view text, size_t minwidth, size_t padding) {
  return TabWriter(text, minwidth, padding).Run();
}

std::string WrapText(std::string_view s, int limit) {
  std::string text(TrimSpace(s));
  for (auto& c : text)
    if (c == '\n') c = ' ';
  std::vector<std::string> words = Split(text, ' ');
  const size_t n = words.size();
  const long kPenalty = 100000;
  std::vector<std::vector<long>> length(n, std::vector<long>(n, 0));
  for (size_t i = 0; i < n; ++i) {
    length[i][i] = long(RuneCount(words[i]));
    for (size_t j = i + 1; j < n; ++j) length[i][j] = length[i][j - 1] + 1 + long(RuneCount(words[j]));
  }
  std::vector<size_t> nbrk(n, 0);
  std::vector<long> cost(n, long(INT_MAX));
  for (size_t ii = n; ii-- > 0;) {
    if (length[ii][n - 1] <= limit) {
      cost[ii] = 0;
      nbrk[ii] = n;
    } else {
      for (size_t j = ii + 1; j < n; ++j) {
        long d = limit - length[ii][j - 1];
        long c = d * d + cost[j];
        if (length[ii][j - 1] > limit) c += kPenalty;
        if (c < cost[ii]) {
          cost[ii] = c;
          nbrk[ii] = j;
        }
      }
    }
  }
  std::string out;
  for (size_t i = 0; i < n;) {
    if (!out.empty() || i > 0) out += "\n";
    for (size_t k = i; k < nbrk[i]; ++k) {
      if (k > i) out += " ";
      out += words[k];
    }
    i = nbrk[i];
  }
  return out;
}

std::string WrapAtLength(std::string_view s, int pad) {
  std::string wrapped = WrapText(s, 78 - pad);
  std::string prefix(size_t(pad), ' ');
  std::string out;
  auto lines = Split(wrapped, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += "\n";
    out += prefix + lines[i];
  }
  return out;
}

std::string GoValue(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "<nil>";
    case Json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case Json::value_t::string: return v.get<std::string>();
    case Json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += " ";
        out += GoValue(v[i]);
      }
      return out + "]";
    }
    case Json::value_t::object: {
      std::map<std::string, std::string> sorted;
      for (auto it = v.begin(); it != v.end(); ++it) sorted[it.key()] = GoValue(it.value());
      std::string out = "map[";
      bool first = true;
      for (const auto& [k, val] : sorted) {
        if (!first) out += " ";
        first = false;
        out += k + ":" + val;
      }
      return out + "]";
    }
    default: return FormatNumber(v);
  }
}

std::string GoQuote(std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (c >= 0x80) {
      size_t len = 1;
      int cp = DecodeRune(s, i, &len);
      if (cp < 0) {
        out += "\\x";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
      } else {
        out.append(s.substr(i, len));
      }
      i += len;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\a': out += "\\a"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\v': out += "\\v"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\x";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(char(c));
        }
    }
    ++i;
  }
  return out + "\"";
}

std::string GoQuoteList(const std::vector<std::string>& list) {
  std::string out = "[";
  for (size_t i = 0; i < list.size(); ++i) {
    if (i) out += " ";
    out += GoQuote(list[i]);
  }
  return out + "]";
}

bool LooksLikeDuration(std::string_view k) {
  return k == "period" || k.ends_with("_period") || k == "ttl" || k.ends_with("_ttl") ||
         k == "duration" || k.ends_with("_duration") || k == "lease_max" || k == "ttl_max";
}

std::string HumanDurationValue(const Json& v) {
  if (v.is_number_integer()) return HumanDuration(v.get<int64_t>());
  return GoValue(v);
}

std::string GoJson(const Json& v) {
  std::string out;
  GoJsonValue(v, 0, &out);
  return out;
}

std::string GoYaml(const Json& v) {
  std::string out;
  YamlNode(v, 0, &out);
  return std::string(TrimSpace(out));
}

std::vector<std::string> StringList(const Json& v) {
  std::vector<std::string> out;
  if (!v.is_array()) return out;
  for (const auto& e : v)
    if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

}  // namespace tresor::cli
