// libFuzzer target for the MIME module (STYLE 25): Parse() under default
// and tiny limits, the Serialize/Deserialize round trip, Deserialize() of
// raw bytes, search text, and the header helpers. Any broken invariant
// aborts, so the fuzzer reports it like a crash.
//
// Not part of the CMake build (the glob takes only src/mime/*.cc).
//
// How to build. Each command below is one shell line, wrapped here (no
// trailing backslashes: they would continue this comment).
//
// libFuzzer needs a clang whose C++23 mode provides std::expected with the
// installed libstdc++. Debian 12's clang 14 does not (libstdc++ 12 hides
// <expected> from its concepts level), so use a newer clang there:
//
//   SRCS="$(ls src/mime/*.cc | grep -v _test.cc) src/base/strings.cc
//         src/base/error.cc"
//   clang++ -std=c++2b -g -O1 -fsanitize=fuzzer,address,undefined -Isrc
//     $(pkg-config --cflags gmime-3.0) src/mime/fuzz/parse_fuzz.cc $SRCS
//     $(pkg-config --libs gmime-3.0) -o mime_parse_fuzz
//   mkdir -p /tmp/mime-corpus
//   ./mime_parse_fuzz -max_len=65536 -rss_limit_mb=512 -timeout=5
//     /tmp/mime-corpus src/mime/testdata
//
// GCC has no libFuzzer; -DCORREIO_FUZZ_REPLAY_MAIN adds a main() that runs
// the target over the files named on the command line, to replay a crash
// or the seed corpus under the sanitizers (checked with GCC 12):
//
//   g++ -std=c++23 -g -fsanitize=address,undefined -DCORREIO_FUZZ_REPLAY_MAIN
//     -Isrc $(pkg-config --cflags gmime-3.0) src/mime/fuzz/parse_fuzz.cc
//     $SRCS $(pkg-config --libs gmime-3.0) -o mime_parse_replay
//   ./mime_parse_replay src/mime/testdata/*.eml crash-*
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mime/message.h"

namespace {

using correio::mime::Part;

void Check(bool ok) {
  if (!ok) std::abort();
}

// Offsets nest; siblings in order; the shapes IMAP BODYSTRUCTURE needs.
void CheckPart(const Part& p, uint64_t lo, uint64_t hi, uint32_t depth) {
  Check(lo <= p.header_start && p.header_start <= p.body_start &&
        p.body_start <= p.body_end && p.body_end <= hi);
  Check(depth <= 1000);
  if (p.is_multipart()) Check(!p.children.empty());
  if (p.is_message()) Check(p.children.size() == 1);
  if (!p.is_multipart() && !p.is_message()) Check(p.children.empty());
  uint64_t prev = p.body_start;
  for (const Part& c : p.children) {
    Check(prev <= c.header_start);
    CheckPart(c, p.body_start, p.body_end, depth + 1);
    prev = c.body_end;
  }
}

bool ValidUtf8(const std::string& s) {
  return correio::mime::ConvertToUtf8(s, "utf-8") == s;
}

void RunParse(std::string_view raw, const correio::mime::ParseLimits& limits) {
  auto s = correio::mime::Parse(raw, limits);
  Check(s.has_value());
  Check(s->root.header_start == 0 && s->root.body_end == raw.size());
  CheckPart(s->root, 0, raw.size(), 0);
  Check(ValidUtf8(s->preview));
  std::string bytes = correio::mime::Serialize(*s);
  auto back = correio::mime::Deserialize(bytes);
  Check(back.has_value() && *back == *s);
  auto text = correio::mime::ExtractSearchText(raw, *s);
  Check(text.headers.size() <= correio::mime::kMaxSearchHeaderBytes);
  Check(text.Body(raw).size() <= correio::mime::kMaxSearchBodyBytes);
  Check(ValidUtf8(text.headers));
  Check(ValidUtf8(std::string(text.Body(raw))));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  RunParse(raw, {});
  correio::mime::ParseLimits tiny;
  tiny.max_depth = 3;
  tiny.max_parts = 5;
  tiny.max_header_bytes = 64;
  tiny.max_header_fields = 4;
  tiny.max_params = 2;
  tiny.max_addresses = 2;
  RunParse(raw, tiny);

  // Deserialize must refuse or accept sanely, never crash.
  if (auto s = correio::mime::Deserialize(raw)) {
    CheckPart(s->root, 0, UINT64_MAX, 0);
    Check(correio::mime::Deserialize(correio::mime::Serialize(*s)) == *s);
  }
  // Header helpers on the first 4 KiB (they are linear; this keeps runs
  // fast).
  std::string_view head = raw.substr(0, 4096);
  Check(ValidUtf8(correio::mime::DecodeHeaderValue(head)));
  (void)correio::mime::ParseDateTime(head);
  for (std::string_view enc : {"base64", "quoted-printable"}) {
    (void)correio::mime::DecodeTransfer(head, enc);
  }
  (void)correio::mime::FindUnfoldedHeaders(head, "subject");
  return 0;
}

#ifdef CORREIO_FUZZ_REPLAY_MAIN
#include <fstream>
#include <iostream>
#include <sstream>

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string data = ss.str();
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()),
                           data.size());
    std::cout << "ok " << argv[i] << "\n";
  }
  return 0;
}
#endif
