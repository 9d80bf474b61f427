#include "pop3/proto/reply.h"

namespace correio::pop3::proto {

namespace {

std::string_view CodeText(RespCode code) {
  switch (code) {
    case RespCode::kNone:
      return "";
    case RespCode::kInUse:
      return "[IN-USE] ";
    case RespCode::kLoginDelay:
      return "[LOGIN-DELAY] ";
    case RespCode::kSysTemp:
      return "[SYS/TEMP] ";
    case RespCode::kSysPerm:
      return "[SYS/PERM] ";
    case RespCode::kAuth:
      return "[AUTH] ";
  }
  return "";
}

void AppendSafe(std::string& out, std::string_view text) {
  for (char c : text) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
}

}  // namespace

std::string Ok(std::string_view text) {
  std::string out = "+OK";
  if (!text.empty()) {
    out += ' ';
    AppendSafe(out, text);
  }
  out += "\r\n";
  return out;
}

std::string Err(RespCode code, std::string_view text) {
  std::string out = "-ERR ";
  out += CodeText(code);
  AppendSafe(out, text);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  out += "\r\n";
  return out;
}

void MessageWriter::EndOfLine() {
  // Called after a line's CRLF has been written.
  if (body_lines_) {
    if (in_header_) {
      if (line_blank_) {
        in_header_ = false;
        if (*body_lines_ == 0) done_ = true;
      }
    } else if (++lines_sent_ >= *body_lines_) {
      done_ = true;
    }
  }
  at_line_start_ = true;
  line_blank_ = true;
}

void MessageWriter::Feed(std::string_view chunk, std::string& out) {
  out.reserve(out.size() + chunk.size() + chunk.size() / 64 + 8);
  if (!body_lines_) {
    // RETR: whole lines at a time (memchr), which is most of a download's
    // CPU otherwise. Same output as the octet loop below.
    size_t i = 0;
    while (i < chunk.size()) {
      size_t nl = chunk.find('\n', i);
      size_t end = nl == std::string_view::npos ? chunk.size() : nl;
      if (end > i) {
        if (at_line_start_ && chunk[i] == '.') out.push_back('.');
        out.append(chunk.data() + i, end - i);
        at_line_start_ = false;
        last_was_cr_ = chunk[end - 1] == '\r';
      }
      if (nl == std::string_view::npos) break;
      if (!last_was_cr_) out.push_back('\r');
      out.push_back('\n');
      last_was_cr_ = false;
      at_line_start_ = true;
      i = nl + 1;
    }
    return;
  }
  for (size_t i = 0; i < chunk.size() && !done_; ++i) {
    char c = chunk[i];
    if (c == '\n') {
      if (!last_was_cr_) out.push_back('\r');
      out.push_back('\n');
      last_was_cr_ = false;
      EndOfLine();
      continue;
    }
    if (at_line_start_ && c == '.') out.push_back('.');  // RFC 1939 §3
    if (last_was_cr_) line_blank_ = false;  // a CR not ending the line
    if (c != '\r') line_blank_ = false;
    out.push_back(c);
    at_line_start_ = false;
    last_was_cr_ = c == '\r';
  }
}

void MessageWriter::Finish(std::string& out) {
  if (!at_line_start_) {
    if (!last_was_cr_) out.push_back('\r');
    out.push_back('\n');
  }
  out += ".\r\n";
}

}  // namespace correio::pop3::proto
