// CommandAssembler: collects the bytes of one IMAP command — its lines and
// the literals between them — before it is parsed (STYLE 2: no I/O).
//
// A command is one line, or several when a line ends in a literal marker
// {n} (synchronising: the server must send "+ " first, RFC 9051 §7.5),
// {n+} (LITERAL+, RFC 7888) or {n-} (LITERAL-). Literal8 ~{n} (RFC 3516)
// is framed the same way. The assembler is fed bytes in any split and tells
// the session what to do next:
//
//   kNeedMore          feed more bytes
//   kNeedContinuation  a synchronising literal was announced and accepted:
//                      send "+ ..." then feed more (reported once)
//   kComplete          command() holds the whole command (CRLFs included);
//                      bytes after it were not consumed
//   kError             error() says why; the command was thrown away.
//                      A refused synchronising literal is never sent by the
//                      client; a refused non-synchronising one is read and
//                      discarded (RFC 7888 §4) before kError is reported.
//
// Limits (STYLE 9) are checked before anything is stored: the length of
// each line, the size of each literal, and the total size of the command.
//
// Thread-safety: one instance per session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace correio::imap {

struct AssemblerLimits {
  size_t max_line = 8192;         // one line, CRLF included
  uint64_t max_literal = 8192;    // one literal
  uint64_t max_command = 1 << 20; // everything, literals included
};

// The tag that starts `command` ("a1 NOOP" -> "a1"), or "" when the text
// does not start with a valid tag followed by a space.
std::string TagOf(std::string_view command);

class CommandAssembler {
 public:
  enum class State { kNeedMore, kNeedContinuation, kComplete, kError };

  explicit CommandAssembler(AssemblerLimits limits) : limits_(limits) {}

  void set_limits(AssemblerLimits limits) { limits_ = limits; }

  // Consumes a prefix of `data` and returns how many bytes were taken. Stops
  // after a complete command or an error (state() says which).
  size_t Feed(std::string_view data);
  State state() const { return state_; }

  // In a literal: how many bytes it still needs (to size reads).
  uint64_t literal_remaining() const { return literal_left_; }
  bool in_literal() const { return mode_ != Mode::kLine; }

  const std::string& command() const { return buf_; }
  std::string TakeCommand();
  // kError: the client-facing reason and the tag if one could be read.
  const std::string& error() const { return error_; }
  const std::string& error_tag() const { return error_tag_; }

  // Starts over for the next command (after kComplete or kError).
  void Reset();

 private:
  enum class Mode { kLine, kLiteral, kDiscardLiteral, kDiscardLine };
  void EndOfLine();
  void Failed(std::string message, bool discard_rest);
  void CaptureTag();

  AssemblerLimits limits_;
  State state_ = State::kNeedMore;
  Mode mode_ = Mode::kLine;
  std::string buf_;
  size_t line_start_ = 0;    // offset of the current line in buf_
  size_t discard_line_ = 0;  // bytes of the current line when discarding
  bool saw_cr_ = false;      // discard mode: previous byte was CR
  uint64_t literal_left_ = 0;
  uint64_t total_ = 0;  // bytes of the command so far (also when discarding)
  std::string error_;
  std::string error_tag_;
  std::string pending_error_;  // reported after discarding
};

}  // namespace correio::imap
