// Splits an IMAP server's byte stream into whole responses, for the load
// generator (imap_load.cc). No I/O (STYLE 2): fed bytes, it says how many
// it took and whether a response is complete, so it can be checked by
// splitting input at every offset (imap_load --selftest).
//
// RFC 9051 §4.3 / §7.5: a response line may carry literals; a line ending
// in {N}CRLF (or {N+}CRLF, RFC 7888) is followed by N octets and then the
// rest of the line. The generator needs only the text before the first
// literal (EXISTS, EXPUNGE, CAPABILITY, the tagged status); literal octets
// (FETCH bodies) are counted and dropped, never copied.
//
// Not thread-safe; one per connection.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace correio::bench {

class ResponseScanner {
 public:
  // A line of text (not literal octets) longer than this is an error.
  static constexpr size_t kMaxLine = 1 << 20;
  // A literal larger than this is an error (checked before skipping).
  static constexpr uint64_t kMaxLiteral = uint64_t{1} << 32;

  void Reset() {
    state_ = State::kLine;
    head_.clear();
    tail_.clear();
    first_ = true;
    literal_ = 0;
  }

  // Consumes bytes of `in` until the current response is complete (then
  // Done()) or `in` is used up. Returns how many bytes it took; bytes after
  // a complete response are left for the next one (after Reset()).
  size_t Feed(std::string_view in) {
    size_t i = 0;
    while (i < in.size() &&
           (state_ == State::kLine || state_ == State::kLiteral)) {
      if (state_ == State::kLiteral) {
        const size_t k =
            static_cast<size_t>(std::min<uint64_t>(literal_, in.size() - i));
        i += k;
        literal_ -= k;
        if (literal_ == 0) state_ = State::kLine;
        continue;
      }
      const void* nl = std::memchr(in.data() + i, '\n', in.size() - i);
      const size_t end =
          nl ? static_cast<size_t>(static_cast<const char*>(nl) - in.data()) + 1
             : in.size();
      // Only the first segment is kept; a later one (after a literal) is
      // held only until its end is checked for the next literal marker.
      std::string& cur = first_ ? head_ : tail_;
      if (cur.size() + (end - i) > kMaxLine) {
        Fail("response line too long");
        return i;
      }
      cur.append(in.data() + i, end - i);
      i = end;
      if (!nl) break;
      uint64_t n = 0;
      const int lit = LiteralAtEnd(cur, &n);
      if (lit < 0) {
        Fail("literal too large");
        return i;
      }
      if (first_ && lit == 0) {
        while (!head_.empty() &&
               (head_.back() == '\n' || head_.back() == '\r')) {
          head_.pop_back();
        }
      }
      first_ = false;
      tail_.clear();
      if (lit == 0) {
        state_ = State::kDone;
      } else {
        literal_ = n;
        state_ = n ? State::kLiteral : State::kLine;
      }
    }
    return i;
  }

  bool Done() const { return state_ == State::kDone; }
  bool Failed() const { return state_ == State::kError; }
  const std::string& error() const { return error_; }
  // The response's text before its first literal, without the CRLF when it
  // has no literal. Valid once Done().
  std::string_view Head() const { return head_; }

 private:
  enum class State { kLine, kLiteral, kDone, kError };

  void Fail(const char* why) {
    state_ = State::kError;
    error_ = why;
  }

  // 1 and *n when `seg` ends with {N}CRLF or {N+}CRLF, 0 when it ends with
  // no literal marker, -1 when N is too large. The same rule as
  // imapclient.py's \{(\d+)\+?\}\r\n$ .
  static int LiteralAtEnd(std::string_view seg, uint64_t* n) {
    if (seg.size() < 5 || !seg.ends_with("}\r\n")) return 0;
    size_t p = seg.size() - 3;  // index of '}'
    if (p > 0 && seg[p - 1] == '+') --p;
    size_t digits_end = p;
    while (p > 0 && seg[p - 1] >= '0' && seg[p - 1] <= '9') --p;
    if (p == digits_end || p == 0 || seg[p - 1] != '{') return 0;
    if (digits_end - p > 19) return -1;
    uint64_t v = 0;
    for (size_t k = p; k < digits_end; ++k) v = v * 10 + (seg[k] - '0');
    if (v > kMaxLiteral) return -1;
    *n = v;
    return 1;
  }

  State state_ = State::kLine;
  std::string head_;
  std::string tail_;
  std::string error_;
  bool first_ = true;
  uint64_t literal_ = 0;
};

}  // namespace correio::bench
