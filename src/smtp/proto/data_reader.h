// Readers for message content: DATA (RFC 5321 §4.1.1.4, §4.5.2) and BDAT
// (RFC 3030). No I/O: the session feeds octets as they arrive, split
// anywhere.
//
// DATA ends at exactly CRLF "." CRLF. Every bare LF and bare CR is noted,
// never treated as a line end, so "<LF>.<LF>", "<LF>.<CR><LF>",
// "<CR>.<CR>" ... cannot end the message early (SMTP smuggling): the session
// rejects a message that contains any of them, like Postfix's
// smtpd_forbid_bare_newline = reject. Dot-unstuffing is exact: a leading
// "." is removed from a line only when the line starts after a CRLF.
//
// Size (RFC 1870) is counted on the unstuffed octets; past the limit the
// reader keeps parsing (to find the end) but stores nothing more.
//
// Thread-safety: one reader per transaction, used by one session.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace correio::smtp {

// Room kept after a large message for the header fields the server
// prepends in place (Received, Date, Message-ID, Return-Path).
inline constexpr uint64_t kHeaderSlack = 16 * 1024;

class DataReader {
 public:
  // max_size: message octets we keep (larger: too_big()). max_line: octets
  // per line including CRLF (RFC 5321 §4.5.3.1.6).
  DataReader(uint64_t max_size, uint64_t max_line);

  // Consumes octets up to and including the terminating CRLF.CRLF and
  // returns how many it took (all of `in` unless it found the end).
  size_t Feed(std::string_view in);
  bool done() const { return done_; }

  // The unstuffed message (ends with CRLF unless empty).
  const std::string& message() const { return message_; }
  std::string TakeMessage() { return std::move(message_); }
  uint64_t size() const { return size_; }

  bool bare_lf() const { return bare_lf_; }
  bool bare_cr() const { return bare_cr_; }
  bool too_big() const { return too_big_; }
  bool line_too_long() const { return line_too_long_; }

 private:
  enum class State : uint8_t {
    kLineStart,  // after CRLF (or at the very start)
    kMid,        // inside a line
    kCr,         // saw CR inside a line, LF may follow
    kDot,        // saw "." at the start of a line
    kDotCr,      // saw ".<CR>" at the start of a line
  };
  void Emit(char c);
  void EmitRun(std::string_view run);  // octets inside a line, no CR or LF
  void Mid(char c);  // process c as an octet inside a line

  uint64_t max_size_, max_line_;
  State state_ = State::kLineStart;
  std::string message_;
  uint64_t size_ = 0;
  uint64_t line_length_ = 0;
  bool done_ = false;
  bool bare_lf_ = false, bare_cr_ = false;
  bool too_big_ = false, line_too_long_ = false;
};

// BDAT chunks (RFC 3030 §2): length-delimited, no dot-stuffing, so no end
// marker to smuggle. The chunks are still checked for bare LF / bare CR
// (CR and LF may fall in different chunks) because we store mail with CRLF
// line ends only and do not offer BINARYMIME.
class ChunkAccumulator {
 public:
  explicit ChunkAccumulator(uint64_t max_size) : max_size_(max_size) {}

  void Feed(std::string_view in);
  // After the LAST chunk: a CR at the very end is bare.
  void Finish();

  const std::string& message() const { return message_; }
  std::string TakeMessage() { return std::move(message_); }
  uint64_t size() const { return size_; }
  bool bare_lf() const { return bare_lf_; }
  bool bare_cr() const { return bare_cr_; }
  bool too_big() const { return too_big_; }

 private:
  uint64_t max_size_;
  std::string message_;
  uint64_t size_ = 0;
  bool prev_cr_ = false;
  bool bare_lf_ = false, bare_cr_ = false, too_big_ = false;
};

}  // namespace correio::smtp
