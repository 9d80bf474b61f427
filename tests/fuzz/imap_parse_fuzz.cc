// IMAP command parser (src/imap/proto/parser.h). The input is framed by
// CommandAssembler with generous limits (the parser's contract is to see
// only assembled commands) and every complete command is parsed with the
// default options and with tiny depth/range/item limits. The date helpers
// run on the raw input too.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "imap/proto/assembler.h"
#include "imap/proto/parser.h"
#include "imap_command_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace imap = correio::imap;
  std::string_view in = correio::fuzz::AsView(data, size);

  imap::ParseOptions tiny;
  tiny.max_depth = 3;
  tiny.max_set_ranges = 4;
  tiny.max_items = 4;

  imap::CommandAssembler assembler(
      {.max_line = 1 << 20, .max_literal = 1 << 20, .max_command = 1 << 22});
  std::string_view rest = in;
  int guard = 0;
  while (!rest.empty()) {
    FUZZ_CHECK(++guard < 1000000);
    size_t n = assembler.Feed(rest);
    rest.remove_prefix(n);
    auto st = assembler.state();
    if (st == imap::CommandAssembler::State::kComplete) {
      std::string cmd = assembler.TakeCommand();
      correio::fuzz::ParseAndCheck(cmd, {});
      correio::fuzz::ParseAndCheck(cmd, tiny);
    } else if (st == imap::CommandAssembler::State::kError) {
      assembler.Reset();
    } else {
      FUZZ_CHECK(n > 0 ||
                 st == imap::CommandAssembler::State::kNeedContinuation);
    }
  }

  std::string_view line = in.substr(0, in.find('\n'));
  if (auto t = imap::ParseImapDateTime(line)) {
    FUZZ_CHECK(imap::ParseImapDateTime(imap::FormatImapDateTime(*t)) == t);
  }
  if (auto d = imap::ParseImapDate(line)) {
    FUZZ_CHECK(*d % 86400 == 0);
  }
  return 0;
}
