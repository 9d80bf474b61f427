// ParseCommand: the bytes of one complete IMAP command -> typed Command.
//
// Grammar: RFC 9051 §9 and RFC 3501 §9 (both are accepted: IMAP4rev1
// clients send RFC822.*, RECENT, NEW, OLD, ...), with the extensions this
// server announces: LITERAL+ (RFC 7888), UIDPLUS (RFC 4315), MOVE (RFC
// 6851), ESEARCH (RFC 4731), SEARCHRES (RFC 5182), LIST-EXTENDED (RFC 5258),
// LIST-STATUS (RFC 5819), SPECIAL-USE and CREATE-SPECIAL-USE (RFC 6154),
// MULTIAPPEND (RFC 3502), BINARY (RFC 3516), WITHIN (RFC 5032), SORT and
// THREAD (RFC 5256), ESORT (RFC 5267), SAVEDATE (RFC 8514), PREVIEW (RFC
// 8970), OBJECTID (RFC 8474), CONDSTORE syntax (RFC 7162), QUOTA (RFC 9208),
// ID (RFC 2971), ENABLE (RFC 5161), UTF8=ACCEPT (RFC 6855).
//
// The input is what CommandAssembler collected: lines ending in CRLF with
// literals inline ("{5}\r\nhello"). No I/O (STYLE 2). Bounded: nesting depth
// of search keys and parentheses, number of set ranges and list items
// (STYLE 9) — deep nesting is refused, never recursed into.
//
// Errors carry a client-facing message naming the problem and the tag when
// one was read (tagged BAD), or an empty tag (untagged BAD).
//
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "imap/proto/command.h"

namespace correio::imap {

struct ParseOptions {
  uint32_t max_depth = 64;          // nested parentheses / NOT / OR
  uint32_t max_set_ranges = 100000; // ranges in one sequence set
  uint32_t max_items = 10000;       // flags, fetch items, patterns, keys
};

struct ParseError {
  std::string tag;  // empty: no valid tag was read
  std::string message;
};

std::expected<Command, ParseError> ParseCommand(std::string_view bytes,
                                                const ParseOptions& options = {});

// RFC 9051 date (d-MMM-yyyy) -> unix seconds at 00:00 UTC; nullopt if bad.
std::optional<int64_t> ParseImapDate(std::string_view text);
// RFC 9051 date-time ("dd-MMM-yyyy hh:mm:ss +zzzz", no quotes) -> unix
// seconds (UTC); nullopt if bad.
std::optional<int64_t> ParseImapDateTime(std::string_view text);
// The inverse, for INTERNALDATE: "dd-MMM-yyyy hh:mm:ss +0000" (UTC).
std::string FormatImapDateTime(int64_t unix_seconds);

// Days since 1970-01-01 of a civil date (proleptic Gregorian).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);

}  // namespace correio::imap
