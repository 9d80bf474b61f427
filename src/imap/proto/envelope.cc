#include "imap/proto/envelope.h"

#include <cstdint>

#include "base/strings.h"
#include "imap/proto/writer.h"

namespace correio::imap {
namespace {

bool Has8Bit(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  }
  return false;
}

// Length of the UTF-8 sequence starting with lead byte `c` (1 for
// continuation/invalid bytes, so callers always advance).
size_t SeqLen(unsigned char c) {
  if (c >= 0xf0 && c < 0xf8) return 4;
  if (c >= 0xe0) return c < 0xf0 ? 3 : 1;
  if (c >= 0xc0) return 2;
  return 1;
}

void AppendAddressList(std::string& out, const std::vector<mime::Address>& list,
                       bool utf8) {
  if (list.empty()) {
    out += "NIL";
    return;
  }
  out += '(';
  for (const mime::Address& a : list) {
    // RFC 9051 §7.5.2 address: (name adl mailbox host); adl is the
    // obsolete source route, almost always NIL.
    out += '(';
    AppendTextNString(out, a.name, utf8);
    out += ' ';
    AppendIdNString(out, a.route, utf8);
    out += ' ';
    if (!a.host && a.mailbox) {
      // Group start: the mailbox field carries the group's display name.
      AppendTextNString(out, a.mailbox, utf8);
    } else {
      AppendIdNString(out, a.mailbox, utf8);
    }
    out += ' ';
    AppendIdNString(out, a.host, utf8);
    out += ')';
  }
  out += ')';
}

}  // namespace

void AppendWireString(std::string& out, std::string_view s, bool utf8) {
  if (s.find_first_of(std::string_view("\0\r\n", 3)) ==
      std::string_view::npos) {
    AppendQuotedOrLiteral(out, s, utf8);
    return;
  }
  std::string clean;
  clean.reserve(s.size());
  for (char c : s) {
    if (c != '\0' && c != '\r' && c != '\n') clean += c;
  }
  AppendQuotedOrLiteral(out, clean, utf8);
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = SeqLen(c);
    if (len == 1 || c < 0xc2 || c > 0xf4 || i + len > s.size()) return false;
    uint32_t cp = c & (0xff >> (len + 1));
    for (size_t k = 1; k < len; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += len;
  }
  return true;
}

std::string EncodeRfc2047(std::string_view utf8) {
  if (!Has8Bit(utf8) && utf8.find("=?") == std::string_view::npos) {
    return std::string(utf8);
  }
  // 45 bytes of text -> 60 base64 characters + 12 of "=?utf-8?b?" "?=" = 72.
  constexpr size_t kChunk = 45;
  std::string out;
  size_t i = 0;
  while (i < utf8.size()) {
    size_t end = i;
    while (end < utf8.size()) {
      size_t len = SeqLen(static_cast<unsigned char>(utf8[end]));
      if (end + len > utf8.size()) len = utf8.size() - end;
      if (end + len - i > kChunk && end > i) break;
      end += len;
    }
    if (!out.empty()) out += ' ';
    out += "=?utf-8?b?";
    out += Base64Encode(utf8.substr(i, end - i));
    out += "?=";
    i = end;
  }
  return out;
}

void AppendTextNString(std::string& out, const std::optional<std::string>& s,
                       bool utf8) {
  if (!s) {
    out += "NIL";
    return;
  }
  if (!Has8Bit(*s)) {
    AppendWireString(out, *s, utf8);
    return;
  }
  if (utf8) {
    // Repair invalid UTF-8 (DecodeHeaderValue reads stray 8-bit bytes as
    // Latin-1) so a UTF8=ACCEPT client never gets malformed UTF-8.
    AppendWireString(out, IsValidUtf8(*s) ? *s : mime::DecodeHeaderValue(*s),
                     true);
    return;
  }
  // Decoding first also folds any encoded words already present, so mixed
  // "=?iso-8859-1?q?...?= Grüße" becomes one consistent UTF-8 encoding.
  AppendWireString(out, EncodeRfc2047(mime::DecodeHeaderValue(*s)), false);
}

void AppendIdNString(std::string& out, const std::optional<std::string>& s,
                     bool utf8) {
  if (!s) {
    out += "NIL";
    return;
  }
  if (Has8Bit(*s) && (!utf8 || !IsValidUtf8(*s))) {
    // Byte-exact 8-bit identifier: always a literal, even when short.
    std::string clean;
    for (char c : *s) {
      if (c != '\0' && c != '\r' && c != '\n') clean += c;
    }
    AppendLiteral(out, clean);
    return;
  }
  AppendWireString(out, *s, utf8);
}

void AppendEnvelope(std::string& out, const mime::Envelope& e, bool utf8) {
  out += '(';
  AppendIdNString(out, e.date, utf8);
  out += ' ';
  AppendTextNString(out, e.subject, utf8);
  for (const auto* list :
       {&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc}) {
    out += ' ';
    AppendAddressList(out, *list, utf8);
  }
  out += ' ';
  AppendIdNString(out, e.in_reply_to, utf8);
  out += ' ';
  AppendIdNString(out, e.message_id, utf8);
  out += ')';
}

std::string RenderEnvelope(const mime::Summary& s, bool utf8) {
  std::string out;
  AppendEnvelope(out, s.envelope, utf8);
  return out;
}

}  // namespace correio::imap
