// The whole IMAP session (src/imap/server: session.cc and every cmd_*.cc):
// the input is what a client sends, from after the greeting to EOF, run
// through RunSession on a fresh memory store (session_common.h: account
// alice@example.org, password "secret", three messages in the INBOX, the
// default mailboxes). STARTTLS is offered and LOGIN/AUTHENTICATE allowed
// without TLS; literals are limited to 1024 octets before login and
// messages to 4096 (APPENDLIMIT), so a few KB reach both limits.
//
// Each input runs as a whole and in pieces of 1, 2, 3, 7 and 64 bytes
// (kChunkSizes): literals, IDLE's DONE and pipelined commands see every
// split.
//
// Invariants: the session returns after EOF, and what it writes until
// STARTTLS or COMPRESS succeeds is well framed (RFC 9051 §2.2.2, §7): it
// starts with "* OK"; every line ends in CRLF and holds no other CR or LF
// outside literals; a line ending in {n} or ~{n} is followed by exactly n
// octets of literal and then the rest of the same response; each
// response starts with "* ", "+" or a tag (RFC 9051 §9 tag: no '+', no
// atom-specials) followed by OK, NO or BAD; the output ends with a whole
// response.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "imap/server/session.h"
#include "session_common.h"

namespace {

const std::string kAlpn = "imap";

namespace fuzz = correio::fuzz;
namespace imap = correio::imap;

// RFC 9051 §9: tag = 1*<any ASTRING-CHAR except "+">; ASTRING-CHAR is
// ATOM-CHAR or "]"; ATOM-CHAR is any CHAR except atom-specials
// ("(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]").
bool IsTag(std::string_view t) {
  if (t.empty()) return false;
  for (char c : t) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
    if (std::string_view("(){%*\"\\+").find(c) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// A line that ends with a literal announcement: its octet count.
bool LiteralAtEnd(std::string_view line, uint64_t* n) {
  if (!line.ends_with('}')) return false;
  size_t open = line.rfind('{');
  if (open == line.npos) return false;
  std::string_view digits = line.substr(open + 1, line.size() - open - 2);
  if (digits.empty() || digits.size() > 19) return false;
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *n = v;
  return true;
}

void CheckReplies(std::string_view out) {
  FUZZ_CHECK(out.starts_with("* OK "));
  size_t pos = 0;
  bool at_start = true;  // the next line begins a response
  while (pos < out.size()) {
    size_t lf = out.find('\n', pos);
    FUZZ_CHECK(lf != out.npos);                   // ends with a whole line
    FUZZ_CHECK(lf > pos && out[lf - 1] == '\r');  // no bare LF
    std::string_view line = out.substr(pos, lf - 1 - pos);
    FUZZ_CHECK(line.find('\r') == line.npos);  // no bare CR
    pos = lf + 1;
    if (at_start) {
      if (line.starts_with("* ")) {
        // untagged
      } else if (line == "+" || line.starts_with("+ ")) {
        // continuation request
      } else {
        size_t sp = line.find(' ');
        FUZZ_CHECK(sp != line.npos);
        FUZZ_CHECK(IsTag(line.substr(0, sp)));
        std::string_view rest = line.substr(sp + 1);
        FUZZ_CHECK(rest.starts_with("OK ") || rest.starts_with("NO ") ||
                   rest.starts_with("BAD "));
        // From here on the bytes are TLS records or deflated.
        if (rest == "OK Begin TLS negotiation now" ||
            rest == "OK DEFLATE active") {
          return;
        }
      }
    }
    uint64_t n = 0;
    if (LiteralAtEnd(line, &n)) {
      FUZZ_CHECK(n <= out.size() - pos);
      pos += static_cast<size_t>(n);
      at_start = false;
    } else {
      at_start = true;
    }
  }
  FUZZ_CHECK(at_start);
}

void Run(std::string_view in, size_t chunk) {
  fuzz::SessionWorld world(true);
  imap::SessionOptions io;
  io.hostname = "mail.example.org";
  io.offer_starttls = true;
  io.tls = world.env.tls;
  io.max_line_length = world.config.limits.max_line_length;
  io.max_bad_commands = world.config.limits.max_bad_commands;
  correio::mail::Env env = world.env;
  std::string out = fuzz::RunSession(
      in, chunk, [&env, &io](std::shared_ptr<correio::net::Connection> c) {
        c->SetAlpn(&kAlpn);  // as net::Server does
        return imap::RunSession(std::move(c), env, io);
      });
  CheckReplies(out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::Capped(data, size);
  for (size_t chunk : fuzz::kChunkSizes) Run(in, chunk);
  return 0;
}
