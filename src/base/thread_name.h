// Names the calling thread (Linux: 15 characters at most, longer names are
// cut), so `top -H`, perf and /proc/PID/task/*/comm tell the writer, the
// indexer and the pools apart (bench/profile_imap.py reports CPU by name).
#pragma once

#include <string_view>

namespace correio {

void SetThreadName(std::string_view name);

}  // namespace correio
