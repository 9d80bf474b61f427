#include "imap/proto/mutf7.h"

#include <cstdint>
#include <vector>

namespace correio::imap {
namespace {

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int AlphabetIndex(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == ',') return 63;
  return -1;
}

bool IsDirect(uint32_t cp) { return cp >= 0x20 && cp <= 0x7e; }

// Next code point of UTF-8 `s` at `i` (advanced); U+FFFD for any invalid,
// overlong or surrogate sequence (one byte consumed).
uint32_t NextCodePoint(std::string_view s, size_t& i) {
  auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t c = b(i);
  if (c < 0x80) {
    ++i;
    return c;
  }
  size_t len = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if ((c & 0xe0) == 0xc0) {
    len = 2, cp = c & 0x1f, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, cp = c & 0x0f, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    ++i;
    return 0xfffd;
  }
  if (i + len > s.size()) {
    ++i;
    return 0xfffd;
  }
  for (size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) {
      ++i;
      return 0xfffd;
    }
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    ++i;
    return 0xfffd;
  }
  i += len;
  return cp;
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// Modified base64 of UTF-16BE units, without padding.
void AppendBase64(std::string& out, const std::vector<uint16_t>& units) {
  uint32_t bits = 0;
  int nbits = 0;
  for (uint16_t u : units) {
    bits = (bits << 16) | u;
    nbits += 16;
    while (nbits >= 6) {
      nbits -= 6;
      out.push_back(kAlphabet[(bits >> nbits) & 0x3f]);
    }
    bits &= (1u << nbits) - 1;
  }
  if (nbits > 0) out.push_back(kAlphabet[(bits << (6 - nbits)) & 0x3f]);
}

}  // namespace

std::string EncodeMutf7(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  std::vector<uint16_t> run;
  auto flush = [&] {
    if (run.empty()) return;
    out.push_back('&');
    AppendBase64(out, run);
    out.push_back('-');
    run.clear();
  };
  size_t i = 0;
  while (i < utf8.size()) {
    uint32_t cp = NextCodePoint(utf8, i);
    if (IsDirect(cp)) {
      flush();
      out.push_back(static_cast<char>(cp));
      if (cp == '&') out.push_back('-');
    } else if (cp >= 0x10000) {
      cp -= 0x10000;
      run.push_back(static_cast<uint16_t>(0xd800 | (cp >> 10)));
      run.push_back(static_cast<uint16_t>(0xdc00 | (cp & 0x3ff)));
    } else {
      run.push_back(static_cast<uint16_t>(cp));
    }
  }
  flush();
  return out;
}

std::optional<std::string> DecodeMutf7(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  bool last_was_run = false;  // the previous token was an encoded run
  while (i < in.size()) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c < 0x20 || c > 0x7e) return std::nullopt;
    if (c != '&') {
      out.push_back(static_cast<char>(c));
      ++i;
      last_was_run = false;
      continue;
    }
    ++i;
    if (i < in.size() && in[i] == '-') {  // "&-" is '&'
      out.push_back('&');
      ++i;
      last_was_run = false;
      continue;
    }
    // RFC 3501 §5.1.3: a non-printable run must be encoded as one run, so
    // "&AAA-&AAA-" (two runs back to back) is not canonical.
    if (last_was_run) return std::nullopt;
    uint32_t bits = 0;
    int nbits = 0;
    uint32_t high = 0;  // pending high surrogate
    size_t units = 0;
    while (true) {
      if (i >= in.size()) return std::nullopt;  // unterminated
      char d = in[i++];
      if (d == '-') break;
      int v = AlphabetIndex(d);
      if (v < 0) return std::nullopt;
      bits = (bits << 6) | static_cast<uint32_t>(v);
      nbits += 6;
      if (nbits < 16) continue;
      nbits -= 16;
      uint32_t u = (bits >> nbits) & 0xffff;
      bits &= (1u << nbits) - 1;
      ++units;
      if (high != 0) {
        if (u < 0xdc00 || u > 0xdfff) return std::nullopt;
        AppendUtf8(out, 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
        high = 0;
      } else if (u >= 0xd800 && u <= 0xdbff) {
        high = u;
      } else if (u >= 0xdc00 && u <= 0xdfff) {
        return std::nullopt;  // lone low surrogate
      } else if (u == 0 || IsDirect(u)) {
        // Printable ASCII must be written directly; NUL is never valid.
        return std::nullopt;
      } else {
        AppendUtf8(out, u);
      }
    }
    // Leftover: fewer than 6 bits, all zero; an empty run "&-" was handled
    // above, so units == 0 here means junk like "&A-".
    if (units == 0 || high != 0 || nbits >= 6 || bits != 0) {
      return std::nullopt;
    }
    last_was_run = true;
  }
  return out;
}

}  // namespace correio::imap
