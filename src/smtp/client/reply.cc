#include "smtp/client/reply.h"

#include <fmt/format.h>

namespace correio::smtp::client {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// RFC 3463 §2: class "." subject "." detail, class in {2,4,5}, subject up to
// three digits, detail up to three digits.
std::string EnhancedCode(std::string_view text, int code) {
  size_t i = 0;
  auto digits = [&](size_t max) {
    size_t start = i;
    while (i < text.size() && IsDigit(text[i]) && i - start < max) ++i;
    return i > start;
  };
  if (text.empty() || text[0] - '0' != code / 100) return "";
  if (!digits(1) || i >= text.size() || text[i] != '.') return "";
  ++i;
  if (!digits(3) || i >= text.size() || text[i] != '.') return "";
  ++i;
  if (!digits(3)) return "";
  if (i < text.size() && text[i] != ' ') return "";
  return std::string(text.substr(0, i));
}

}  // namespace

std::string Reply::ToString() const {
  std::string out = fmt::format("{}", code);
  for (size_t i = 0; i < lines.size(); ++i) {
    out += i == 0 ? " " : " / ";
    for (char c : lines[i]) {
      unsigned char u = static_cast<unsigned char>(c);
      out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
    }
  }
  return out;
}

void ReplyParser::Reset() {
  partial_.clear();
  code_ = 0;
  lines_.clear();
  done_.clear();
  error_.reset();
}

Status ReplyParser::Feed(std::string_view data) {
  if (error_) return Fail(*error_);
  while (!data.empty()) {
    size_t lf = data.find('\n');
    if (lf == std::string_view::npos) {
      if (partial_.size() + data.size() > limits_.max_line) {
        error_ = Error(ErrorCode::kTooBig, "reply line too long");
        return Fail(*error_);
      }
      partial_.append(data);
      return {};
    }
    if (partial_.size() + lf + 1 > limits_.max_line) {
      error_ = Error(ErrorCode::kTooBig, "reply line too long");
      return Fail(*error_);
    }
    std::string_view piece = data.substr(0, lf);
    data.remove_prefix(lf + 1);
    Status st;
    if (partial_.empty()) {
      st = ParseLine(piece);
    } else {
      partial_.append(piece);
      std::string line = std::move(partial_);
      partial_.clear();
      st = ParseLine(line);
    }
    if (!st) {
      error_ = st.error();
      return st;
    }
  }
  return {};
}

Status ReplyParser::ParseLine(std::string_view line) {
  // Servers must send CRLF; a bare LF is tolerated on input (RFC 5321 §2.3.8
  // forbids us from sending it, not from reading it).
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // RFC 5321 §4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
  //   Reply-code [ SP textstring ] CRLF; codes 2yz..5yz, y 0..5.
  if (line.size() < 3 || !IsDigit(line[0]) || !IsDigit(line[1]) ||
      !IsDigit(line[2]) || line[0] < '2' || line[0] > '5' || line[1] > '5') {
    return Fail(ErrorCode::kInvalid, "malformed reply line");
  }
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  bool more = false;
  std::string_view text;
  if (line.size() > 3) {
    if (line[3] == '-') {
      more = true;
    } else if (line[3] != ' ') {
      return Fail(ErrorCode::kInvalid, "malformed reply line");
    }
    text = line.substr(4);
  }
  if (!lines_.empty() && code != code_) {
    return Fail(ErrorCode::kInvalid, "reply code changed within a reply");
  }
  if (lines_.size() >= limits_.max_lines) {
    return Fail(ErrorCode::kTooBig, "reply has too many lines");
  }
  code_ = code;
  lines_.emplace_back(text);
  if (!more) {
    Reply r;
    r.code = code;
    r.lines = std::move(lines_);
    lines_.clear();
    r.enhanced = EnhancedCode(r.lines.front(), code);
    // Bounded too: a server may pipeline replies we never asked for.
    if (done_.size() >= limits_.max_lines) {
      return Fail(ErrorCode::kTooBig, "too many unread replies");
    }
    done_.push_back(std::move(r));
  }
  return {};
}

bool ReplyParser::Next(Reply* out) {
  if (done_.empty()) return false;
  *out = std::move(done_.front());
  done_.pop_front();
  return true;
}

std::string XtextEncode(std::string_view s) {
  // RFC 3461 §4: xchar is "!" to "~" except "+" and "="; others as "+HH".
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 33 && u <= 126 && c != '+' && c != '=') {
      out.push_back(c);
    } else {
      out += fmt::format("+{:02X}", u);
    }
  }
  return out;
}

}  // namespace correio::smtp::client
