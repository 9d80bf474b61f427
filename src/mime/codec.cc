// Decoding helpers: header scanning and lookup, Content-Type and
// -Disposition, RFC 2045 transfer encodings, charsets, HTML to text. GMime
// does the RFC 2231 parameter work and the charset aliasing; the rest is
// small enough to do here with exact control over limits. RFC 2047 words
// are in rfc2047.cc, RFC 5322 dates in date.cc.
#include <gmime/gmime.h>
#include <iconv.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "base/strings.h"
#include "mime/message.h"
#include "mime/mime_internal.h"

namespace correio::mime {
namespace internal {

void EnsureGMime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

namespace {

// GMime takes C strings: drop embedded NULs (they cannot be meaningful in
// a header value) and cap the length.
std::string CString(std::string_view s, size_t max = std::string::npos) {
  if (s.size() > max) s = s.substr(0, max);
  std::string out(s);
  for (char& c : out) {
    if (c == '\0') c = ' ';
  }
  return out;
}

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

bool IsTokenChar(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7f) return false;
  return std::strchr("()<>@,;:\\\"/[]?=", c) == nullptr;
}

std::vector<Param> ConvertParams(GMimeParamList* list, uint32_t max_params) {
  std::vector<Param> out;
  if (list == nullptr) return out;
  int n = g_mime_param_list_length(list);
  for (int i = 0; i < n && out.size() < max_params; ++i) {
    GMimeParam* p = g_mime_param_list_get_parameter_at(list, i);
    const char* name = g_mime_param_get_name(p);
    const char* value = g_mime_param_get_value(p);
    if (name == nullptr) continue;
    out.push_back(Param{MakeValidUtf8(AsciiLowercase(name)),
                        MakeValidUtf8(value != nullptr ? value : "")});
  }
  return out;
}

// GMime parses at most this much of a Content-Type/-Disposition value; the
// cap keeps a pathological header (100,000 RFC 2231 sections) bounded.
constexpr size_t kMaxParamHeaderBytes = 256 * 1024;

// The longest prefix of a parameter list that is at most `max` octets and
// ends where a parameter ends (before a ';' outside quotes), so a cut never
// leaves half a quoted value: `name*9="p9` would reach GMime with a stray
// quote and become part of the value.
std::string_view CutAtParameter(std::string_view v, size_t max) {
  if (v.size() <= max) return v;
  size_t cut = 0;
  bool quoted = false;
  for (size_t i = 0; i < max; ++i) {
    char c = v[i];
    if (quoted) {
      if (c == '\\') {
        ++i;  // the escaped octet
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ';') {
      cut = i;
    }
  }
  return v.substr(0, cut);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

constexpr int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Each octet's value in the base64 alphabet, -1 if it is not in it.
constexpr std::array<int8_t, 256> kBase64Values = [] {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (int i = 0; i < 256; ++i) {
    t[static_cast<size_t>(i)] =
        static_cast<int8_t>(Base64Value(static_cast<char>(i)));
  }
  return t;
}();

// RFC 2045 §6.8. Strict mode rejects characters outside the alphabet
// (whitespace aside) and data after the padding; lenient mode skips them.
//
// Whole quanta of four alphabet characters (all of a line but its end)
// are decoded four at a time; everything else (line ends, padding, junk)
// goes through the character loop, which gives the same octets for them.
// Octet by octet with push_back, this was 5% of the store pool's CPU in
// the IMAP bench (APPEND extracting the search text of base64 parts).
std::optional<std::string> DecodeBase64(std::string_view in, bool strict) {
  // At most three octets per four characters, plus a partial quantum.
  std::string out(in.size() / 4 * 3 + 3, '\0');
  char* o = out.data();
  auto value = [](char c) {
    return kBase64Values[static_cast<unsigned char>(c)];
  };
  uint32_t acc = 0;
  int bits = 0;
  bool padded = false;
  size_t i = 0;
  while (i < in.size()) {
    if (bits == 0 && !padded) {  // at a quantum boundary
      for (; i + 4 <= in.size(); i += 4) {
        int a = value(in[i]), b = value(in[i + 1]), c = value(in[i + 2]),
            d = value(in[i + 3]);
        if ((a | b | c | d) < 0) break;
        uint32_t v = static_cast<uint32_t>(a << 18 | b << 12 | c << 6 | d);
        *o++ = static_cast<char>(v >> 16);
        *o++ = static_cast<char>(v >> 8 & 0xff);
        *o++ = static_cast<char>(v & 0xff);
      }
      if (i == in.size()) break;
    }
    char c = in[i++];
    if (c == '\r' || c == '\n' || IsWsp(c)) continue;
    if (c == '=') {
      padded = true;
      continue;
    }
    int v = value(c);
    if (v < 0 || padded) {
      if (strict) return std::nullopt;
      if (v < 0) continue;
      // Lenient: data after padding starts a new quantum (concatenated
      // base64 blobs are seen in the wild).
      padded = false;
      acc = 0;
      bits = 0;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      *o++ = static_cast<char>((acc >> bits) & 0xff);
    }
  }
  out.resize(static_cast<size_t>(o - out.data()));
  return out;
}

// RFC 2045 §6.7, line by line; keeps each line's own line end.
std::string DecodeQuotedPrintable(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t pos = 0;
  while (pos < in.size()) {
    size_t nl = in.find('\n', pos);
    bool has_nl = nl != std::string_view::npos;
    size_t line_end = has_nl ? nl : in.size();
    bool crlf = has_nl && line_end > pos && in[line_end - 1] == '\r';
    size_t content_end = crlf ? line_end - 1 : line_end;
    std::string_view line = in.substr(pos, content_end - pos);
    // Rule 3: trailing whitespace on an encoded line is padding.
    while (!line.empty() && IsWsp(line.back())) line.remove_suffix(1);
    bool soft = !line.empty() && line.back() == '=';
    if (soft) line.remove_suffix(1);
    for (size_t i = 0; i < line.size(); ++i) {
      char c = line[i];
      if (c == '=') {
        int hi = i + 1 < line.size() ? HexValue(line[i + 1]) : -1;
        int lo = i + 2 < line.size() ? HexValue(line[i + 2]) : -1;
        if (hi >= 0 && lo >= 0) {
          out.push_back(static_cast<char>(hi * 16 + lo));
          i += 2;
          continue;
        }
      }
      out.push_back(c);
    }
    if (has_nl && !soft) out += crlf ? "\r\n" : "\n";
    pos = has_nl ? nl + 1 : in.size();
  }
  return out;
}

}  // namespace

HeaderScan ScanHeader(std::string_view raw, size_t start, size_t end,
                      uint64_t max_bytes, uint32_t max_fields,
                      const std::function<void(const HeaderField&)>& on_field) {
  HeaderScan scan;
  scan.body_start = end;
  size_t pos = start;
  uint32_t fields = 0;
  // The field being assembled: [name_begin, name_end) and value range.
  bool open = false;
  HeaderField cur;
  size_t value_begin = 0, value_end = 0;
  // Bytes at or past window_end are never reported (max_bytes), but the
  // scan goes on to find the blank line so body_start stays exact.
  size_t window_end =
      max_bytes >= end - start ? end : start + static_cast<size_t>(max_bytes);
  bool window_closed = false;
  auto flush = [&] {
    if (!open) return;
    open = false;
    if (fields >= max_fields) {
      scan.truncated = true;
      return;
    }
    ++fields;
    cur.value = raw.substr(value_begin, value_end - value_begin);
    on_field(cur);
  };
  while (pos < end) {
    const void* hit = std::memchr(raw.data() + pos, '\n', end - pos);
    size_t nl = hit ? static_cast<const char*>(hit) - raw.data() : end;
    size_t next = hit ? nl + 1 : end;
    size_t content_end = (hit && nl > pos && raw[nl - 1] == '\r') ? nl - 1 : nl;
    if (!scan.has_8bit) {
      for (size_t i = pos; i < content_end; ++i) {
        if (static_cast<unsigned char>(raw[i]) >= 0x80) {
          scan.has_8bit = true;
          break;
        }
      }
    }
    if (content_end == pos && hit) {  // the blank line (RFC 5322 §2.1)
      flush();
      scan.body_start = next;
      return scan;
    }
    if (window_closed || pos >= window_end) {
      if (!window_closed) {
        flush();
        window_closed = true;
        scan.truncated = true;
      }
      pos = next;
      continue;
    }
    // A line straddling the window is clipped: the field it belongs to
    // keeps the part of its value inside the window (a 3 MB To: line still
    // yields its first addresses), and nothing after it is reported.
    if (content_end > window_end) content_end = window_end;
    if (IsWsp(raw[pos])) {
      if (open) value_end = content_end;  // RFC 5322 §2.2.3 folding
    } else {
      flush();
      std::string_view line = raw.substr(pos, content_end - pos);
      size_t colon = line.find(':');
      if (colon != std::string_view::npos && colon > 0) {
        std::string_view name = line.substr(0, colon);
        while (!name.empty() && IsWsp(name.back())) name.remove_suffix(1);
        if (!name.empty()) {
          open = true;
          cur.name = name;
          value_begin = pos + colon + 1;
          while (value_begin < content_end && IsWsp(raw[value_begin])) {
            ++value_begin;
          }
          value_end = content_end;
        }
      }
    }
    pos = next;
  }
  flush();
  return scan;
}

ContentType ParseContentType(std::string_view unfolded, uint32_t max_params) {
  ContentType ct;
  std::string_view v = TrimWhitespace(unfolded);
  // type "/" subtype, both RFC 2045 tokens (comments before the slash are
  // not supported: nobody sends them).
  size_t slash = v.find('/');
  if (slash == std::string_view::npos) return ct;
  std::string_view type = TrimWhitespace(v.substr(0, slash));
  std::string_view rest = v.substr(slash + 1);
  size_t i = 0;
  while (i < rest.size() && IsWsp(rest[i])) ++i;
  size_t sub_begin = i;
  while (i < rest.size() && IsTokenChar(rest[i])) ++i;
  std::string_view subtype = rest.substr(sub_begin, i - sub_begin);
  if (type.empty() || subtype.empty()) return ct;
  for (char c : type) {
    if (!IsTokenChar(c)) return ct;
  }
  ct.type = AsciiLowercase(type);
  ct.subtype = AsciiLowercase(subtype);
  ct.valid = true;
  if (v.find(';') == std::string_view::npos) return ct;
  EnsureGMime();
  std::string c = CString(CutAtParameter(v, kMaxParamHeaderBytes));
  GMimeContentType* parsed = g_mime_content_type_parse(nullptr, c.c_str());
  if (parsed != nullptr) {
    ct.params =
        ConvertParams(g_mime_content_type_get_parameters(parsed), max_params);
    g_object_unref(parsed);
  }
  return ct;
}

Disposition ParseDisposition(std::string_view unfolded, uint32_t max_params) {
  Disposition d;
  std::string_view v = TrimWhitespace(unfolded);
  size_t i = 0;
  while (i < v.size() && IsTokenChar(v[i])) ++i;
  d.value = AsciiLowercase(v.substr(0, i));
  if (v.find(';') == std::string_view::npos) return d;
  EnsureGMime();
  std::string c = CString(CutAtParameter(v, kMaxParamHeaderBytes));
  GMimeContentDisposition* parsed =
      g_mime_content_disposition_parse(nullptr, c.c_str());
  if (parsed != nullptr) {
    d.params = ConvertParams(g_mime_content_disposition_get_parameters(parsed),
                             max_params);
    g_object_unref(parsed);
  }
  return d;
}

std::string DecodeTransferLenient(std::string_view body,
                                  std::string_view encoding) {
  if (EqualsIgnoreCase(encoding, "base64")) {
    return *DecodeBase64(body, /*strict=*/false);
  }
  if (EqualsIgnoreCase(encoding, "quoted-printable")) {
    return DecodeQuotedPrintable(body);
  }
  return std::string(body);
}

namespace {

// Octets at the start of `s` that are ASCII other than NUL, 8 at a time:
// mail text is mostly that, and g_utf8_validate_len goes octet by octet
// (8% of the io thread's time for 100 KB messages in bench/).
size_t PlainAsciiPrefix(std::string_view s) {
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    bool has_zero = ((w - kOnes) & ~w & kHigh) != 0;
    if ((w & kHigh) != 0 || has_zero) break;
  }
  while (i < s.size() && s[i] != '\0' &&
         static_cast<unsigned char>(s[i]) < 0x80) {
    ++i;
  }
  return i;
}

}  // namespace

bool IsCleanUtf8(std::string_view s) {
  const gchar* end = nullptr;
  // Validation resumes after the ASCII prefix: a character boundary.
  // g_utf8_validate_len refuses NUL octets.
  size_t ascii = PlainAsciiPrefix(s);
  return ascii == s.size() ||
         g_utf8_validate_len(s.data() + ascii,
                             static_cast<gssize>(s.size() - ascii), &end);
}

std::string MakeValidUtf8(std::string_view s) {
  if (IsCleanUtf8(s)) return std::string(s);
  // g_utf8_make_valid stops at NUL bytes; keep going past them ourselves.
  std::string out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t nul = s.find('\0', pos);
    size_t stop = nul == std::string_view::npos ? s.size() : nul;
    if (stop > pos) {
      gchar* piece =
          g_utf8_make_valid(s.data() + pos, static_cast<gssize>(stop - pos));
      out += piece;
      g_free(piece);
    }
    if (nul == std::string_view::npos) break;
    out.push_back('\0');
    pos = nul + 1;
  }
  return out;
}

std::string HtmlToText(std::string_view html) {
  std::string out;
  out.reserve(html.size() / 2);
  size_t i = 0;
  auto skip_past = [&](std::string_view needle) {
    // Case-insensitive forward search; the cursor only moves forward.
    while (i < html.size()) {
      if (html.size() - i >= needle.size() &&
          EqualsIgnoreCase(html.substr(i, needle.size()), needle)) {
        i += needle.size();
        return;
      }
      ++i;
    }
  };
  while (i < html.size()) {
    char c = html[i];
    if (c == '<') {
      if (html.substr(i, 4) == "<!--") {
        i += 4;
        skip_past("-->");
        continue;
      }
      size_t j = i + 1;
      if (j < html.size() && html[j] == '/') ++j;
      size_t name_begin = j;
      while (j < html.size() &&
             std::isalnum(static_cast<unsigned char>(html[j])))
        ++j;
      std::string name =
          AsciiLowercase(html.substr(name_begin, j - name_begin));
      bool closing = html[i + 1] == '/';
      size_t gt = html.find('>', j);
      i = gt == std::string_view::npos ? html.size() : gt + 1;
      if (!closing && (name == "script" || name == "style")) {
        skip_past(name == "script" ? "</script" : "</style");
        size_t gt2 = html.find('>', i);
        i = gt2 == std::string_view::npos ? html.size() : gt2 + 1;
        continue;
      }
      static constexpr std::string_view kBlock[] = {
          "br", "p",  "div",        "tr", "li",   "td", "th",
          "h1", "h2", "h3",         "h4", "h5",   "h6", "table",
          "ul", "ol", "blockquote", "hr", "title"};
      for (std::string_view b : kBlock) {
        if (name == b) {
          out.push_back('\n');
          break;
        }
      }
      continue;
    }
    if (c == '&') {
      size_t semi = html.find(';', i);
      if (semi != std::string_view::npos && semi - i <= 10) {
        std::string_view ent = html.substr(i + 1, semi - i - 1);
        std::string rep;
        if (ent == "amp")
          rep = "&";
        else if (ent == "lt")
          rep = "<";
        else if (ent == "gt")
          rep = ">";
        else if (ent == "quot")
          rep = "\"";
        else if (ent == "apos")
          rep = "'";
        else if (ent == "nbsp")
          rep = " ";
        else if (ent.size() >= 2 && ent[0] == '#') {
          uint32_t cp = 0;
          bool hex = ent[1] == 'x' || ent[1] == 'X';
          bool ok = ent.size() > (hex ? 2u : 1u);
          for (size_t k = hex ? 2 : 1; k < ent.size() && ok; ++k) {
            int d = hex ? HexValue(ent[k])
                        : (std::isdigit(static_cast<unsigned char>(ent[k]))
                               ? ent[k] - '0'
                               : -1);
            if (d < 0)
              ok = false;
            else
              cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
          }
          if (ok && cp > 0 && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF)) {
            char buf[8];
            int n = g_unichar_to_utf8(cp, buf);
            rep.assign(buf, static_cast<size_t>(n));
          }
        }
        if (!rep.empty()) {
          out += rep;
          i = semi + 1;
          continue;
        }
      }
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

bool AppendCollapsed(std::string& out, size_t& chars, std::string_view text,
                     size_t max_chars) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (chars >= max_chars) return false;
    auto u = static_cast<unsigned char>(text[i]);
    bool space = u == ' ' || u == '\t' || u == '\r' || u == '\n' || u == '\f' ||
                 u == '\v' || u == 0;
    if (space) {
      if (!out.empty() && out.back() != ' ') {
        out.push_back(' ');
        ++chars;
      }
      continue;
    }
    // Copy one whole UTF-8 sequence (input is valid UTF-8).
    size_t len = u < 0x80 ? 1 : u < 0xE0 ? 2 : u < 0xF0 ? 3 : 4;
    if (i + len > text.size()) len = text.size() - i;
    out.append(text.substr(i, len));
    ++chars;
    i += len - 1;
  }
  return chars < max_chars;
}

std::string PartText(std::string_view raw, const Part& part, size_t max_bytes) {
  std::string_view body = raw.substr(part.body_start, part.body_size());
  // Encoded forms are at most ~1.4x the decoded size; looking at a bounded
  // prefix keeps work proportional to the output cap.
  if (body.size() > max_bytes * 2) body = body.substr(0, max_bytes * 2);
  std::string decoded = DecodeTransferLenient(body, part.encoding);
  if (decoded.size() > max_bytes) decoded.resize(max_bytes);
  const std::string* charset = part.FindParam("charset");
  std::string text = ConvertToUtf8(decoded, charset ? *charset : "");
  if (part.subtype == "html") text = HtmlToText(text);
  return text;
}

namespace {

// Charsets TryConvertToUtf8 takes as UTF-8 (ASCII is a subset).
bool IsUtf8Charset(std::string_view charset) {
  std::string_view cs = TrimWhitespace(charset);
  return cs.empty() || EqualsIgnoreCase(cs, "us-ascii") ||
         EqualsIgnoreCase(cs, "utf-8") || EqualsIgnoreCase(cs, "utf8");
}

}  // namespace

bool PartTextIsRaw(std::string_view raw, const Part& part, size_t max_bytes) {
  // The same decisions as PartText's, in its order.
  if (part.body_end > raw.size() || part.body_size() > max_bytes) return false;
  if (EqualsIgnoreCase(part.encoding, "base64") ||
      EqualsIgnoreCase(part.encoding, "quoted-printable")) {
    return false;  // DecodeTransferLenient decodes these
  }
  const std::string* charset = part.FindParam("charset");
  if (charset && !IsUtf8Charset(*charset)) return false;
  if (part.subtype == "html") return false;
  return IsCleanUtf8(raw.substr(part.body_start, part.body_size()));
}

namespace {

// iconv descriptors kept open per thread, most recently used last.
// glibc maps a charset's gconv module (dlopen, mprotect: a TLB shootdown on
// every core) at iconv_open and may unmap it at iconv_close; converting a
// header per message that way was a tenth of an IMAP server's CPU under
// SEARCH. A charset iconv does not know is remembered too (as -1), so
// hostile names do not rescan the module list either.
class IconvCache {
 public:
  ~IconvCache() {
    for (auto& e : entries_) {
      if (e.cd != kNone) g_mime_iconv_close(e.cd);
    }
  }
  iconv_t Get(const std::string& charset) {
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].charset == charset) {
        Entry e = std::move(entries_[i]);
        entries_.erase(entries_.begin() + static_cast<ptrdiff_t>(i));
        entries_.push_back(std::move(e));
        return entries_.back().cd;
      }
    }
    if (entries_.size() >= kMaxEntries) {
      if (entries_.front().cd != kNone) g_mime_iconv_close(entries_.front().cd);
      entries_.erase(entries_.begin());
    }
    entries_.push_back({charset, g_mime_iconv_open("UTF-8", charset.c_str())});
    return entries_.back().cd;
  }

 private:
  static constexpr size_t kMaxEntries = 16;
  static inline const iconv_t kNone = reinterpret_cast<iconv_t>(-1);
  struct Entry {
    std::string charset;
    iconv_t cd;
  };
  std::vector<Entry> entries_;
};

iconv_t CachedIconv(const std::string& charset) {
  thread_local IconvCache cache;
  return cache.Get(charset);
}

}  // namespace

bool TryConvertToUtf8(std::string_view text, std::string_view charset,
                      std::string& result) {
  if (IsUtf8Charset(charset)) {
    result = MakeValidUtf8(text);
    return true;
  }
  std::string_view cs = TrimWhitespace(charset);
  if (cs.size() > 64 || cs.find('\0') != std::string_view::npos) return false;
  EnsureGMime();
  iconv_t cd = CachedIconv(AsciiLowercase(cs));
  if (cd == reinterpret_cast<iconv_t>(-1)) return false;
  iconv(cd, nullptr, nullptr, nullptr, nullptr);  // reset cached state
  std::string out;
  out.resize(text.size() * 2 + 16);
  char* in = const_cast<char*>(text.data());
  size_t in_left = text.size();
  size_t used = 0;
  auto grow = [&] { out.resize(out.size() * 2 + 16); };
  while (true) {
    char* dst = out.data() + used;
    size_t out_left = out.size() - used;
    size_t rc = iconv(cd, in_left ? &in : nullptr, in_left ? &in_left : nullptr,
                      &dst, &out_left);
    used = out.size() - out_left;
    if (rc != static_cast<size_t>(-1)) {
      if (in_left == 0) break;
      continue;
    }
    if (errno == E2BIG) {
      grow();
      continue;
    }
    // EILSEQ or EINVAL (truncated sequence): replace one byte, go on.
    if (out.size() - used < 3) grow();
    out.replace(used, 3, "\xEF\xBF\xBD");
    used += 3;
    if (in_left == 0) break;
    ++in;
    --in_left;
    iconv(cd, nullptr, nullptr, nullptr, nullptr);
  }
  out.resize(used);
  result = MakeValidUtf8(out);
  return true;
}

}  // namespace internal

const std::string* Part::FindParam(std::string_view name) const {
  for (const auto& p : params) {
    if (EqualsIgnoreCase(p.name, name)) return &p.value;
  }
  return nullptr;
}

Result<std::string> DecodeTransfer(std::string_view body,
                                   std::string_view encoding) {
  std::string_view enc = TrimWhitespace(encoding);
  if (enc.empty() || EqualsIgnoreCase(enc, "7bit") ||
      EqualsIgnoreCase(enc, "8bit") || EqualsIgnoreCase(enc, "binary")) {
    return std::string(body);
  }
  if (EqualsIgnoreCase(enc, "base64")) {
    auto decoded = internal::DecodeBase64(body, /*strict=*/true);
    if (!decoded) return Fail(ErrorCode::kInvalid, "invalid base64 data");
    return std::move(*decoded);
  }
  if (EqualsIgnoreCase(enc, "quoted-printable")) {
    return internal::DecodeQuotedPrintable(body);
  }
  return Fail(ErrorCode::kInvalid, "unknown content-transfer-encoding: " +
                                       std::string(enc.substr(0, 64)));
}

std::vector<std::string_view> FindHeaders(std::string_view header_block,
                                          std::string_view name) {
  std::vector<std::string_view> out;
  internal::ScanHeader(header_block, 0, header_block.size(), UINT64_MAX,
                       UINT32_MAX, [&](const internal::HeaderField& f) {
                         if (EqualsIgnoreCase(f.name, name)) {
                           out.push_back(f.value);
                         }
                       });
  return out;
}

std::vector<std::string> FindUnfoldedHeaders(std::string_view header_block,
                                             std::string_view name) {
  std::vector<std::string> out;
  for (std::string_view v : FindHeaders(header_block, name)) {
    out.push_back(UnfoldHeaderValue(v));
  }
  return out;
}

std::string UnfoldHeaderValue(std::string_view folded) {
  std::string out;
  out.reserve(folded.size());
  for (char c : folded) {
    if (c != '\r' && c != '\n') out.push_back(c);
  }
  return std::string(TrimWhitespace(out));
}

std::string ConvertToUtf8(std::string_view text, std::string_view charset) {
  std::string out;
  if (internal::TryConvertToUtf8(text, charset, out)) return out;
  return internal::MakeValidUtf8(text);
}

}  // namespace correio::mime
