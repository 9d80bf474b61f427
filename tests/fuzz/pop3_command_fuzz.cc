// POP3 command input (src/pop3/proto/command.h): LineReader fed in chunks
// of 1, 2, 3, 7 and 64 bytes and as a whole, popping after every feed as
// the session does. The lines and too-long reports must not depend on the
// split, buffered memory stays within max_line plus one chunk, and every
// line goes through ParseCommand (checked against the command table).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "pop3/proto/command.h"

namespace {

namespace pop3 = correio::pop3::proto;

void CheckCommand(const std::string& line) {
  auto c = pop3::ParseCommand(line);
  if (!c) {
    FUZZ_CHECK(c.error().code() == correio::ErrorCode::kInvalid);
    FUZZ_CHECK(c.error().message().find_first_of("\r\n") == std::string::npos);
    return;
  }
  const pop3::CommandSpec& spec = pop3::SpecOf(c->verb);
  switch (spec.args) {
    case pop3::Args::kNone:
      FUZZ_CHECK(!c->number && c->text.empty());
      break;
    case pop3::Args::kNumber:
    case pop3::Args::kNumberAndLines:
      FUZZ_CHECK(c->number.has_value());
      break;
    default:
      break;
  }
  if (!c->initial_response) return;
  FUZZ_CHECK(c->verb == pop3::Verb::kAuth);
}

std::vector<std::string> Run(std::string_view in, size_t chunk, size_t max_line,
                             bool parse) {
  std::vector<std::string> events;
  pop3::LineReader r(max_line);
  for (std::string_view piece : correio::fuzz::Pieces(in, chunk)) {
    r.Feed(piece);
    FUZZ_CHECK(r.buffered() <= max_line + piece.size());
    for (int guard = 0;; ++guard) {
      FUZZ_CHECK(guard <= static_cast<int>(in.size()) + 1);
      auto next = r.Pop();
      if (next.status == pop3::LineReader::Status::kNeedMore) break;
      if (next.status == pop3::LineReader::Status::kTooLong) {
        events.push_back("!");
        continue;
      }
      FUZZ_CHECK(next.line.size() < max_line);
      FUZZ_CHECK(next.line.find('\n') == std::string::npos);
      if (parse) CheckCommand(next.line);
      events.push_back("L" + next.line);
    }
    FUZZ_CHECK(r.buffered() < max_line);
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = correio::fuzz::AsView(data, size);
  for (size_t max_line : {size_t{255}, size_t{16}}) {
    auto whole = Run(in, 0, max_line, true);
    for (size_t chunk : correio::fuzz::kChunkSizes) {
      if (chunk == 0) continue;
      FUZZ_CHECK(Run(in, chunk, max_line, false) == whole);
    }
  }
  return 0;
}
