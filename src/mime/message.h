// correio::mime — parse a message once, answer FETCH and SEARCH from the
// result forever after.
//
// Provides:
//   Parse()              raw RFC 5322 message -> Summary (MIME tree with byte
//                        offsets into the raw message, ENVELOPE fields,
//                        RFC 8970 preview). Bounded by ParseLimits.
//   Serialize()/Deserialize()  Summary <-> compact versioned bytes, stored by
//                        the store next to the message row.
//   ExtractSearchText()  decoded header and body text for SEARCH / FTS.
//   DecodeHeaderValue(), DecodeTransfer(), ParseDate[Time](), FindHeaders(),
//   UnfoldHeaderValue(), ConvertToUtf8(): pieces IMAP needs on its own.
//
// No I/O. Offsets always refer to the exact bytes handed to Parse(); if the
// caller normalises line ends (bare LF -> CRLF) it must do so before parsing.
//
// Thread-safety: every function is safe to call concurrently from several
// threads on different (or shared const) inputs. GMime is initialised once,
// lazily, through std::call_once; GMime's header/parameter decoders and its
// iconv cache are safe for concurrent use after g_mime_init().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace correio::mime {

struct Param {
  std::string name;   // lowercased
  std::string value;  // RFC 2231 continuations joined, charset -> UTF-8
  bool operator==(const Param&) const = default;
};

// One address of an RFC 9051 §7.5.2 address list. Groups follow RFC 9051:
// start marker {mailbox = group name, host = nullopt}, the members, then the
// end marker {mailbox = nullopt, host = nullopt}. ENVELOPE order is
// (name route mailbox host): `route` is the adl.
struct Address {
  std::optional<std::string> name;     // raw phrase (encoded words kept)
  std::optional<std::string> mailbox;  // local part, unquoted
  std::optional<std::string> host;     // domain
  // RFC 5322 §4.4 obs-route of "<@a,@b:user@host>" as "@a,@b"; almost
  // always nullopt (NIL).
  std::optional<std::string> route = std::nullopt;
  bool operator==(const Address&) const = default;
};

// RFC 9051 §7.5.2 ENVELOPE. Strings are the raw header values, unfolded
// (CRLF of folds removed) and trimmed, RFC 2047 words NOT decoded — the
// client decodes. nullopt means the header is absent (NIL).
//
// Defaulting: Parse() already copies `from` into `sender` and `reply_to`
// when those headers are absent or empty, as RFC 9051 §7.5.2 requires, so
// the IMAP layer prints the envelope as is.
struct Envelope {
  std::optional<std::string> date;
  std::optional<std::string> subject;
  std::vector<Address> from;
  std::vector<Address> sender;
  std::vector<Address> reply_to;
  std::vector<Address> to;
  std::vector<Address> cc;
  std::vector<Address> bcc;
  std::optional<std::string> in_reply_to;
  std::optional<std::string> message_id;
  bool operator==(const Envelope&) const = default;
};

// A node of the MIME tree. All offsets index the raw message:
//   raw[header_start, body_start)  BODY[n.MIME] / BODY[HEADER] (includes the
//                                  blank line that ends the header)
//   raw[body_start, body_end)      BODY[n] / BODY[n.TEXT]; per RFC 2046 §5.1.1
//                                  the CRLF before a boundary line belongs to
//                                  the boundary, not to this body.
struct Part {
  uint64_t header_start = 0;
  uint64_t body_start = 0;
  uint64_t body_end = 0;

  // Lowercased. RFC 2045 §5.2 default: text/plain; charset=us-ascii (or
  // message/rfc822 inside multipart/digest, RFC 2046 §5.1.5).
  std::string type = "text";
  std::string subtype = "plain";
  std::vector<Param> params;
  std::optional<std::string> content_id;           // raw, unfolded
  std::optional<std::string> content_description;  // raw, unfolded
  std::string encoding;  // Content-Transfer-Encoding lowercased; "" = absent
  std::optional<std::string> content_md5;
  std::optional<std::string> disposition;  // lowercased; nullopt = absent
  std::vector<Param> disposition_params;
  std::vector<std::string> languages;  // Content-Language, raw tags
  std::optional<std::string> content_location;

  uint64_t lines = 0;  // text lines of the body (meaningful for text/* and
                       // message/rfc822); a last line without LF counts.

  // true when a limit (depth, parts) made this part an opaque leaf: it is
  // then reported as application/octet-stream, like Dovecot does.
  bool opaque = false;

  // multipart/*: the body parts in order (never empty: a multipart whose
  // boundary never appears gets one synthetic empty text/plain child with
  // all offsets == body_end, since RFC 9051 body-type-mpart needs 1*body).
  // message/rfc822 and message/global: exactly one child, the root part of
  // the encapsulated message, and `message_envelope` holds its envelope.
  // Exception: a transfer-encoded message/rfc822 (illegal, RFC 2046
  // §5.2.1) keeps its type but has no child and no envelope; is_message()
  // is false and IMAP must write it as a basic body.
  std::vector<Part> children;
  std::optional<Envelope> message_envelope;

  uint64_t body_size() const { return body_end - body_start; }
  bool is_multipart() const { return type == "multipart" && !opaque; }
  bool is_message() const { return message_envelope.has_value(); }
  // Value of a Content-Type parameter (name lowercased), or nullptr.
  const std::string* FindParam(std::string_view name) const;
  bool operator==(const Part&) const = default;
};

struct Summary {
  Part root;  // root.header_start == 0, root.body_end == raw size
  Envelope envelope;
  // RFC 8970 PREVIEW: up to 200 characters of the first text part (text/plain
  // preferred, else text/html with tags stripped), decoded to UTF-8 with
  // whitespace collapsed. May be empty.
  std::string preview;
  // A header byte >= 0x80 somewhere (RFC 6532 UTF-8 headers or junk).
  bool has_8bit_headers = false;
  // A NUL byte anywhere (RFC 3501 clients cannot take it in literals;
  // IMAP may want literal8 / BINARY).
  bool has_nul = false;
  // A ParseLimits limit was hit; the tree is still valid, only capped.
  bool truncated = false;
  uint32_t part_count = 0;  // parts in the tree, root included
  bool operator==(const Summary&) const = default;
};

struct ParseLimits {
  uint32_t max_depth = 50;     // nesting (multipart or message/rfc822)
  uint32_t max_parts = 10000;  // parts in the whole tree
  // Header bytes per part that are examined; the blank line ending the
  // header is still found beyond this, so offsets stay exact.
  uint64_t max_header_bytes = 1 << 20;
  uint32_t max_header_fields = 10000;  // fields per part that are examined
  uint32_t max_params = 256;           // parameters kept per header field
  uint32_t max_addresses = 1000;       // addresses kept per address field
};

// Never fails on malformed mail (RFC 5322 parsing is best-effort by design);
// fails only when the input is unusable as a message at all (currently:
// larger than 2^40 bytes).
Result<Summary> Parse(std::string_view raw, const ParseLimits& limits = {});

// Format: version byte (kSummaryFormatVersion), then varints and
// length-prefixed strings. Deserialize rejects truncation, trailing bytes,
// unknown versions, offsets outside [0, 2^40] or outside the parent's body
// or out of sibling order, shapes IMAP cannot print (multipart without
// children, message/rfc822 without exactly one), a part_count that does
// not match the tree, absurd counts and nesting deeper than 512.
// Version 2 added Address::route; version 1 data is refused (re-parse).
inline constexpr uint8_t kSummaryFormatVersion = 2;
std::string Serialize(const Summary& summary);
Result<Summary> Deserialize(std::string_view data);
// Only the root's offsets (header_start, body_start, body_end) of a
// serialized summary; every other field is left empty. Skips the preview
// and envelope without building them: what a FETCH of top-level header
// fields needs, for 50 messages at a time.
Result<Summary> DeserializeRootOffsets(std::string_view data);

struct SearchText {
  std::string headers;  // "Name: decoded value\n" per top-level field
  // The decoded text of text/* parts, UTF-8, is in one of two places.
  // When it is octets of the message as they stand (one text part without
  // transfer encoding, valid UTF-8 or ASCII: most mail), `body_in_raw`
  // says where, and nothing is copied. Otherwise it is `decoded_body`.
  // Body() gives it wherever it is.
  struct Span {
    size_t offset = 0;
    size_t size = 0;
  };
  std::optional<Span> body_in_raw;
  std::string decoded_body;
  // `raw` must be the message the text was extracted from (a shorter one
  // throws std::out_of_range).
  std::string_view Body(std::string_view raw) const {
    if (!body_in_raw) return decoded_body;
    return raw.substr(body_in_raw->offset, body_in_raw->size);
  }
};
inline constexpr size_t kMaxSearchHeaderBytes = 256 * 1024;
inline constexpr size_t kMaxSearchBodyBytes = 1024 * 1024;
// `summary` must come from Parse(raw). Text/* parts (including those of
// encapsulated messages) are transfer-decoded and converted to UTF-8; HTML
// is stripped of tags; non-text parts are skipped. Output is capped at the
// constants above.
SearchText ExtractSearchText(std::string_view raw, const Summary& summary);

// RFC 2047 encoded words -> UTF-8 (raw 8-bit bytes that are not valid UTF-8
// are taken as ISO-8859-1). Output is always valid UTF-8.
std::string DecodeHeaderValue(std::string_view raw);

// Undo a Content-Transfer-Encoding (RFC 2045 §6): base64, quoted-printable,
// 7bit, 8bit, binary, "" (absent). Case-insensitive. Strict for base64
// (characters outside the alphabet other than whitespace, or data after
// padding, are kInvalid) so IMAP BINARY can answer [UNKNOWN-CTE] / NO;
// unknown encodings are kInvalid too.
Result<std::string> DecodeTransfer(std::string_view body,
                                   std::string_view encoding);

// RFC 5322 §3.3 date-time -> the instant and the sender's zone offset.
// Tolerates the obsolete forms of §4.3 (comments anywhere, 2- and 3-digit
// years, zone names, no seconds, no day name, missing zone = -0000),
// ignores the day name and trailing junk; rejects impossible dates
// ("31 Feb"). Military zones other than Z count as -0000 (§4.3: their
// sign was defined backwards, so they carry no information).
struct DateTime {
  int64_t unix_seconds = 0;       // UTC
  int32_t tz_offset_minutes = 0;  // local time = UTC + offset
  bool operator==(const DateTime&) const = default;
};
std::optional<DateTime> ParseDateTime(std::string_view rfc5322_date);
// ParseDateTime()->unix_seconds.
std::optional<int64_t> ParseDate(std::string_view rfc5322_date);

// FindHeaders() with each value passed through UnfoldHeaderValue().
std::vector<std::string> FindUnfoldedHeaders(std::string_view header_block,
                                             std::string_view name);

// Values of every header field called `name` (case-insensitive) in a header
// block, in order. Values are views into `header_block`, starting after the
// colon (leading whitespace skipped) and ending before the field's final
// line end; continuation lines are included as they appear (folded). Use
// UnfoldHeaderValue() to unfold. Stops at the blank line ending the header.
std::vector<std::string_view> FindHeaders(std::string_view header_block,
                                          std::string_view name);

// RFC 5322 §2.2.3 unfolding: removes CR and LF, keeps the folding
// whitespace; trims leading and trailing whitespace.
std::string UnfoldHeaderValue(std::string_view folded);

// Converts text in `charset` (any name iconv or GMime knows) to UTF-8;
// invalid sequences become U+FFFD; unknown charsets are treated as UTF-8
// with invalid bytes replaced. Output is always valid UTF-8.
std::string ConvertToUtf8(std::string_view text, std::string_view charset);

}  // namespace correio::mime
