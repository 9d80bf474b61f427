// SMTP reply formatting (RFC 5321 §4.2, RFC 2034 enhanced status codes).
//
// Only CRLF goes out (STYLE 10): text handed in is stripped of CR and LF so
// nothing a client or the store supplied can forge a reply line.
//
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace correio::smtp {

// One reply as the session decides it: code, enhanced status ("5.1.1"; empty
// for the greeting and EHLO/HELO replies, RFC 2034 §4) and text.
struct Reply {
  uint16_t code = 250;
  std::string status;
  std::string text;
};

// "250 2.1.0 Ok\r\n". Empty status: "220 host ESMTP\r\n".
std::string FormatReply(const Reply& reply);
std::string FormatReply(uint16_t code, std::string_view status,
                        std::string_view text);
// Multi-line reply (RFC 5321 §4.2.1): "250-a\r\n250-b\r\n250 c\r\n". Each
// line carries the status when it is not empty. `lines` must not be empty.
std::string FormatMultiline(uint16_t code, std::string_view status,
                            const std::vector<std::string>& lines);

}  // namespace correio::smtp
