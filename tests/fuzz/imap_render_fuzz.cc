// IMAP rendering of parsed messages (src/imap/proto/envelope.h,
// bodystructure.h, section.h): the input is a message; it is parsed with
// mime::Parse and then ENVELOPE, BODY and BODYSTRUCTURE are rendered for
// UTF8=ACCEPT and 7-bit clients and checked against the RFC 9051 §9
// grammar by a small independent reader: balanced lists, quoted strings
// without CR/LF/NUL and with only \" and \\ escapes, literals whose counts
// match and that carry no NUL (RFC 3501 §4.3), atoms of ATOM-CHAR, and for
// 7-bit clients nothing 8-bit outside literals. BODY[section] and
// BINARY[part] extraction run over the first parts of the tree.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "imap/proto/bodystructure.h"
#include "imap/proto/envelope.h"
#include "imap/proto/section.h"
#include "mime/message.h"

namespace {

using correio::fuzz::IsUtf8;

// With UTF8=ACCEPT, invalid UTF-8 must go out as a literal, never quoted
// (a fixed bug; regression test in
// src/imap/proto/imap_proto_fuzz_regress_test.cc).
constexpr bool kRequireUtf8Quoted = true;

class ResponseReader {
 public:
  ResponseReader(std::string_view s, bool utf8) : s_(s), utf8_(utf8) {}

  // One value followed by the end of input.
  bool ReadAll() { return Value(0) && s_.empty(); }

 private:
  bool Value(int depth) {
    if (s_.empty() || depth > 2000) return false;
    switch (s_[0]) {
      case '(':
        return List(depth);
      case '"':
        return Quoted();
      case '{':
        return Literal();
      default:
        return Atom();
    }
  }

  bool List(int depth) {
    s_.remove_prefix(1);
    if (!s_.empty() && s_[0] == ')') {
      s_.remove_prefix(1);
      return true;
    }
    for (;;) {
      bool was_list = s_[0] == '(';
      if (!Value(depth + 1)) return false;
      if (s_.empty()) return false;
      if (s_[0] == ')') {
        s_.remove_prefix(1);
        return true;
      }
      // RFC 9051 §9 body-type-mpart = 1*body SP media-subtype: the bodies
      // of a multipart follow each other without a space.
      if (was_list && s_[0] == '(') continue;
      if (s_[0] != ' ') return false;
      s_.remove_prefix(1);
    }
  }

  bool Quoted() {
    s_.remove_prefix(1);
    std::string content;
    for (size_t i = 0; i < s_.size(); ++i) {
      char c = s_[i];
      if (c == '"') {
        s_.remove_prefix(i + 1);
        return utf8_ && kRequireUtf8Quoted ? IsUtf8(content) : true;
      }
      if (c == '\r' || c == '\n' || c == '\0') return false;
      if (!utf8_ && static_cast<unsigned char>(c) >= 0x80) return false;
      if (c == '\\') {
        if (i + 1 >= s_.size() || (s_[i + 1] != '"' && s_[i + 1] != '\\')) {
          return false;
        }
        ++i;
        c = s_[i];
      }
      content.push_back(c);
    }
    return false;
  }

  bool Literal() {
    size_t close = s_.find('}');
    if (close == s_.npos || close < 2) return false;
    uint64_t n = 0;
    for (size_t i = 1; i < close; ++i) {
      if (s_[i] < '0' || s_[i] > '9' || i > 19) return false;
      n = n * 10 + static_cast<uint64_t>(s_[i] - '0');
    }
    s_.remove_prefix(close + 1);
    if (s_.substr(0, 2) != "\r\n") return false;
    s_.remove_prefix(2);
    if (n > s_.size()) return false;
    if (s_.substr(0, n).find('\0') != s_.npos) return false;
    s_.remove_prefix(n);
    return true;
  }

  bool Atom() {
    size_t i = 0;
    while (i < s_.size()) {
      auto c = static_cast<unsigned char>(s_[i]);
      if (c <= 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '{' ||
          c == '"' || c == '%' || c == '*' || c == '\\') {
        break;
      }
      ++i;
    }
    if (i == 0) return false;
    s_.remove_prefix(i);
    return true;
  }

  std::string_view s_;
  bool utf8_;
};

void CheckRendered(const std::string& out, bool utf8) {
  if (!ResponseReader(out, utf8).ReadAll()) {
    std::fprintf(stderr, "not RFC 9051 syntax (utf8=%d): %s\n", utf8,
                 out.c_str());
    FUZZ_CHECK(!"rendered response parses");
  }
}

// Part numbers of the first parts of the tree, depth-first, at most `max`.
void CollectParts(const correio::mime::Part& p, std::vector<uint32_t>& prefix,
                  std::vector<std::vector<uint32_t>>& out, size_t max) {
  const auto& kids = p.is_message() ? p.children.front().children : p.children;
  // A message/rfc822 whose encapsulated root is not multipart: its body is
  // part 1.
  if (p.is_message() && kids.empty()) {
    prefix.push_back(1);
    if (out.size() < max) out.push_back(prefix);
    prefix.pop_back();
    return;
  }
  for (size_t i = 0; i < kids.size() && out.size() < max; ++i) {
    prefix.push_back(static_cast<uint32_t>(i + 1));
    out.push_back(prefix);
    CollectParts(kids[i], prefix, out, max);
    prefix.pop_back();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace imap = correio::imap;
  std::string_view raw = correio::fuzz::AsView(data, size);
  auto s = correio::mime::Parse(raw);
  FUZZ_CHECK(s.has_value());

  for (bool utf8 : {false, true}) {
    CheckRendered(imap::RenderEnvelope(*s, utf8), utf8);
    for (bool extended : {false, true}) {
      CheckRendered(imap::RenderBodyStructure(*s, extended, utf8), utf8);
    }
  }

  imap::Section whole;
  FUZZ_CHECK(imap::ExtractSection(raw, *s, whole) == raw);
  imap::Section header;
  header.kind = imap::Section::Kind::kHeader;
  FUZZ_CHECK(imap::ExtractSection(raw, *s, header) ==
             raw.substr(0, s->root.body_start));
  imap::Section text;
  text.kind = imap::Section::Kind::kText;
  FUZZ_CHECK(imap::ExtractSection(raw, *s, text) ==
             raw.substr(s->root.body_start));
  imap::Section fields;
  fields.kind = imap::Section::Kind::kHeaderFields;
  fields.fields = {"Subject", "from", "X-Nope"};
  std::string f = imap::ExtractSection(raw, *s, fields);
  FUZZ_CHECK(f.size() >= 2 && f.ends_with("\r\n"));

  std::vector<std::vector<uint32_t>> parts;
  std::vector<uint32_t> prefix;
  if (!s->root.is_multipart() && !s->root.is_message()) parts.push_back({1});
  CollectParts(s->root, prefix, parts, 16);
  for (const auto& part : parts) {
    const correio::mime::Part* p = imap::FindPart(*s, part);
    if (p == nullptr) continue;
    for (auto kind :
         {imap::Section::Kind::kWhole, imap::Section::Kind::kMime,
          imap::Section::Kind::kHeader, imap::Section::Kind::kText}) {
      imap::Section sec;
      sec.part = part;
      sec.kind = kind;
      std::string out = imap::ExtractSection(raw, *s, sec);
      if (kind == imap::Section::Kind::kWhole) {
        FUZZ_CHECK(out == raw.substr(p->body_start, p->body_size()));
      }
      FUZZ_CHECK(out.size() <= raw.size());
    }
    (void)imap::ExtractBinary(raw, *s, part);
  }
  return 0;
}
