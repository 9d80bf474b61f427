// Modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3, kept by RFC 9051
// §5.1 for clients that have not enabled UTF8=ACCEPT).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace correio::imap {

// UTF-8 -> modified UTF-7. Printable US-ASCII other than '&' stands for
// itself, '&' becomes "&-", everything else is UTF-16BE in modified base64
// (',' instead of '/', no padding) between '&' and '-'. Invalid UTF-8 input
// bytes are encoded as U+FFFD so the output is always valid mUTF-7.
std::string EncodeMutf7(std::string_view utf8);

// Modified UTF-7 -> UTF-8. nullopt for anything a conforming encoder could
// not have produced (RFC 3501 §5.1.3 "MUST" rules): 8-bit or control bytes,
// an unterminated shift, base64 that encodes printable US-ASCII, two
// adjacent encoded runs, non-zero or excess padding bits, unpaired UTF-16
// surrogates, U+0000. Rejecting non-canonical forms keeps one mailbox name
// from having two spellings.
std::optional<std::string> DecodeMutf7(std::string_view mutf7);

}  // namespace correio::imap
