// IMAP command framing (src/imap/proto/assembler.h): the input is fed in
// chunks of 1, 2, 3, 7 and 64 bytes and as a whole, with small limits so
// the line, literal and command limits and the LITERAL+ discard path are
// reached. Every Feed must make progress, and the sequence of events
// (continuation requests, complete commands and their bytes, errors and
// their tags) must not depend on the chunking. Each complete command is
// also parsed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "imap/proto/assembler.h"
#include "imap_command_common.h"

namespace {

namespace imap = correio::imap;

// Error tags must not depend on how the input is split (a fixed bug: a
// too-long first line lost its tag; regression test in
// src/imap/proto/imap_proto_fuzz_regress_test.cc).
constexpr bool kCompareErrorTags = true;

std::vector<std::string> Run(std::string_view in, size_t chunk,
                             const imap::AssemblerLimits& limits, bool parse) {
  std::vector<std::string> events;
  imap::CommandAssembler a(limits);
  for (std::string_view piece : correio::fuzz::Pieces(in, chunk)) {
    while (!piece.empty()) {
      size_t n = a.Feed(piece);
      FUZZ_CHECK(n <= piece.size());
      piece.remove_prefix(n);
      switch (a.state()) {
        case imap::CommandAssembler::State::kNeedMore:
          // Took everything it was given.
          FUZZ_CHECK(piece.empty());
          // Memory stays bounded by the limits (plus one line being
          // discarded, which is not stored).
          FUZZ_CHECK(a.command().size() <= limits.max_command);
          break;
        case imap::CommandAssembler::State::kNeedContinuation:
          // A literal was announced ({0} too: the client still waits for
          // "+", RFC 9051 §7.5).
          FUZZ_CHECK(a.in_literal() || a.literal_remaining() == 0);
          events.push_back("+");
          break;
        case imap::CommandAssembler::State::kComplete: {
          FUZZ_CHECK(a.command().size() <= limits.max_command);
          FUZZ_CHECK(a.command().ends_with("\r\n"));
          std::string cmd = a.TakeCommand();
          if (parse) correio::fuzz::ParseAndCheck(cmd, {});
          events.push_back("C" + cmd);
          break;
        }
        case imap::CommandAssembler::State::kError:
          FUZZ_CHECK(!a.error().empty());
          events.push_back("E" + (kCompareErrorTags ? a.error_tag() : "") +
                           " " + a.error());
          a.Reset();
          break;
      }
    }
  }
  return events;
}

void Dump(const char* what, const std::vector<std::string>& events) {
  std::fprintf(stderr, "%s:\n", what);
  for (const auto& e : events) std::fprintf(stderr, "  [%s]\n", e.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = correio::fuzz::AsView(data, size);
  imap::AssemblerLimits small{
      .max_line = 80, .max_literal = 64, .max_command = 256};
  auto expected = Run(in, 0, small, true);
  for (size_t chunk : correio::fuzz::kChunkSizes) {
    if (chunk == 0) continue;
    auto got = Run(in, chunk, small, false);
    if (got != expected) {
      Dump("whole", expected);
      std::fprintf(stderr, "chunk %zu:\n", chunk);
      Dump("chunked", got);
      FUZZ_CHECK(got == expected);
    }
  }
  imap::AssemblerLimits defaults;
  auto big = Run(in, 0, defaults, false);
  FUZZ_CHECK(Run(in, 7, defaults, false) == big);
  return 0;
}
