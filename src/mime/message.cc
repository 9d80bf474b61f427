// The structure scanner: one pass per nesting level over the raw bytes,
// recording exact offsets (RFC 2045, RFC 2046 §5.1.1 boundaries), with hard
// limits on depth, part count and header size. GMime is used only for
// decoding pieces (parameters, charsets), never for the structure, because
// IMAP needs byte offsets GMime does not expose and the limits must hold on
// hostile input.
#include "mime/message.h"

#include <cstring>

#include "base/strings.h"
#include "mime/mime_internal.h"

namespace correio::mime {
namespace {

using internal::HeaderField;

constexpr uint64_t kMaxMessageBytes = uint64_t{1} << 40;
constexpr size_t kMaxBoundaryLength = 200;  // RFC 2046 says 70; be lenient
constexpr size_t kPreviewChars = 200;       // RFC 8970 allows up to 256
constexpr size_t kPreviewInputBytes = 64 * 1024;

struct Context {
  std::string_view raw;
  const ParseLimits& limits;
  uint32_t parts = 0;
  bool truncated = false;
  bool has_8bit = false;
};

// First occurrence of each field we need, unfolded.
struct Fields {
  std::optional<std::string> content_type, encoding, id, description, md5,
      disposition, language, location;
  std::optional<std::string> date, subject, from, sender, reply_to, to, cc, bcc,
      in_reply_to, message_id;
};

void Take(std::optional<std::string>& slot, std::string_view value) {
  if (!slot) slot = UnfoldHeaderValue(value);
}

void Collect(Fields& f, const HeaderField& h, bool message) {
  std::string_view n = h.name;
  if (StartsWithIgnoreCase(n, "content-")) {
    std::string_view rest = n.substr(8);
    if (EqualsIgnoreCase(rest, "type"))
      Take(f.content_type, h.value);
    else if (EqualsIgnoreCase(rest, "transfer-encoding"))
      Take(f.encoding, h.value);
    else if (EqualsIgnoreCase(rest, "id"))
      Take(f.id, h.value);
    else if (EqualsIgnoreCase(rest, "description"))
      Take(f.description, h.value);
    else if (EqualsIgnoreCase(rest, "md5"))
      Take(f.md5, h.value);
    else if (EqualsIgnoreCase(rest, "disposition"))
      Take(f.disposition, h.value);
    else if (EqualsIgnoreCase(rest, "language"))
      Take(f.language, h.value);
    else if (EqualsIgnoreCase(rest, "location"))
      Take(f.location, h.value);
    return;
  }
  if (!message) return;
  if (EqualsIgnoreCase(n, "date"))
    Take(f.date, h.value);
  else if (EqualsIgnoreCase(n, "subject"))
    Take(f.subject, h.value);
  else if (EqualsIgnoreCase(n, "from"))
    Take(f.from, h.value);
  else if (EqualsIgnoreCase(n, "sender"))
    Take(f.sender, h.value);
  else if (EqualsIgnoreCase(n, "reply-to"))
    Take(f.reply_to, h.value);
  else if (EqualsIgnoreCase(n, "to"))
    Take(f.to, h.value);
  else if (EqualsIgnoreCase(n, "cc"))
    Take(f.cc, h.value);
  else if (EqualsIgnoreCase(n, "bcc"))
    Take(f.bcc, h.value);
  else if (EqualsIgnoreCase(n, "in-reply-to"))
    Take(f.in_reply_to, h.value);
  else if (EqualsIgnoreCase(n, "message-id"))
    Take(f.message_id, h.value);
}

Envelope MakeEnvelope(Fields& f, uint32_t max_addresses) {
  Envelope e;
  e.date = std::move(f.date);
  e.subject = std::move(f.subject);
  e.in_reply_to = std::move(f.in_reply_to);
  e.message_id = std::move(f.message_id);
  auto list = [&](const std::optional<std::string>& v) {
    return v ? internal::ParseAddressList(*v, max_addresses)
             : std::vector<Address>{};
  };
  e.from = list(f.from);
  e.sender = list(f.sender);
  e.reply_to = list(f.reply_to);
  e.to = list(f.to);
  e.cc = list(f.cc);
  e.bcc = list(f.bcc);
  // RFC 9051 §7.5.2: absent or empty Sender/Reply-To take the From value.
  if (e.sender.empty()) e.sender = e.from;
  if (e.reply_to.empty()) e.reply_to = e.from;
  return e;
}

// Lines of body text; a final line without LF still counts as a line (the
// LF before a boundary belongs to the boundary, RFC 2046 §5.1.1).
uint64_t CountLines(std::string_view body) {
  uint64_t n = 0;
  const char* p = body.data();
  const char* end = p + body.size();
  while (p < end) {
    const void* hit = std::memchr(p, '\n', static_cast<size_t>(end - p));
    if (!hit) break;
    ++n;
    p = static_cast<const char*>(hit) + 1;
  }
  if (!body.empty() && body.back() != '\n') ++n;
  return n;
}

void MakeOpaque(Part& part) {
  part.opaque = true;
  part.type = "application";
  part.subtype = "octet-stream";
  part.params.clear();
  part.children.clear();
  part.message_envelope.reset();
}

bool IsLineSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

struct Delimiter {
  size_t line_start;  // where "--boundary" begins
  size_t next_line;   // first byte after the delimiter line
  bool close;         // "--boundary--"
};

// Finds the next delimiter line of `delim` ("--" + boundary) in [pos, end),
// where pos is a line start. RFC 2046 §5.1.1: the delimiter may be followed
// by linear whitespace (transport padding) only; the close delimiter by "--".
std::optional<Delimiter> NextDelimiter(std::string_view raw, size_t pos,
                                       size_t end, std::string_view delim) {
  while (pos < end) {
    const void* hit = std::memchr(raw.data() + pos, '\n', end - pos);
    size_t nl = hit ? static_cast<const char*>(hit) - raw.data() : end;
    size_t next = hit ? nl + 1 : end;
    if (nl - pos >= delim.size() &&
        std::memcmp(raw.data() + pos, delim.data(), delim.size()) == 0) {
      size_t i = pos + delim.size();
      bool close = nl - i >= 2 && raw[i] == '-' && raw[i + 1] == '-';
      if (close) return Delimiter{pos, next, true};
      while (i < nl && IsLineSpace(raw[i])) ++i;
      if (i == nl) return Delimiter{pos, next, false};
    }
    pos = next;
  }
  return std::nullopt;
}

// Where a body that is followed by the delimiter at `line_start` ends: the
// line break before the delimiter belongs to it (RFC 2046 §5.1.1).
size_t EndBefore(std::string_view raw, size_t line_start, size_t floor) {
  size_t e = line_start;
  if (e > floor && raw[e - 1] == '\n') {
    --e;
    if (e > floor && raw[e - 1] == '\r') --e;
  }
  return e;
}

Part ParseEntity(Context& ctx, size_t start, size_t end, uint32_t depth,
                 bool digest_child, Envelope* envelope);

void ParseMultipart(Context& ctx, Part& part, uint32_t depth) {
  const std::string* boundary = part.FindParam("boundary");
  if (boundary == nullptr || boundary->empty() ||
      boundary->size() > kMaxBoundaryLength) {
    // Without a usable boundary there is no structure to find.
    MakeOpaque(part);
    return;
  }
  std::string delim = "--" + *boundary;
  bool digest = part.subtype == "digest";
  std::string_view raw = ctx.raw;
  auto d = NextDelimiter(raw, part.body_start, part.body_end, delim);
  while (d && !d->close) {
    size_t child_start = d->next_line;
    auto next = NextDelimiter(raw, child_start, part.body_end, delim);
    size_t child_end =
        next ? std::max(child_start, EndBefore(raw, next->line_start,
                                               child_start))
             : part.body_end;  // missing close delimiter: runs to the end
    if (ctx.parts >= ctx.limits.max_parts) {
      ctx.truncated = true;
      break;
    }
    part.children.push_back(
        ParseEntity(ctx, child_start, child_end, depth + 1, digest, nullptr));
    d = next;
  }
  if (part.children.empty()) {
    // RFC 9051 body-type-mpart needs at least one body: a synthetic empty
    // text/plain at the end of the multipart body.
    Part empty;
    empty.header_start = empty.body_start = empty.body_end = part.body_end;
    empty.params.push_back(Param{"charset", "us-ascii"});
    part.children.push_back(std::move(empty));
  }
}

Part ParseEntity(Context& ctx, size_t start, size_t end, uint32_t depth,
                 bool digest_child, Envelope* envelope) {
  ++ctx.parts;
  Part part;
  part.header_start = start;
  Fields f;
  bool message = envelope != nullptr;
  internal::HeaderScan scan = internal::ScanHeader(
      ctx.raw, start, end, ctx.limits.max_header_bytes,
      ctx.limits.max_header_fields,
      [&](const HeaderField& h) { Collect(f, h, message); });
  ctx.has_8bit |= scan.has_8bit;
  ctx.truncated |= scan.truncated;
  part.body_start = scan.body_start;
  part.body_end = end;

  internal::ContentType ct;
  if (f.content_type)
    ct = internal::ParseContentType(*f.content_type, ctx.limits.max_params);
  if (ct.valid) {
    part.type = std::move(ct.type);
    part.subtype = std::move(ct.subtype);
    part.params = std::move(ct.params);
  } else if (digest_child && !f.content_type) {
    part.type = "message";  // RFC 2046 §5.1.5
    part.subtype = "rfc822";
  } else {
    // RFC 2045 §5.2: absent or invalid means text/plain; charset=us-ascii.
    part.params.push_back(Param{"charset", "us-ascii"});
  }
  if (f.encoding) {
    std::string_view enc = TrimWhitespace(*f.encoding);
    size_t stop = enc.find_first_of(" \t;(");
    part.encoding = AsciiLowercase(enc.substr(0, stop));
  }
  part.content_id = std::move(f.id);
  part.content_description = std::move(f.description);
  part.content_md5 = std::move(f.md5);
  part.content_location = std::move(f.location);
  if (f.disposition) {
    internal::Disposition d =
        internal::ParseDisposition(*f.disposition, ctx.limits.max_params);
    if (!d.value.empty()) {
      part.disposition = std::move(d.value);
      part.disposition_params = std::move(d.params);
    }
  }
  if (f.language) {
    for (std::string_view tag : SplitString(*f.language, ',')) {
      tag = TrimWhitespace(tag);
      if (!tag.empty() && part.languages.size() < ctx.limits.max_params) {
        part.languages.emplace_back(tag);
      }
    }
  }
  if (envelope) *envelope = MakeEnvelope(f, ctx.limits.max_addresses);

  std::string_view body =
      ctx.raw.substr(part.body_start, part.body_end - part.body_start);
  if (part.type == "multipart") {
    if (depth >= ctx.limits.max_depth) {
      ctx.truncated = true;
      MakeOpaque(part);
    } else {
      ParseMultipart(ctx, part, depth);
    }
  } else if (part.type == "message" &&
             (part.subtype == "rfc822" || part.subtype == "global")) {
    // An encoded message/rfc822 is illegal (RFC 2046 §5.2.1); like Dovecot,
    // look inside only when it is not encoded.
    bool plain = part.encoding.empty() || part.encoding == "7bit" ||
                 part.encoding == "8bit" || part.encoding == "binary";
    if (depth >= ctx.limits.max_depth) {
      ctx.truncated = true;
      MakeOpaque(part);
    } else if (plain) {
      if (ctx.parts >= ctx.limits.max_parts) {
        ctx.truncated = true;
        MakeOpaque(part);
      } else {
        Envelope inner;
        part.children.push_back(ParseEntity(ctx, part.body_start, part.body_end,
                                            depth + 1, false, &inner));
        part.message_envelope = std::move(inner);
        part.lines = CountLines(body);
      }
    }
  } else if (part.type == "text") {
    part.lines = CountLines(body);
  }
  return part;
}

bool IsAttachment(const Part& p) {
  return p.disposition && *p.disposition == "attachment";
}

// RFC 8970: the first text/plain leaf that is not an attachment, else the
// first text/html one; searched through multiparts, not into attached
// messages (their text is not this message's preview).
const Part* FindPreviewPart(const Part& p, std::string_view subtype) {
  if (p.is_multipart()) {
    for (const Part& c : p.children) {
      if (const Part* hit = FindPreviewPart(c, subtype)) return hit;
    }
    return nullptr;
  }
  if (p.type == "text" && p.subtype == subtype && !IsAttachment(p)) return &p;
  return nullptr;
}

std::string MakePreview(std::string_view raw, const Part& root) {
  const Part* p = FindPreviewPart(root, "plain");
  if (p == nullptr) p = FindPreviewPart(root, "html");
  if (p == nullptr) return {};
  std::string text = internal::PartText(raw, *p, kPreviewInputBytes);
  std::string out;
  size_t chars = 0;
  std::string_view t = TrimWhitespace(text);
  internal::AppendCollapsed(out, chars, t, kPreviewChars);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

void CountParts(const Part& p, uint32_t& n) {
  ++n;
  for (const Part& c : p.children) CountParts(c, n);
}

}  // namespace

Result<Summary> Parse(std::string_view raw, const ParseLimits& limits) {
  if (raw.size() > kMaxMessageBytes) {
    return Fail(ErrorCode::kTooBig, "message larger than 2^40 bytes");
  }
  Context ctx{raw, limits};
  Summary s;
  s.root = ParseEntity(ctx, 0, raw.size(), 0, false, &s.envelope);
  s.has_8bit_headers = ctx.has_8bit;
  s.has_nul = !raw.empty() && std::memchr(raw.data(), 0, raw.size()) != nullptr;
  s.truncated = ctx.truncated;
  CountParts(s.root, s.part_count);
  s.preview = MakePreview(raw, s.root);
  return s;
}

}  // namespace correio::mime
