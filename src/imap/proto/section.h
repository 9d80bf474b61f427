// RFC 9051 §6.4.5 BODY[section] and RFC 3516 BINARY[section] extraction
// from the raw message and its parse summary.
//
// Part numbering (RFC 9051 §6.4.5): every multipart has parts 1..n; a
// message that is not multipart has one part, 1, its body; the parts of a
// message/rfc822 (or message/global) part are those of the encapsulated
// message. HEADER, HEADER.FIELDS[.NOT] and TEXT of a numbered part are
// only defined for message/rfc822 parts and refer to the encapsulated
// message; MIME is the part's own header (its blank line included).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "mime/message.h"

namespace correio::imap {

struct Section {
  std::vector<uint32_t> part;  // empty: the whole message
  enum class Kind {
    kWhole,
    kHeader,
    kHeaderFields,
    kHeaderFieldsNot,
    kText,
    kMime
  } kind = Kind::kWhole;
  std::vector<std::string> fields;  // for kHeaderFields / kHeaderFieldsNot
};

// The bytes of BODY[section]: empty for a part that does not exist, for
// MIME without a part number, and for HEADER/TEXT of a numbered part that
// is not a message/rfc822 (Dovecot answers "" there too). `s` must come
// from mime::Parse(raw).
//
// HEADER.FIELDS / .NOT: header fields whose name matches (ASCII
// case-insensitive) one in `fields` / none, as their original lines
// (folding kept; a bare LF line end is sent as CRLF, since only CRLF goes
// out), then the CRLF that ends a header — also when nothing
// matched, as Dovecot and Cyrus do. Lines without a colon are no field
// and are never returned.
std::string ExtractSection(std::string_view raw, const mime::Summary& s,
                           const Section& section);

// RFC 3516 BINARY[part]: the part's body with its Content-Transfer-Encoding
// undone. Empty `part`: the whole message as is. Multipart and parsed
// message/rfc822 parts have no transfer encoding of their own and come back
// as is. kInvalid when the encoding is unknown or the data does not decode
// (the caller answers NO [UNKNOWN-CTE], RFC 3516 §4.3). A nonexistent part
// gives an empty string, like ExtractSection.
Result<std::string> ExtractBinary(std::string_view raw, const mime::Summary& s,
                                  const std::vector<uint32_t>& part);

// Addition: the part a non-empty part number names, or nullptr.
const mime::Part* FindPart(const mime::Summary& s,
                           const std::vector<uint32_t>& part);

// Addition: the HEADER.FIELDS filter on a header block (see above).
std::string FilterHeaderFields(std::string_view header,
                               const std::vector<std::string>& fields,
                               bool exclude);

}  // namespace correio::imap
