// Logging: spdlog behind a one-call setup. One line per event; session
// lines start with the session id ("imap#42 ..."). Never log a password, an
// AUTH payload or message content.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

#include "base/error.h"

namespace correio {

struct LogOptions {
  std::string level = "info";   // trace, debug, info, warn, error, off
  std::string format = "text";  // text | json
  std::string file;             // empty: stderr
};

// Installs the process-wide logger. Safe to call again (SIGHUP reload).
Status InitLogging(const LogOptions& options);

}  // namespace correio
