// Shared by imap_parse_fuzz.cc and imap_assembler_fuzz.cc: run the bytes
// of one assembled command through ParseCommand and check what comes out.
#pragma once

#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "imap/proto/parser.h"

namespace correio::fuzz {

inline void ParseAndCheck(std::string_view cmd,
                          const imap::ParseOptions& options) {
  auto c = imap::ParseCommand(cmd, options);
  if (!c) {
    // A tag in an error is one the client sent (RFC 9051 §9 tag): no
    // space, no CR/LF, never '+'.
    FUZZ_CHECK(c.error().tag.find_first_of(" \r\n+") == std::string::npos);
    FUZZ_CHECK(!c.error().message.empty());
    FUZZ_CHECK(c.error().message.find_first_of("\r\n") == std::string::npos);
    return;
  }
  FUZZ_CHECK(!c->tag.empty());
  FUZZ_CHECK(c->tag.find_first_of(" \r\n+") == std::string::npos);
  FUZZ_CHECK(cmd.starts_with(c->tag));
  FUZZ_CHECK(!c->name.empty());
  for (char ch : c->name) FUZZ_CHECK(!(ch >= 'a' && ch <= 'z'));
  // Deterministic.
  auto again = imap::ParseCommand(cmd, options);
  FUZZ_CHECK(again.has_value() && again->tag == c->tag &&
             again->name == c->name && again->uid == c->uid);
}

}  // namespace correio::fuzz
