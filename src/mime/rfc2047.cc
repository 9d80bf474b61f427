// RFC 2047 encoded words in header text -> UTF-8 (DecodeHeaderValue).
//
// Written here rather than calling g_mime_utils_header_decode_text()
// because GMime joins adjacent base64 words *before* decoding them, so a
// padded first word ("w6k=") swallows the second, and because unknown
// charsets must stay visible as the raw word. The scan is linear: each
// candidate "=?" looks ahead only to the next '?' characters.
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "base/strings.h"
#include "mime/message.h"
#include "mime/mime_internal.h"

namespace correio::mime {
namespace internal {

std::string Utf8OrLatin1(std::string_view s) {
  std::string valid = MakeValidUtf8(s);
  if (valid.size() == s.size() && valid == s) return valid;
  std::string out;
  out.reserve(s.size() * 2);
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x80) {
      out.push_back(c);
    } else {
      out.push_back(static_cast<char>(0xC0 | (u >> 6)));
      out.push_back(static_cast<char>(0x80 | (u & 0x3F)));
    }
  }
  return out;
}

}  // namespace internal

namespace {

// RFC 2047 §2 says 75 characters per word; real mail has longer ones, so
// only the charset is bounded (it is a name).
constexpr size_t kMaxCharsetLength = 64;

struct EncodedWord {
  size_t end;                // one past the closing "?="
  std::string_view charset;  // RFC 2231 §5 "*language" suffix removed
  char encoding;             // 'B' or 'Q'
  std::string_view text;
};

bool IsWordSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// s[pos] == '=' and s[pos + 1] == '?'. RFC 2047 §2:
// "=?" charset "?" encoding "?" encoded-text "?=".
std::optional<EncodedWord> MatchEncodedWord(std::string_view s, size_t pos) {
  size_t cs_begin = pos + 2;
  size_t q1 = cs_begin;
  while (q1 < s.size() && q1 - cs_begin <= kMaxCharsetLength && s[q1] != '?' &&
         !IsWordSpace(s[q1])) {
    ++q1;
  }
  if (q1 == cs_begin || q1 + 2 >= s.size() || s[q1] != '?') {
    return std::nullopt;
  }
  char enc = static_cast<char>(AsciiLower(s[q1 + 1]));
  if ((enc != 'b' && enc != 'q') || s[q1 + 2] != '?') return std::nullopt;
  size_t text_begin = q1 + 3;
  // The encoded text holds no '?' (RFC 2047 §5 rule 3 for Q; not in the
  // base64 alphabet), so the first '?' must start the "?=".
  const void* hit =
      std::memchr(s.data() + text_begin, '?', s.size() - text_begin);
  if (hit == nullptr) return std::nullopt;
  size_t q2 = static_cast<const char*>(hit) - s.data();
  if (q2 + 1 >= s.size() || s[q2 + 1] != '=') return std::nullopt;
  std::string_view charset = s.substr(cs_begin, q1 - cs_begin);
  charset = charset.substr(0, charset.find('*'));
  if (charset.empty()) return std::nullopt;
  return EncodedWord{q2 + 2, charset, enc == 'b' ? 'B' : 'Q',
                     s.substr(text_begin, q2 - text_begin)};
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// RFC 2047 §4.2: "_" is space, "=XX" a byte; a bad escape is kept as is.
void DecodeQ(std::string_view text, std::string& out) {
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '_') {
      out.push_back(' ');
    } else if (c == '=' && i + 2 < text.size() && Hex(text[i + 1]) >= 0 &&
               Hex(text[i + 2]) >= 0) {
      out.push_back(
          static_cast<char>(Hex(text[i + 1]) * 16 + Hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
}

class Decoder {
 public:
  explicit Decoder(std::string_view s) : s_(s) {}

  std::string Run() {
    size_t pos = 0;
    size_t literal_begin = 0;
    while (pos + 1 < s_.size()) {
      size_t cand = s_.find("=?", pos);
      if (cand == std::string_view::npos) break;
      auto w = MatchEncodedWord(s_, cand);
      if (!w) {
        pos = cand + 1;
        continue;
      }
      std::string_view literal = s_.substr(literal_begin, cand - literal_begin);
      // RFC 2047 §6.2: whitespace between two encoded words is dropped.
      bool only_space = true;
      for (char c : literal) only_space &= IsWordSpace(c);
      if (!(run_open_ && only_space)) {
        FlushRun();
        out_ += internal::Utf8OrLatin1(literal);
      }
      // Adjacent words in one charset are decoded to bytes and converted
      // together: encoders split multibyte characters across words.
      if (run_open_ && !EqualsIgnoreCase(run_charset_, w->charset)) FlushRun();
      if (!run_open_) {
        run_open_ = true;
        run_charset_ = w->charset;
        run_begin_ = cand;
      }
      if (w->encoding == 'B') {
        run_bytes_ += internal::DecodeTransferLenient(w->text, "base64");
      } else {
        DecodeQ(w->text, run_bytes_);
      }
      run_end_ = w->end;
      pos = literal_begin = w->end;
    }
    FlushRun();
    out_ += internal::Utf8OrLatin1(s_.substr(literal_begin));
    return std::move(out_);
  }

 private:
  void FlushRun() {
    if (!run_open_) return;
    run_open_ = false;
    std::string text;
    if (internal::TryConvertToUtf8(run_bytes_, run_charset_, text)) {
      out_ += text;
    } else {
      // Unknown charset: keep the words as written, so nothing is lost and
      // the reader sees that something was not decoded.
      out_ +=
          internal::Utf8OrLatin1(s_.substr(run_begin_, run_end_ - run_begin_));
    }
    run_bytes_.clear();
  }

  std::string_view s_;
  std::string out_;
  bool run_open_ = false;
  std::string_view run_charset_;
  size_t run_begin_ = 0, run_end_ = 0;
  std::string run_bytes_;
};

}  // namespace

std::string DecodeHeaderValue(std::string_view raw) {
  std::string unfolded = UnfoldHeaderValue(raw);
  return Decoder(unfolded).Run();
}

}  // namespace correio::mime
