// POP3 command input: a bounded line splitter and a command parser.
//
// No I/O (STYLE 2): the session feeds the octets it received to a
// LineReader, pops complete lines, and turns each command line into a typed
// Command with ParseCommand (STYLE 3). SASL continuation lines (RFC 5034 §4)
// come out of the same LineReader and are not parsed as commands.
//
// The command table (kCommands, STYLE 5) lists every verb we implement with
// the shape of its arguments and the states it is valid in; the session's
// dispatcher enforces the states, the parser the arguments.
//
// Thread-safety: a LineReader belongs to one session; the rest is pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/error.h"

namespace correio::pop3::proto {

// Splits input into lines ended by CRLF (or a bare LF, see docs/pop3.md),
// without the line end. Memory is bounded by max_line plus one fed chunk:
// a line longer than max_line octets (line end included) is thrown away up
// to and including its LF and reported once as kTooLong, so the session
// can answer -ERR and go on (RFC 2449 §4 bounds command lines).
class LineReader {
 public:
  explicit LineReader(size_t max_line) : max_line_(max_line) {}

  void Feed(std::string_view data);

  enum class Status { kNeedMore, kLine, kTooLong };
  struct Next {
    Status status = Status::kNeedMore;
    std::string line;  // kLine only
  };
  Next Pop();

  // Drops everything buffered. RFC 2595 §4 / STYLE 17: after STLS nothing
  // the client pipelined in plaintext may be read as a command.
  void Reset();
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  size_t max_line_;
  std::string buf_;
  size_t pos_ = 0;  // consumed prefix of buf_
  bool discarding_ = false;
};

enum class Verb : uint8_t {
  kUser,
  kPass,
  kApop,
  kAuth,
  kStls,
  kCapa,
  kQuit,
  kStat,
  kList,
  kRetr,
  kDele,
  kNoop,
  kRset,
  kTop,
  kUidl,
};

// What follows the keyword.
enum class Args : uint8_t {
  kNone,            // STAT, NOOP, RSET, QUIT, CAPA, STLS
  kOptionalNumber,  // LIST [msg], UIDL [msg]
  kNumber,          // RETR msg, DELE msg
  kNumberAndLines,  // TOP msg n
  kName,            // USER name (one word)
  kRest,            // PASS string: the rest of the line, spaces included
  kMechanism,       // AUTH [mechanism [initial-response]]
  kNameAndDigest,   // APOP name digest (32 hex digits)
};

// States a command is valid in (RFC 1939 §3), as a bit set.
inline constexpr uint8_t kAuthorization = 1 << 0;
inline constexpr uint8_t kTransaction = 1 << 1;

struct CommandSpec {
  Verb verb;
  std::string_view name;
  Args args;
  uint8_t states;
};

inline constexpr CommandSpec kCommands[] = {
    {Verb::kUser, "USER", Args::kName, kAuthorization},
    {Verb::kPass, "PASS", Args::kRest, kAuthorization},
    {Verb::kApop, "APOP", Args::kNameAndDigest, kAuthorization},
    {Verb::kAuth, "AUTH", Args::kMechanism, kAuthorization},
    {Verb::kStls, "STLS", Args::kNone, kAuthorization},
    {Verb::kCapa, "CAPA", Args::kNone, kAuthorization | kTransaction},
    {Verb::kQuit, "QUIT", Args::kNone, kAuthorization | kTransaction},
    {Verb::kStat, "STAT", Args::kNone, kTransaction},
    {Verb::kList, "LIST", Args::kOptionalNumber, kTransaction},
    {Verb::kRetr, "RETR", Args::kNumber, kTransaction},
    {Verb::kDele, "DELE", Args::kNumber, kTransaction},
    {Verb::kNoop, "NOOP", Args::kNone, kTransaction},
    {Verb::kRset, "RSET", Args::kNone, kTransaction},
    {Verb::kTop, "TOP", Args::kNumberAndLines, kTransaction},
    {Verb::kUidl, "UIDL", Args::kOptionalNumber, kTransaction},
};

const CommandSpec& SpecOf(Verb verb);

struct Command {
  Verb verb = Verb::kNoop;
  // LIST/UIDL (if given), RETR, DELE, TOP: the message number as sent. It
  // fits 32 bits (larger numbers are a parse error); 0 and numbers past the
  // maildrop are the session's "no such message".
  std::optional<uint32_t> number;
  uint64_t lines = 0;  // TOP
  // USER name, PASS password, AUTH mechanism (as sent; may be empty for a
  // bare AUTH, which lists the mechanisms).
  std::string text;
  // AUTH: the initial response as sent (base64, or "=" for empty; RFC 5034
  // §4). Not decoded here.
  std::optional<std::string> initial_response;
  // APOP: the MD5 digest, 32 hex digits lowercased (RFC 1939 §7).
  std::string digest;
  bool operator==(const Command&) const = default;
};

// Parses one command line (no line end). Errors are kInvalid with a short
// text meant for the client ("Unknown command", "Invalid message number").
Result<Command> ParseCommand(std::string_view line);

}  // namespace correio::pop3::proto
