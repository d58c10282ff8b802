// The log sink: spdlog, to stderr or a file.
#include "server/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

namespace kvcache::server {
namespace {

std::shared_ptr<spdlog::logger>& Logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_logger_mt("kvcache");
    l->set_pattern("%P:M %d %b %Y %H:%M:%S.%e %^%L%$ %v");
    return l;
  }();
  return logger;
}

spdlog::level::level_enum ToSpd(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarning: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

bool ParseLogLevel(std::string_view name, LogLevel* level) {
  if (name == "debug") *level = LogLevel::kDebug;
  else if (name == "verbose" || name == "notice" || name == "info") *level = LogLevel::kInfo;
  else if (name == "warning") *level = LogLevel::kWarning;
  else if (name == "error") *level = LogLevel::kError;
  else return false;
  return true;
}

bool SetupLogging(LogLevel level, const std::string& file) {
  if (!file.empty()) {
    try {
      auto l = spdlog::basic_logger_mt("kvcache-file", file);
      l->set_pattern("%P:M %d %b %Y %H:%M:%S.%e %L %v");
      l->flush_on(spdlog::level::info);
      Logger() = l;
    } catch (const spdlog::spdlog_ex& e) {
      std::fprintf(stderr, "kvcache-server: cannot open log file %s: %s\n", file.c_str(), e.what());
      return false;
    }
  }
  Logger()->set_level(ToSpd(level));
  Logger()->flush_on(spdlog::level::info);
  return true;
}

void LogLine(LogLevel level, std::string_view line) { Logger()->log(ToSpd(level), line); }

}  // namespace kvcache::server
