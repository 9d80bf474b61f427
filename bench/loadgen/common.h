// What the load generators of bench/loadgen share: their own CPU time for
// the report, and the selftest that feeds a scanner a byte stream split at
// every offset and one octet at a time (STYLE 23).
#pragma once

#include <sys/resource.h>
#include <sys/time.h>

#include <cstddef>
#include <cstdio>
#include <string_view>
#include <vector>

namespace correio::bench {

// This process's user + system CPU seconds.
inline double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) +
           static_cast<double>(tv.tv_usec) / 1e6;
  };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

// `scan(chunks)` runs a fresh scanner over `stream` cut into `chunks` and
// returns what it made of it; it must equal `want` however the stream is
// cut. Checks every cut into two pieces and octet by octet, reports each
// failure on stderr, returns how many failed.
template <class Want, class Scan>
int CheckEverySplit(std::string_view stream, const Want& want, Scan scan) {
  int bad = 0;
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    if (scan(std::vector<std::string_view>{stream.substr(0, cut),
                                           stream.substr(cut)}) != want) {
      std::fprintf(stderr, "selftest: split at %zu fails\n", cut);
      ++bad;
    }
  }
  std::vector<std::string_view> octets;
  for (size_t i = 0; i < stream.size(); ++i) {
    octets.push_back(stream.substr(i, 1));
  }
  if (scan(octets) != want) {
    std::fprintf(stderr, "selftest: octet by octet fails\n");
    ++bad;
  }
  return bad;
}

}  // namespace correio::bench
