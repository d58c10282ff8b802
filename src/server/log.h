// Logging for the server: one line per event, timestamped, to stderr or the configured file.
// Formatting uses fmt; the sink (spdlog) stays in log.cc so that its heavy headers are compiled
// once.
#pragma once

#include <fmt/core.h>

#include <string>
#include <string_view>

namespace kvcache::server {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Sets the level below which lines are dropped and, if `file` is not empty, the file to append
// to. Returns false (and logs why to stderr) if the file cannot be opened.
bool SetupLogging(LogLevel level, const std::string& file);
bool ParseLogLevel(std::string_view name, LogLevel* level);  // Redis names: debug, verbose, notice, warning
void LogLine(LogLevel level, std::string_view line);

template <typename... Args>
void Log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  LogLine(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace kvcache::server
