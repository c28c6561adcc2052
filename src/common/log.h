// Process-wide logging to stderr through spdlog. Thread-safe.
// Never log secret material: tokens, keys, shares, plaintext, passwords.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace tresor {

// Sets the level from Vault's names: trace, debug, info, warn, error. Returns false if unknown.
bool SetLogLevel(std::string_view level);
void InitLogging(std::string_view level = "info");

#define LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)

}  // namespace tresor
