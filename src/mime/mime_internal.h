// Internals shared by the mime/*.cc files. Not part of the public API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "mime/message.h"

namespace correio::mime::internal {

// g_mime_init() exactly once per process (std::call_once).
void EnsureGMime();

struct HeaderField {
  std::string_view name;   // as written, trailing whitespace trimmed
  std::string_view value;  // raw and folded: after colon to end of field
};

struct HeaderScan {
  size_t body_start = 0;   // first byte after the blank line (or end)
  bool has_8bit = false;   // a byte >= 0x80 anywhere in the header block
  bool truncated = false;  // a field or byte limit stopped field reporting
};

// Scans the header block of raw[start, end): reports each field (while
// within max_bytes/max_fields) to `on_field`, and always finds the blank
// line ending the header so body_start is exact. Lines may end in CRLF or
// bare LF. Lines without a colon are skipped. Linear in the block size.
HeaderScan ScanHeader(std::string_view raw, size_t start, size_t end,
                      uint64_t max_bytes, uint32_t max_fields,
                      const std::function<void(const HeaderField&)>& on_field);

// RFC 5322 §3.4 address-list, lenient (Dovecot-like): see Address.
std::vector<Address> ParseAddressList(std::string_view unfolded,
                                      uint32_t max_addresses);

struct ContentType {
  std::string type = "text";
  std::string subtype = "plain";
  std::vector<Param> params;
  bool valid = false;  // false: header absent or syntactically broken
};
ContentType ParseContentType(std::string_view unfolded, uint32_t max_params);

struct Disposition {
  std::string value;  // lowercased
  std::vector<Param> params;
};
Disposition ParseDisposition(std::string_view unfolded, uint32_t max_params);

// Lenient transfer decoding for search text and preview: never fails, junk
// characters are skipped.
std::string DecodeTransferLenient(std::string_view body,
                                  std::string_view encoding);

// Replaces invalid UTF-8 with U+FFFD.
std::string MakeValidUtf8(std::string_view s);
// True when `s` is valid UTF-8 without NUL octets, so MakeValidUtf8 would
// return it unchanged (one with NULs may be too; false is only a miss).
bool IsCleanUtf8(std::string_view s);

// `text` in `charset` -> valid UTF-8 in `out` (invalid sequences become
// U+FFFD). Returns false, leaving `out` alone, when neither iconv nor GMime
// knows the charset.
bool TryConvertToUtf8(std::string_view text, std::string_view charset,
                      std::string& out);

// Valid UTF-8 is kept; anything else is taken as ISO-8859-1 (what 8-bit
// header bytes most often are when they are not UTF-8).
std::string Utf8OrLatin1(std::string_view s);

// Crude HTML -> text: drops tags, comments, <script>/<style> content;
// decodes the common entities. Linear.
std::string HtmlToText(std::string_view html);

// Appends `text` to `out`, collapsing whitespace runs to one space, until
// `out` holds `max_chars` UTF-8 characters. Returns false when full.
bool AppendCollapsed(std::string& out, size_t& chars, std::string_view text,
                     size_t max_chars);

// Decoded UTF-8 text of a leaf text part (transfer decoding, charset,
// HTML stripping), at most `max_bytes` of input considered.
std::string PartText(std::string_view raw, const Part& part, size_t max_bytes);
// True when PartText(raw, part, max_bytes) is the part's body octets as
// they stand: plain text without transfer encoding, in UTF-8 or ASCII,
// clean (IsCleanUtf8) and no longer than `max_bytes`. Checks without
// copying.
bool PartTextIsRaw(std::string_view raw, const Part& part, size_t max_bytes);

}  // namespace correio::mime::internal
