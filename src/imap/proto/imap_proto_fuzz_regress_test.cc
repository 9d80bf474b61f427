// Regressions found by the fuzz targets in tests/fuzz/ (docs/fuzzing.md).
// Each test names the target and the input that found the bug.

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "imap/proto/assembler.h"
#include "imap/proto/bodystructure.h"
#include "imap/proto/writer.h"
#include "mime/message.h"

namespace correio::imap {
namespace {

struct Failure {
  std::string error;
  std::string tag;
};

// Feeds `wire` in pieces of `chunk` bytes until the assembler reports an
// error.
Failure FeedUntilError(std::string_view wire, size_t chunk,
                       AssemblerLimits limits) {
  CommandAssembler a(limits);
  size_t pos = 0;
  while (pos < wire.size()) {
    pos += a.Feed(wire.substr(pos, chunk));
    if (a.state() == CommandAssembler::State::kError) {
      return {a.error(), a.error_tag()};
    }
  }
  return {"no error", ""};
}

// fuzz target imap_assembler, corpus/imap_assembler/fetch.txt: a line over
// max_line that arrives in one read lost its tag ("* BAD"), while the same
// bytes in small reads kept it ("a2 BAD"). RFC 9051 §7.1.5: BAD is tagged
// when the tag can be read; the client waits for its tag otherwise.
TEST(ImapProtoFuzzRegress, TooLongLineKeepsTagWhateverTheSplit) {
  AssemblerLimits limits{.max_line = 80, .max_literal = 64, .max_command = 256};
  std::string wire =
      "a2 UID FETCH 1:* (FLAGS " + std::string(100, 'x') + ")\r\n";
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{64}, wire.size()}) {
    Failure f = FeedUntilError(wire, chunk, limits);
    EXPECT_EQ(f.error, "Line too long") << "chunk " << chunk;
    EXPECT_EQ(f.tag, "a2") << "chunk " << chunk;
  }
}

// fuzz target imap_render: with UTF8=ACCEPT, a string with bytes >= 0x80
// that are not valid UTF-8 was sent as a quoted string. RFC 9051 §9 (and
// RFC 6855 §3) allow only well-formed UTF-8 (UTF8-2 / UTF8-3 / UTF8-4) in
// quoted strings, so such a string must go out as a literal, as
// envelope.h already promises for identifiers. Found through
// "Content-Transfer-Encoding: ba\x8ce64" in BODYSTRUCTURE.
TEST(ImapProtoFuzzRegress, InvalidUtf8IsNeverQuoted) {
  std::string out;
  AppendQuotedOrLiteral(out, "ba\x8c" "e64", /*utf8=*/true);
  EXPECT_EQ(out, "{6}\r\nba\x8c" "e64");

  std::string valid;
  AppendQuotedOrLiteral(valid, "caf\xc3\xa9", /*utf8=*/true);
  EXPECT_EQ(valid, "\"caf\xc3\xa9\"");

  std::string raw =
      "Content-Transfer-Encoding: ba\x8c" "e64\r\n\r\nx\r\n";
  auto s = mime::Parse(raw);
  ASSERT_TRUE(s.has_value());
  std::string bs = RenderBodyStructure(*s, /*extended=*/false, /*utf8=*/true);
  EXPECT_EQ(bs.find("\"BA\x8c"), std::string::npos) << bs;
  EXPECT_NE(bs.find("{6}\r\nBA\x8c" "E64"), std::string::npos) << bs;
}

}  // namespace
}  // namespace correio::imap
