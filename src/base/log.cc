#include "base/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace correio {

Status InitLogging(const LogOptions& options) {
  auto level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off") {
    return Fail(ErrorCode::kInvalid, "unknown log level: " + options.level);
  }
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (options.file.empty()) {
      logger = std::make_shared<spdlog::logger>(
          "correio", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else {
      logger = std::make_shared<spdlog::logger>(
          "correio",
          std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file));
    }
  } catch (const spdlog::spdlog_ex& e) {
    return Fail(ErrorCode::kInvalid,
                "cannot open log file " + options.file + ": " + e.what());
  }
  if (options.format == "json") {
    // Messages are ours and never carry raw client bytes unescaped, so a
    // plain quoted field is enough for line-oriented JSON collectors.
    logger->set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%v"})");
  } else if (options.format == "text") {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %L %v");
  } else {
    return Fail(ErrorCode::kInvalid, "unknown log format: " + options.format);
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return {};
}

}  // namespace correio
