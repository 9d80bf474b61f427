#include "imap/proto/writer.h"

#include "imap/proto/envelope.h"

#include "base/strings.h"

namespace correio::imap {

namespace {

// Longer quoted strings are sent as literals: easier on clients and on us.
constexpr size_t kMaxQuoted = 1024;

bool IsAstringChar(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7f) return false;
  return std::string_view("(){%*\"\\").find(c) == std::string_view::npos;
}

bool Quotable(std::string_view s, bool utf8) {
  if (s.size() > kMaxQuoted) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u == 0 || u == '\r' || u == '\n') return false;
    if (u >= 0x80 && !utf8) return false;
  }
  // RFC 9051 §9: 8-bit quoted strings must be valid UTF-8; anything else
  // goes out as a literal.
  return !utf8 || IsValidUtf8(s);
}

}  // namespace

bool IsAtom(std::string_view s) {
  if (s.empty() || EqualsIgnoreCase(s, "NIL")) return false;
  for (char c : s) {
    if (!IsAstringChar(c)) return false;
  }
  return true;
}

void AppendLiteral(std::string& out, std::string_view data, bool binary) {
  if (binary) out += '~';
  out += '{';
  out += std::to_string(data.size());
  out += "}\r\n";
  out.append(data);
}

void AppendQuotedOrLiteral(std::string& out, std::string_view s, bool utf8) {
  if (!Quotable(s, utf8)) {
    AppendLiteral(out, s, false);
    return;
  }
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

void AppendAstring(std::string& out, std::string_view s, bool utf8) {
  if (IsAtom(s)) {
    out.append(s);
  } else {
    AppendQuotedOrLiteral(out, s, utf8);
  }
}

void AppendNString(std::string& out, const std::optional<std::string>& s,
                   bool utf8) {
  if (!s) {
    out += "NIL";
  } else {
    AppendQuotedOrLiteral(out, *s, utf8);
  }
}

}  // namespace correio::imap
