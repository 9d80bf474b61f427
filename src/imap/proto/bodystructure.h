// RFC 9051 §7.5.2 BODY / BODYSTRUCTURE rendering from a parsed
// mime::Summary (the message is never re-read).
//
// Choices, each where the RFC leaves room:
//  - Media types, subtypes, parameter names, transfer encodings and
//    disposition types are sent upper-case as in the RFC 9051 examples
//    (mime::Summary keeps them lower-cased); parameter values keep their
//    case (boundary is case-sensitive).
//  - A text/* part without a charset parameter gets ("CHARSET" "US-ASCII")
//    first, the RFC 2045 §5.2 default, as Dovecot reports it.
//  - An absent Content-Transfer-Encoding is "7BIT" (RFC 2045 §6.1).
//  - Parameter values are stored decoded (RFC 2231, UTF-8). A non-ASCII
//    value goes to a UTF8=ACCEPT client as is; to others it is re-encoded
//    in RFC 2231 form, NAME* "utf-8''%E2%82%AC", which Thunderbird, mutt
//    and Apple Mail decode (what Dovecot passes through from the header).
//  - A message/rfc822 part that could not be parsed as a message (an
//    illegal transfer encoding, RFC 2046 §5.2.1, or a limit) is reported as
//    "APPLICATION" "OCTET-STREAM": the body-type-msg grammar needs an
//    envelope and body we do not have, and media-basic may not be
//    MESSAGE/RFC822 (RFC 9051 §9 note on media-basic).
//  - Content-Language with one tag is a string, with several a list.
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "mime/message.h"

namespace correio::imap {

// `extended` false: BODY (no extension data); true: BODYSTRUCTURE with
// body-ext-1part / body-ext-mpart (MD5, disposition, language, location).
std::string RenderBodyStructure(const mime::Summary& s, bool extended,
                                bool utf8);

// Addition: renders one part (and its subtree) in place.
void AppendBodyStructure(std::string& out, const mime::Part& part,
                         bool extended, bool utf8);

}  // namespace correio::imap
