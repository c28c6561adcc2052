#include "common/duration.h"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace tresor {

std::optional<int64_t> ParseDurationSeconds(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool all_digits = true;
  for (char c : s) all_digits = all_digits && (c >= '0' && c <= '9');
  if (all_digits) {
    if (s.size() > 18) return std::nullopt;
    return std::stoll(std::string(s));
  }
  size_t i = 0;
  if (s[0] == '+') i = 1;
  if (s[0] == '-') return std::nullopt;
  double total_ns = 0;
  bool any = false;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
    if (start == i) return std::nullopt;
    double num = 0;
    try {
      num = std::stod(std::string(s.substr(start, i - start)));
    } catch (...) {
      return std::nullopt;
    }
    size_t ustart = i;
    while (i < s.size() && !((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
    std::string_view unit = s.substr(ustart, i - ustart);
    double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else if (unit == "d") mult = 86400e9;  // Vault's parseutil accepts days
    else return std::nullopt;
    total_ns += num * mult;
    any = true;
  }
  if (!any) return std::nullopt;
  return int64_t(std::floor(total_ns / 1e9));
}

std::optional<int64_t> ParseDurationJson(const nlohmann::json& v) {
  if (v.is_number_integer()) {
    int64_t n = v.get<int64_t>();
    if (n < 0) return std::nullopt;
    return n;
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d < 0) return std::nullopt;
    return int64_t(d);
  }
  if (v.is_string()) return ParseDurationSeconds(std::string_view(v.get_ref<const std::string&>()));
  return std::nullopt;
}

std::string GoDurationString(int64_t seconds) {
  if (seconds == 0) return "0s";
  std::string out;
  if (seconds < 0) {
    out = "-";
    seconds = -seconds;
  }
  int64_t h = seconds / 3600, m = (seconds % 3600) / 60, s = seconds % 60;
  if (h > 0) out += std::to_string(h) + "h" + std::to_string(m) + "m";
  else if (m > 0) out += std::to_string(m) + "m";
  out += std::to_string(s) + "s";
  return out;
}

std::string HumanDuration(int64_t seconds) {
  std::string s = GoDurationString(seconds);
  if (s.size() > 3 && s.ends_with("m0s")) s.resize(s.size() - 2);
  auto pos = s.find("h0m");
  if (pos != std::string::npos) s.erase(pos + 1, 2);
  return s;
}

std::string FormatRFC3339Nano(std::chrono::system_clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  time_t secs = time_t(ns / 1000000000);
  long frac = long(ns % 1000000000);
  if (frac < 0) {
    frac += 1000000000;
    --secs;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (frac != 0) {
    char fb[16];
    std::snprintf(fb, sizeof fb, ".%09ld", frac);
    std::string f = fb;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "Z";
}

std::string FormatRFC3339(std::chrono::system_clock::time_point t) {
  time_t secs = std::chrono::system_clock::to_time_t(t);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::chrono::system_clock::time_point> ParseRFC3339(std::string_view s) {
  struct tm tm = {};
  std::string str(s);
  const char* rest = strptime(str.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  int64_t nanos = 0;
  if (*rest == '.') {
    ++rest;
    int digits = 0;
    while (*rest >= '0' && *rest <= '9') {
      if (digits < 9) {
        nanos = nanos * 10 + (*rest - '0');
        ++digits;
      }
      ++rest;
    }
    while (digits++ < 9) nanos *= 10;
  }
  int64_t offset = 0;
  if (*rest == 'Z') {
    ++rest;
  } else if (*rest == '+' || *rest == '-') {
    int sign = *rest == '-' ? -1 : 1;
    int hh = 0, mm = 0;
    if (std::sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2) return std::nullopt;
    offset = sign * (hh * 3600 + mm * 60);
    rest += 6;
  } else {
    return std::nullopt;
  }
  if (*rest != '\0') return std::nullopt;
  time_t secs = timegm(&tm) - offset;
  return std::chrono::system_clock::time_point(std::chrono::seconds(secs)) +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(nanos));
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace tresor
