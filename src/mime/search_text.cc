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

void AppendBody(std::string_view raw, const Part& part, std::string& out) {
  if (out.size() >= kMaxSearchBodyBytes) return;
  if (part.is_multipart()) {
    for (const Part& c : part.children) AppendBody(raw, c, out);
    return;
  }
  if (part.is_message()) {
    // The attached message's header text is part of this body (a SEARCH
    // BODY for its subject should match), then its own text.
    for (const Part& c : part.children) {
      AppendHeaders(raw, c, out, kMaxSearchBodyBytes);
      AppendBody(raw, c, out);
    }
    return;
  }
  if (part.type != "text" || part.opaque) return;
  std::string text =
      internal::PartText(raw, part, kMaxSearchBodyBytes - out.size());
  if (!out.empty() && out.back() != '\n')
    AppendCapped(out, "\n", kMaxSearchBodyBytes);
  AppendCapped(out, text, kMaxSearchBodyBytes);
}

}  // namespace

SearchText ExtractSearchText(std::string_view raw, const Summary& summary) {
  SearchText st;
  // Defensive: a summary that does not match `raw` must not read past it.
  if (summary.root.body_end > raw.size()) return st;
  AppendHeaders(raw, summary.root, st.headers, kMaxSearchHeaderBytes);
  AppendBody(raw, summary.root, st.body);
  return st;
}

}  // namespace correio::mime
