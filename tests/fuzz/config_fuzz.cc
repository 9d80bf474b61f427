// Config parser (src/config/config.h ParseConfig): TOML through toml++ and
// then correio's own validation. Must never throw or crash, problems are
// reported in line order, and a parse is deterministic.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = correio::fuzz::AsView(data, size);
  std::vector<correio::config::Problem> problems;
  auto c = correio::config::ParseConfig(in, &problems, "fuzz");
  if (!c) FUZZ_CHECK(!problems.empty());
  uint32_t last = 0;
  for (const auto& p : problems) {
    if (p.line == 0) continue;
    FUZZ_CHECK(p.line >= last);
    last = p.line;
    (void)p.ToString();
  }
  auto again = correio::config::ParseConfig(in, nullptr, "fuzz");
  FUZZ_CHECK(again.has_value() == c.has_value());
  if (c) FUZZ_CHECK(*again == *c);
  return 0;
}
