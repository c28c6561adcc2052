#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace tresor {

bool SetLogLevel(std::string_view level) {
  spdlog::level::level_enum l;
  if (level == "trace") l = spdlog::level::trace;
  else if (level == "debug") l = spdlog::level::debug;
  else if (level == "info" || level.empty()) l = spdlog::level::info;
  else if (level == "warn" || level == "warning") l = spdlog::level::warn;
  else if (level == "error" || level == "err") l = spdlog::level::err;
  else return false;
  spdlog::set_level(l);
  return true;
}

void InitLogging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("tresor");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ [%l] %v", spdlog::pattern_time_type::utc);
  SetLogLevel(level);
}

}  // namespace tresor
