// Response writing helpers: the string forms of RFC 9051 §9 (atom, quoted,
// literal, literal8, nstring, astring) chosen so any byte string goes out
// intact.
//
// Choice: an atom when the value is a non-empty run of ASTRING-CHARs that is
// not NIL; else a quoted string when it is short and has only printable
// characters (UTF-8 only when `utf8` — RFC 9051 / RFC 6855 allow it in
// quoted strings, RFC 3501 does not); else a literal {n}; literal8 ~{n}
// when the data holds NUL (RFC 3516 §4.2, only where the grammar allows it).
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace correio::imap {

void AppendQuotedOrLiteral(std::string& out, std::string_view s,
                           bool utf8 = false);
void AppendAstring(std::string& out, std::string_view s, bool utf8 = false);
void AppendNString(std::string& out, const std::optional<std::string>& s,
                   bool utf8 = false);
// {n}CRLF data, or ~{n}CRLF data when binary.
void AppendLiteral(std::string& out, std::string_view data,
                   bool binary = false);

// True if `s` can be sent as an atom.
bool IsAtom(std::string_view s);

}  // namespace correio::imap
