// RFC 9051 §7.5.2 ENVELOPE rendering from a parsed mime::Summary, plus the
// string forms BODYSTRUCTURE shares with it.
//
// 8-bit header bytes (RFC 6532 UTF-8 headers, or raw Latin-1 junk):
//  - `utf8` true (UTF8=ACCEPT enabled, or IMAP4rev2 with it): valid UTF-8
//    goes out as is (RFC 6855 §3, RFC 9051 quoted strings allow UTF-8).
//    Invalid UTF-8 in display text is repaired (Latin-1 fallback); in
//    identifiers it is sent verbatim in a literal.
//  - `utf8` false: RFC 3501 clients expect 7-bit. Display text (Subject,
//    display names, group names, Content-Description) is decoded and
//    re-encoded as RFC 2047 "=?utf-8?b?...?=" words, which every client
//    already decodes, so the user sees the right text. Identifiers (Date,
//    Message-ID, In-Reply-To, mailbox and host of addresses, Content-ID,
//    Content-Location) cannot be re-encoded without changing them (clients
//    thread on Message-ID; an RFC 6531 local part has no 7-bit form), so
//    they are sent byte-exact as literals, which RFC 3501 §4.3 lets carry
//    8-bit octets — what Dovecot does for all of them.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "mime/message.h"

namespace correio::imap {

// ("date" "subject" (from) (sender) (reply-to) (to) (cc) (bcc)
//  "in-reply-to" "message-id"), NIL for absent fields and empty lists.
std::string RenderEnvelope(const mime::Summary& s, bool utf8);

// Additions used by bodystructure.cc and callers that build output in
// place.
void AppendEnvelope(std::string& out, const mime::Envelope& e, bool utf8);
// nstring of human-readable text (see the 8-bit rules above).
void AppendTextNString(std::string& out, const std::optional<std::string>& s,
                       bool utf8);
// nstring of an identifier, never rewritten (see the 8-bit rules above).
void AppendIdNString(std::string& out, const std::optional<std::string>& s,
                     bool utf8);
// UTF-8 text -> RFC 2047 encoded words (charset utf-8, B encoding), each at
// most 75 characters (RFC 2047 §2), split on character boundaries and
// separated by one space. ASCII-only input without "=?" is returned as is.
std::string EncodeRfc2047(std::string_view utf8);
// string (quoted or literal) of `s` with NUL, CR and LF removed: RFC 3501
// §4.3 literals may not carry NUL, and header values reach us unfolded, so
// a stray CR or LF is junk (Dovecot's imap_append_nstring_nolf does the
// same). All strings of ENVELOPE and BODYSTRUCTURE go through this.
void AppendWireString(std::string& out, std::string_view s, bool utf8);
// True if `s` is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF).
bool IsValidUtf8(std::string_view s);

}  // namespace correio::imap
