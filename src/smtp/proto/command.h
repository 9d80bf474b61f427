// SMTP command parsing (RFC 5321 §4.1) with the extension parameters we
// offer: SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531), DSN
// (RFC 3461), AUTH= (RFC 4954 §5), REQUIRETLS (RFC 8689), BDAT (RFC 3030).
//
// No I/O (STYLE 2): the session reads one line (without its CRLF) and hands
// it here; the answer is a typed command or the syntax reply to send. The
// one command table (STYLE 5) lives here too; the session's dispatcher
// enforces its flags, handlers assume them.
//
// No regex, no backtracking (STYLE 11); every field has a length limit
// (STYLE 9).
//
// Thread-safety: stateless functions over immutable tables.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/proto/reply.h"

namespace correio::smtp {

enum class Verb : uint8_t {
  kEhlo,
  kHelo,
  kMail,
  kRcpt,
  kData,
  kBdat,
  kRset,
  kNoop,
  kQuit,
  kHelp,
  kVrfy,
  kExpn,
  kStartTls,
  kAuth,
};

// What the dispatcher checks before it calls a handler.
enum CommandFlag : uint32_t {
  kNeedHelo = 1u << 0,    // 503 5.5.1 before EHLO/HELO
  kNeedEhlo = 1u << 1,    // an ESMTP extension: 503 5.5.1 after HELO only
  kNoArgs = 1u << 2,      // 501 5.5.4 when arguments are given
  kDuringBdat = 1u << 3,  // allowed between BDAT chunks (RFC 3030 §2)
  kSyncPoint = 1u << 4,   // RFC 2920 §3.1: ends a pipelined group
};

struct CommandSpec {
  std::string_view name;
  Verb verb;
  uint32_t flags;
};

// The table, in the order HELP lists it.
const std::vector<CommandSpec>& CommandTable();

// A syntax error and the reply it earns.
using SyntaxError = Reply;

template <class T>
using Parsed = std::expected<T, SyntaxError>;

// Splits "VERB args" and looks the verb up (case-insensitive). `args` is
// what follows the first space (may be empty). Unknown verb: 500 5.5.1.
struct CommandLine {
  const CommandSpec* spec = nullptr;
  std::string_view args;
};
Parsed<CommandLine> ParseCommandLine(std::string_view line);

// A reverse-path or forward-path (RFC 5321 §4.1.2).
struct Path {
  bool null = false;          // "<>"
  std::string local;          // unquoted local part
  std::string domain;         // as sent (case kept), trailing dot removed
  std::string address;        // local@domain in canonical form: the local
                              // part quoted only when it must be
  bool source_route = false;  // "<@a,@b:user@c>" (obsolete, RFC 5321 §4.1.2)
  bool quoted = false;        // the local part was a quoted-string
  bool trailing_dot = false;  // "user@example.org." (not valid syntax)
  bool address_literal = false;  // domain is "[...]"
  bool utf8 = false;             // any octet >= 0x80 (needs SMTPUTF8)
};

// Limits of RFC 5321 §4.5.3.1.
inline constexpr size_t kMaxLocalPart = 64;
inline constexpr size_t kMaxDomain = 255;
inline constexpr size_t kMaxPath = 256;

// Parses "<...>" at the start of `text`; *rest receives what follows.
// `allow_null`: "<>" is valid (reverse-path). A bare "postmaster" local part
// without domain is accepted when `allow_postmaster` (RFC 5321 §4.1.1.3).
std::optional<Path> ParsePath(std::string_view text, std::string_view* rest,
                              bool allow_null, bool allow_postmaster);

// RFC 3461 §4: xtext. Decode fails on a bad "+XX" or a forbidden octet.
std::optional<std::string> DecodeXtext(std::string_view text);
std::string EncodeXtext(std::string_view text);

enum class Body : uint8_t { kDefault, k7Bit, k8BitMime };
enum class Ret : uint8_t { kDefault, kFull, kHeaders };

// RFC 3461 NOTIFY bits; the same values as queue::Notify.
enum NotifyBits : uint8_t {
  kNotifyNone = 0,
  kNotifyNever = 1,
  kNotifySuccess = 2,
  kNotifyFailure = 4,
  kNotifyDelay = 8,
};

struct MailArgs {
  Path path;
  std::optional<uint64_t> size;  // RFC 1870
  Body body = Body::kDefault;    // RFC 6152
  bool smtputf8 = false;         // RFC 6531 §3.4
  bool require_tls = false;      // RFC 8689 §4.1
  Ret ret = Ret::kDefault;       // RFC 3461 §4.3
  std::string envid;             // RFC 3461 §4.4, decoded
  bool has_params = false;       // any ESMTP parameter at all
};

struct RcptArgs {
  Path path;
  uint8_t notify = kNotifyNone;  // RFC 3461 §4.1
  std::string orcpt;             // RFC 3461 §4.2: "rfc822;addr", decoded
  bool has_params = false;
};

// `args` is what follows the verb: "FROM:<a@b> SIZE=10". A space after the
// colon is tolerated (many clients send one).
Parsed<MailArgs> ParseMail(std::string_view args);
Parsed<RcptArgs> ParseRcpt(std::string_view args);

struct BdatArgs {
  uint64_t size = 0;
  bool last = false;
};
Parsed<BdatArgs> ParseBdat(std::string_view args);

struct AuthArgs {
  std::string mechanism;               // upper case
  std::optional<std::string> initial;  // base64 text, or "=" for empty
};
Parsed<AuthArgs> ParseAuth(std::string_view args);

// EHLO/HELO argument: a domain or an address literal (lenient: any one
// printable token, since many clients send their unqualified host name).
Parsed<std::string> ParseHelo(std::string_view args);

// What the session needs from the header of a received message.
struct HeaderInfo {
  uint32_t received = 0;  // "Received:" fields (RFC 5321 §6.3 loops)
  bool has_message_id = false;
  bool has_date = false;
  bool complete = false;  // the empty line that ends the header was seen
};
// Scans the header section of `message` (CRLF line ends), bounded by its
// size.
HeaderInfo ScanHeader(std::string_view message);

}  // namespace correio::smtp
