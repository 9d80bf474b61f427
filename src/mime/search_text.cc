// Decoded text for SEARCH (RFC 9051 §6.4.4 HEADER/BODY/TEXT) and the
// full-text index. Work and output are bounded by kMaxSearch*Bytes.
#include "base/strings.h"
#include "mime/message.h"
#include "mime/mime_internal.h"

namespace correio::mime {
namespace {

// Appends at most `cap - out.size()` bytes, never splitting a UTF-8
// sequence. Returns false once the cap is reached.
bool AppendCapped(std::string& out, std::string_view text, size_t cap) {
  if (out.size() >= cap) return false;
  size_t room = cap - out.size();
  if (text.size() <= room) {
    out.append(text);
    return true;
  }
  size_t n = room;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  out.append(text.substr(0, n));
  return false;
}

void AppendHeaders(std::string_view raw, const Part& part, std::string& out,
                   size_t cap) {
  if (out.size() >= cap) return;
  internal::ScanHeader(raw, part.header_start, part.body_start, cap, UINT32_MAX,
                       [&](const internal::HeaderField& f) {
                         if (out.size() >= cap) return;
                         std::string line(f.name);
                         line += ": ";
                         line += DecodeHeaderValue(f.value);
                         line += '\n';
                         AppendCapped(out, internal::MakeValidUtf8(line), cap);
                       });
}

// The body text as it is gathered: while it is the first text part's
// octets as they stand, only where they are (no copy, no conversion);
// copied out once anything is added to it.
struct BodyText {
  std::string_view raw;
  SearchText& st;

  size_t size() const {
    return st.body_in_raw ? st.body_in_raw->size : st.decoded_body.size();
  }
  std::string& Copied() {
    if (st.body_in_raw) {
      st.decoded_body.assign(
          raw.substr(st.body_in_raw->offset, st.body_in_raw->size));
      st.body_in_raw.reset();
    }
    return st.decoded_body;
  }
};

void AppendBody(const Part& part, BodyText& text) {
  if (text.size() >= kMaxSearchBodyBytes) return;
  if (part.is_multipart()) {
    for (const Part& c : part.children) AppendBody(c, text);
    return;
  }
  if (part.is_message()) {
    // The attached message's header text is part of this body (a SEARCH
    // BODY for its subject should match), then its own text.
    for (const Part& c : part.children) {
      AppendHeaders(text.raw, c, text.Copied(), kMaxSearchBodyBytes);
      AppendBody(c, text);
    }
    return;
  }
  if (part.type != "text" || part.opaque) return;
  // Only as the first text (an empty one before it is replaced: the text
  // would be this part's alone either way).
  if (text.size() == 0 &&
      internal::PartTextIsRaw(text.raw, part, kMaxSearchBodyBytes)) {
    text.st.body_in_raw = SearchText::Span{part.body_start, part.body_size()};
    return;
  }
  std::string& out = text.Copied();
  std::string decoded =
      internal::PartText(text.raw, part, kMaxSearchBodyBytes - out.size());
  if (!out.empty() && out.back() != '\n')
    AppendCapped(out, "\n", kMaxSearchBodyBytes);
  AppendCapped(out, decoded, kMaxSearchBodyBytes);
}

}  // namespace

SearchText ExtractSearchText(std::string_view raw, const Summary& summary) {
  SearchText st;
  // Defensive: a summary that does not match `raw` must not read past it.
  if (summary.root.body_end > raw.size()) return st;
  AppendHeaders(raw, summary.root, st.headers, kMaxSearchHeaderBytes);
  BodyText body{raw, st};
  AppendBody(summary.root, body);
  return st;
}

}  // namespace correio::mime
