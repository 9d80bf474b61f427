// SMTP reply parsing for the outbound client (RFC 5321 §4.2). No I/O
// (STYLE 2): bytes go in through Feed(), complete replies come out of
// Next().
//
// Bounded (STYLE 9): a line longer than Limits::max_line or a multi-line
// reply of more than Limits::max_lines lines is an error, so a hostile
// server's endless reply costs us a bounded amount of memory and the
// message is only deferred.
//
// Thread-safety: none; one parser per connection.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace correio::smtp::client {

struct Reply {
  int code = 0;                    // 200..599
  std::vector<std::string> lines;  // text of each line, after "250-"/"250 "
  std::string enhanced;            // RFC 3463 "x.y.z" of the first line, or ""

  int klass() const { return code / 100; }
  bool positive() const { return klass() == 2; }
  bool intermediate() const { return klass() == 3; }
  bool transient() const { return klass() == 4; }
  bool permanent() const { return klass() == 5; }
  // "550 5.1.1 No such user" (all lines joined by " / "), for logs and DSN
  // Diagnostic-Code fields; control characters are replaced by '?'.
  std::string ToString() const;
};

class ReplyParser {
 public:
  struct Limits {
    size_t max_line = 2048;  // RFC 5321 §4.5.3.1.5: replies are <= 512
    size_t max_lines = 200;  // EHLO answers are ~20 lines
  };
  ReplyParser() = default;
  explicit ReplyParser(Limits limits) : limits_(limits) {}

  // Adds received octets and parses every complete line in them. Errors
  // (kInvalid malformed line, kTooBig over a limit) are sticky: the
  // connection is unusable afterwards.
  Status Feed(std::string_view data);
  // Pops the next complete reply, if any.
  bool Next(Reply* out);
  bool HasReply() const { return !done_.empty(); }
  // Octets received after the last complete reply (RFC 3207 §4: nothing
  // may follow "220 Ready to start TLS").
  bool HasPartialData() const { return !partial_.empty() || !lines_.empty(); }
  void Reset();

 private:
  Status ParseLine(std::string_view line);

  Limits limits_;
  std::string partial_;  // an incomplete line
  int code_ = 0;         // code of the reply being assembled
  std::vector<std::string> lines_;
  std::deque<Reply> done_;
  std::optional<Error> error_;
};

// RFC 3461 §4 xtext encoding for ENVID and ORCPT.
std::string XtextEncode(std::string_view s);

}  // namespace correio::smtp::client
