// POP3 replies: status lines with RFC 2449/3206 response codes, and the
// multi-line writer that dot-stuffs a message as it streams (RFC 1939 §3).
//
// No I/O: the writer appends to a string the session sends.
// Thread-safety: a MessageWriter belongs to one session.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace correio::pop3::proto {

// Extended response codes: RFC 2449 §8 ([IN-USE], [LOGIN-DELAY]) and
// RFC 3206 ([SYS/TEMP], [SYS/PERM], [AUTH]).
enum class RespCode : uint8_t {
  kNone,
  kInUse,
  kLoginDelay,
  kSysTemp,
  kSysPerm,
  kAuth,
};

// "+OK text\r\n" ("+OK\r\n" for empty text).
std::string Ok(std::string_view text);
// "-ERR [CODE] text\r\n". CR and LF in text are replaced by spaces.
std::string Err(RespCode code, std::string_view text);

// Streams one message as a multi-line response body: doubles a '.' that
// starts a line, turns a bare LF into CRLF (messages are stored with CRLF,
// this only guards against a store that is not), and ends with the
// terminating ".\r\n".
//
// With body_lines set it writes what TOP returns (RFC 1939 §7): the header,
// the blank line after it, and at most that many lines of the body. done()
// then turns true as soon as the limit is reached so the caller can stop
// reading the message.
class MessageWriter {
 public:
  explicit MessageWriter(std::optional<uint64_t> body_lines = std::nullopt)
      : body_lines_(body_lines) {}

  // Appends the stuffed form of `chunk` (the next octets of the message)
  // to `out`. Octets after the TOP limit are ignored.
  void Feed(std::string_view chunk, std::string& out);
  // Completes the last line if the message did not end with one, then
  // appends ".\r\n". Call once, after the last Feed.
  void Finish(std::string& out);
  bool done() const { return done_; }

 private:
  void EndOfLine();

  std::optional<uint64_t> body_lines_;
  bool at_line_start_ = true;
  bool last_was_cr_ = false;
  bool in_header_ = true;
  bool line_blank_ = true;  // nothing but an optional CR so far this line
  uint64_t lines_sent_ = 0;
  bool done_ = false;
};

}  // namespace correio::pop3::proto
