// The outbound client's SMTP reply parser (src/smtp/client/reply.h), fed in
// chunks of 1, 2, 3, 7 and 64 bytes and as a whole, with default and small
// limits. Replies (code, lines, enhanced code) and the sticky error must not
// depend on the split; every reply respects the limits and RFC 5321 §4.2
// codes; a second run pops after every feed, as the client does.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "smtp/client/reply.h"

namespace {

namespace client = correio::smtp::client;

struct Outcome {
  std::vector<std::string> replies;
  bool failed = false;
  bool operator==(const Outcome&) const = default;
};

std::string Describe(const client::Reply& r,
                     const client::ReplyParser::Limits& l) {
  FUZZ_CHECK(r.code >= 200 && r.code <= 559);
  FUZZ_CHECK(!r.lines.empty() && r.lines.size() <= l.max_lines);
  std::string out = std::to_string(r.code) + "|" + r.enhanced;
  for (const std::string& line : r.lines) {
    FUZZ_CHECK(line.size() <= l.max_line);
    FUZZ_CHECK(line.find('\n') == std::string::npos);
    out += "|" + line;
  }
  if (!r.enhanced.empty()) {
    FUZZ_CHECK(r.enhanced[0] - '0' == r.klass());
    FUZZ_CHECK(r.lines.front().starts_with(r.enhanced));
  }
  std::string s = r.ToString();
  for (char c : s)
    FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  return out;
}

Outcome Run(std::string_view in, size_t chunk,
            const client::ReplyParser::Limits& limits, bool pop_each) {
  client::ReplyParser p(limits);
  Outcome o;
  auto pop = [&] {
    client::Reply r;
    while (p.Next(&r)) o.replies.push_back(Describe(r, limits));
  };
  for (std::string_view piece : correio::fuzz::Pieces(in, chunk)) {
    auto st = p.Feed(piece);
    if (!st) {
      o.failed = true;
      // Sticky.
      FUZZ_CHECK(!p.Feed("250 ok\r\n").has_value());
      break;
    }
    if (pop_each) pop();
  }
  pop();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = correio::fuzz::AsView(data, size);
  client::ReplyParser::Limits small{.max_line = 40, .max_lines = 4};
  for (const auto& limits : {client::ReplyParser::Limits{}, small}) {
    Outcome whole = Run(in, 0, limits, false);
    for (size_t chunk : correio::fuzz::kChunkSizes) {
      if (chunk == 0) continue;
      FUZZ_CHECK(Run(in, chunk, limits, false) == whole);
    }
    Outcome popped = Run(in, 0, limits, true);
    (void)popped;
  }
  return 0;
}
