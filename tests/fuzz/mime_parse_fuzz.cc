// mime::Parse under default and tiny limits, the Serialize/Deserialize
// round trip, Deserialize() of raw bytes, and ExtractSearchText (src/mime/
// message.h). Invariants: offsets nest and stay inside the input, tree
// shapes IMAP can print, valid UTF-8 where promised, output caps honoured.
// Grown from src/mime/fuzz/parse_fuzz.cc.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "mime/message.h"
#include "mime/mime_internal.h"

namespace {

using correio::fuzz::IsUtf8;
using correio::mime::Part;

void CheckPart(const Part& p, uint64_t lo, uint64_t hi, uint32_t depth,
               uint32_t max_depth, uint32_t* count) {
  ++*count;
  FUZZ_CHECK(lo <= p.header_start && p.header_start <= p.body_start &&
             p.body_start <= p.body_end && p.body_end <= hi);
  FUZZ_CHECK(depth <= max_depth);
  if (p.is_multipart()) FUZZ_CHECK(!p.children.empty());
  if (p.is_message()) FUZZ_CHECK(p.children.size() == 1);
  if (!p.is_multipart() && !p.is_message()) FUZZ_CHECK(p.children.empty());
  uint64_t prev = p.body_start;
  for (const Part& c : p.children) {
    FUZZ_CHECK(prev <= c.header_start);
    CheckPart(c, p.body_start, p.body_end, depth + 1, max_depth, count);
    prev = c.body_end;
  }
}

// Where PartTextIsRaw says PartText would give a leaf's body octets
// unchanged, it does: the two make the same decisions in two places.
void CheckRawText(std::string_view raw, const correio::mime::Part& p) {
  for (const auto& c : p.children) CheckRawText(raw, c);
  if (!p.children.empty()) return;
  constexpr size_t kMax = correio::mime::kMaxSearchBodyBytes;
  if (correio::mime::internal::PartTextIsRaw(raw, p, kMax)) {
    FUZZ_CHECK(correio::mime::internal::PartText(raw, p, kMax) ==
               raw.substr(p.body_start, p.body_size()));
  }
}

void RunParse(std::string_view raw, const correio::mime::ParseLimits& limits) {
  auto s = correio::mime::Parse(raw, limits);
  FUZZ_CHECK(s.has_value());
  FUZZ_CHECK(s->root.header_start == 0 && s->root.body_end == raw.size());
  uint32_t count = 0;
  // Depth: the limit plus the encapsulated root of a message/rfc822 at the
  // last level.
  CheckPart(s->root, 0, raw.size(), 0, limits.max_depth + 1, &count);
  FUZZ_CHECK(count == s->part_count);
  // Each counted part may be a multipart that gets one synthetic empty
  // child (message.h), which max_parts does not count: found by this
  // target, harmless for memory (docs/fuzzing.md, Findings), so the bound
  // checked is twice the limit.
  FUZZ_CHECK(count <= 2 * uint64_t{limits.max_parts} + 1);
  FUZZ_CHECK(IsUtf8(s->preview));
  std::string bytes = correio::mime::Serialize(*s);
  auto back = correio::mime::Deserialize(bytes);
  FUZZ_CHECK(back.has_value() && *back == *s);
  auto text = correio::mime::ExtractSearchText(raw, *s);
  FUZZ_CHECK(text.headers.size() <= correio::mime::kMaxSearchHeaderBytes);
  FUZZ_CHECK(text.Body(raw).size() <= correio::mime::kMaxSearchBodyBytes);
  FUZZ_CHECK(IsUtf8(text.headers));
  FUZZ_CHECK(IsUtf8(text.Body(raw)));
  CheckRawText(raw, s->root);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw = correio::fuzz::AsView(data, size);
  RunParse(raw, {});
  correio::mime::ParseLimits tiny;
  tiny.max_depth = 3;
  tiny.max_parts = 5;
  tiny.max_header_bytes = 64;
  tiny.max_header_fields = 4;
  tiny.max_params = 2;
  tiny.max_addresses = 2;
  RunParse(raw, tiny);

  // Stored summaries come back from disk: Deserialize must refuse or
  // accept sanely, never crash, and what it accepts must round-trip.
  if (auto s = correio::mime::Deserialize(raw)) {
    uint32_t count = 0;
    CheckPart(s->root, 0, uint64_t{1} << 40, 0, 512, &count);
    FUZZ_CHECK(count == s->part_count);
    auto again = correio::mime::Deserialize(correio::mime::Serialize(*s));
    FUZZ_CHECK(again.has_value() && *again == *s);
  }
  return 0;
}
