#include "imap/proto/assembler.h"

#include <algorithm>

namespace correio::imap {

namespace {

bool IsTagChar(char c) {
  // RFC 9051 §9: tag = 1*<any ASTRING-CHAR except "+">.
  auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7f) return false;
  return std::string_view("(){%*\"\\+").find(c) == std::string_view::npos;
}

struct Marker {
  bool found = false;
  bool valid = false;
  bool synchronizing = true;
  uint64_t size = 0;
};

// Looks for "{n}", "{n+}", "{n-}" or "~{n}" at the very end of a line
// (RFC 9051 §4.3, RFC 7888 §3, RFC 3516 §4.2).
Marker FindMarker(std::string_view line) {
  Marker m;
  if (line.empty() || line.back() != '}') return m;
  size_t end = line.size() - 1;
  bool nonsync = false;
  if (end > 0 && (line[end - 1] == '+' || line[end - 1] == '-')) {
    nonsync = true;
    --end;
  }
  size_t digits_end = end;
  while (end > 0 && line[end - 1] >= '0' && line[end - 1] <= '9') --end;
  if (end == 0 || line[end - 1] != '{') return m;
  m.found = true;
  if (end == digits_end || digits_end - end > 19) return m;  // not a number
  uint64_t n = 0;
  for (size_t i = end; i < digits_end; ++i) n = n * 10 + (line[i] - '0');
  m.valid = true;
  m.size = n;
  m.synchronizing = !nonsync;
  return m;
}

}  // namespace

void CommandAssembler::Reset() {
  state_ = State::kNeedMore;
  mode_ = Mode::kLine;
  buf_.clear();
  line_start_ = 0;
  discard_line_ = 0;
  saw_cr_ = false;
  literal_left_ = 0;
  total_ = 0;
  error_.clear();
  error_tag_.clear();
  pending_error_.clear();
}

std::string CommandAssembler::TakeCommand() {
  std::string out = std::move(buf_);
  Reset();
  return out;
}

void CommandAssembler::Failed(std::string message, bool discard_rest) {
  CaptureTag();
  if (discard_rest) {
    pending_error_ = std::move(message);
    mode_ = Mode::kDiscardLine;
    return;
  }
  error_ = std::move(message);
  state_ = State::kError;
  buf_.clear();
}

std::string TagOf(std::string_view command) {
  size_t n = 0;
  while (n < command.size() && IsTagChar(command[n])) ++n;
  if (n > 0 && n < command.size() && command[n] == ' ') {
    return std::string(command.substr(0, n));
  }
  return {};
}

void CommandAssembler::CaptureTag() {
  // The tag, if the command got that far, so the error can be tagged.
  if (error_tag_.empty()) error_tag_ = TagOf(buf_);
}

void CommandAssembler::EndOfLine() {
  std::string_view line(buf_);
  line = line.substr(line_start_, buf_.size() - line_start_ - 2);
  Marker m = FindMarker(line);
  if (m.found && !m.valid) {
    Failed("Invalid literal size", false);
    return;
  }
  if (!m.found) {
    if (!pending_error_.empty()) {
      Failed(std::move(pending_error_), false);
    } else {
      state_ = State::kComplete;
    }
    return;
  }
  // Checked before anything of the literal is accepted (STYLE 9).
  bool too_big = m.size > limits_.max_literal ||
                 m.size > limits_.max_command - std::min(total_,
                                                         limits_.max_command);
  if (too_big && m.synchronizing) {
    // RFC 9051 §7.5: the client sends nothing of a literal we do not
    // invite with "+", so nothing needs discarding.
    Failed("Literal too big", false);
    return;
  }
  literal_left_ = m.size;
  if (too_big) {
    // RFC 7888 §4: a non-synchronising literal arrives anyway; read it and
    // throw it away, then refuse the command.
    CaptureTag();
    if (pending_error_.empty()) pending_error_ = "Literal too big";
    mode_ = literal_left_ ? Mode::kDiscardLiteral : Mode::kLine;
    line_start_ = buf_.size();
    return;
  }
  if (!pending_error_.empty()) {
    mode_ = literal_left_ ? Mode::kDiscardLiteral : Mode::kLine;
  } else {
    mode_ = literal_left_ ? Mode::kLiteral : Mode::kLine;
    if (m.synchronizing) state_ = State::kNeedContinuation;
  }
  line_start_ = buf_.size();
}

size_t CommandAssembler::Feed(std::string_view data) {
  if (state_ == State::kNeedContinuation) state_ = State::kNeedMore;
  size_t i = 0;
  while (i < data.size() && state_ == State::kNeedMore) {
    std::string_view rest = data.substr(i);
    switch (mode_) {
      case Mode::kLine: {
        size_t lf = rest.find('\n');
        size_t take = lf == std::string_view::npos ? rest.size() : lf + 1;
        size_t line_len = buf_.size() - line_start_;
        if (line_len + take > limits_.max_line) {
          // Keep what still fits (never the LF) so the tag is known however
          // the line was split into reads: the error must be tagged the same
          // way for the same bytes.
          size_t room = std::min(limits_.max_line - std::min(line_len,
                                                             limits_.max_line),
                                 take - 1);
          if (total_ + room <= limits_.max_command) {
            buf_.append(rest.substr(0, room));
            total_ += room;
            i += room;
          }
          Failed("Line too long", true);
          break;  // the discard mode consumes the rest of the line
        }
        if (total_ + take > limits_.max_command) {
          Failed("Command too long", true);
          break;
        }
        buf_.append(rest.substr(0, take));
        total_ += take;
        i += take;
        if (lf != std::string_view::npos) {
          // STYLE 10: only CRLF comes in.
          if (buf_.size() - line_start_ < 2 || buf_[buf_.size() - 2] != '\r') {
            Failed("Line must end with CRLF", false);
            return i;
          }
          EndOfLine();
        }
        break;
      }
      case Mode::kLiteral:
      case Mode::kDiscardLiteral: {
        size_t take = static_cast<size_t>(
            std::min<uint64_t>(literal_left_, rest.size()));
        if (mode_ == Mode::kLiteral) buf_.append(rest.substr(0, take));
        total_ += take;
        literal_left_ -= take;
        i += take;
        if (literal_left_ == 0) {
          mode_ = Mode::kLine;
          line_start_ = buf_.size();
        }
        break;
      }
      case Mode::kDiscardLine: {
        size_t lf = rest.find('\n');
        if (lf == std::string_view::npos) {
          i += rest.size();
          break;
        }
        i += lf + 1;
        Failed(std::move(pending_error_), false);
        break;
      }
    }
  }
  return i;
}

}  // namespace correio::imap
