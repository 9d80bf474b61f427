#include "smtp/proto/command.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "base/strings.h"

namespace correio::smtp {

namespace {

constexpr size_t kMaxVerb = 16;
constexpr size_t kMaxParams = 16;
constexpr size_t kMaxEnvid = 100;  // RFC 3461 §4.4
constexpr size_t kMaxHelo = 255;
constexpr size_t kMaxMechanism = 20;  // RFC 4422 §3.1

SyntaxError Err(uint16_t code, std::string status, std::string text) {
  return SyntaxError{code, std::move(status), std::move(text)};
}

bool IsAlpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsLetDig(unsigned char c) { return IsAlpha(c) || IsDigit(c); }

// RFC 5322 §3.2.3 atext; RFC 6531 §3.3 adds UTF-8 (any octet >= 0x80; the
// session checks that SMTPUTF8 was asked for).
bool IsAtext(unsigned char c) {
  if (IsLetDig(c) || c >= 0x80) return true;
  return std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr && c != 0;
}

bool IsDotString(std::string_view s) {
  if (s.empty()) return false;
  bool prev_dot = true;  // no leading dot
  for (unsigned char c : s) {
    if (c == '.') {
      if (prev_dot) return false;
      prev_dot = true;
    } else if (IsAtext(c)) {
      prev_dot = false;
    } else {
      return false;
    }
  }
  return !prev_dot;  // no trailing dot
}

bool HasHighBit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x80;
  });
}

// RFC 5321 §4.1.2 Domain (with RFC 6531 U-labels: octets >= 0x80 count as
// letters) or address-literal. Returns the length consumed, 0 on error.
// `stop` lists the octets that end the domain.
size_t ScanDomain(std::string_view s, std::string_view stop) {
  if (s.empty()) return 0;
  if (s[0] == '[') {
    // RFC 5321 §4.1.3: dcontent = %d33-90 / %d94-126.
    size_t i = 1;
    while (i < s.size() && s[i] != ']') {
      unsigned char c = s[i];
      if (c < 33 || c > 126 || c == '[' || c == '\\') return 0;
      ++i;
    }
    if (i >= s.size() || i == 1) return 0;
    return i + 1;
  }
  size_t i = 0;
  size_t label = 0;
  unsigned char prev = 0;
  while (i < s.size() && stop.find(s[i]) == std::string_view::npos) {
    unsigned char c = s[i];
    if (c == '.') {
      if (label == 0 || prev == '-') return 0;
      label = 0;
    } else if (IsLetDig(c) || c >= 0x80 || c == '-') {
      if (label == 0 && c == '-') return 0;
      if (++label > 63) return 0;
    } else {
      return 0;
    }
    prev = c;
    ++i;
  }
  if (i == 0 || prev == '-' || prev == '.') return 0;
  return i;
}

std::string QuoteLocal(std::string_view local) {
  if (IsDotString(local)) return std::string(local);
  std::string out = "\"";
  for (char c : local) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

struct Param {
  std::string key;  // upper case
  std::string_view value;
  bool has_value = false;
};

// RFC 5321 §4.1.2 Mail-parameters: esmtp-keyword ["=" esmtp-value],
// separated by SP. RFC 6531 §3.3 allows UTF-8 in values.
Parsed<std::vector<Param>> ParseParams(std::string_view rest) {
  std::vector<Param> out;
  if (rest.empty()) return out;
  if (rest[0] != ' ') {
    return std::unexpected(Err(501, "5.5.4", "Syntax error after address"));
  }
  for (auto word : SplitString(rest, ' ')) {
    if (word.empty()) continue;  // tolerate repeated spaces
    if (out.size() >= kMaxParams) {
      return std::unexpected(Err(501, "5.5.4", "Too many parameters"));
    }
    Param p;
    size_t eq = word.find('=');
    std::string_view key = word.substr(0, eq);
    if (key.empty() || !IsLetDig(key[0]) ||
        !std::all_of(key.begin(), key.end(),
                     [](unsigned char c) { return IsLetDig(c) || c == '-'; })) {
      return std::unexpected(Err(501, "5.5.4", "Bad parameter keyword"));
    }
    p.key = AsciiUppercase(key);
    if (eq != std::string_view::npos) {
      p.has_value = true;
      p.value = word.substr(eq + 1);
      if (p.value.empty() ||
          !std::all_of(p.value.begin(), p.value.end(), [](unsigned char c) {
            return (c >= 33 && c <= 126 && c != '=') || c >= 0x80;
          })) {
        return std::unexpected(Err(501, "5.5.4", "Bad parameter value"));
      }
    }
    for (const auto& q : out) {
      if (q.key == p.key) {
        return std::unexpected(Err(501, "5.5.4", "Duplicate parameter"));
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

// "FROM:" / "TO:" then optional spaces (tolerated; RFC 5321 has none).
std::optional<std::string_view> AfterKeyword(std::string_view args,
                                             std::string_view keyword) {
  if (!StartsWithIgnoreCase(args, keyword)) return std::nullopt;
  args.remove_prefix(keyword.size());
  while (!args.empty() && args[0] == ' ') args.remove_prefix(1);
  return args;
}

}  // namespace

const std::vector<CommandSpec>& CommandTable() {
  // RFC 2920 §3.1: EHLO, DATA, QUIT, NOOP, AUTH, STARTTLS end a group
  // (HELO and RSET are allowed in a group; BDAT ends one too, RFC 3030).
  static const std::vector<CommandSpec> kTable = {
      {"EHLO", Verb::kEhlo, kSyncPoint},
      {"HELO", Verb::kHelo, kSyncPoint},
      {"MAIL", Verb::kMail, kNeedHelo},
      {"RCPT", Verb::kRcpt, kNeedHelo},
      {"DATA", Verb::kData, kNeedHelo | kNoArgs | kSyncPoint},
      {"BDAT", Verb::kBdat, kNeedHelo | kNeedEhlo | kDuringBdat | kSyncPoint},
      {"RSET", Verb::kRset, kNoArgs | kDuringBdat},
      {"NOOP", Verb::kNoop, kDuringBdat | kSyncPoint},
      {"QUIT", Verb::kQuit, kNoArgs | kDuringBdat | kSyncPoint},
      {"HELP", Verb::kHelp, kDuringBdat},
      {"VRFY", Verb::kVrfy, 0},
      {"EXPN", Verb::kExpn, 0},
      {"STARTTLS", Verb::kStartTls, kNeedEhlo | kNoArgs | kSyncPoint},
      {"AUTH", Verb::kAuth, kNeedHelo | kNeedEhlo | kSyncPoint},
  };
  return kTable;
}

Parsed<CommandLine> ParseCommandLine(std::string_view line) {
  for (unsigned char c : line) {
    // Control characters (NUL, bare CR, ESC ...) never belong in a command.
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return std::unexpected(Err(500, "5.5.2", "Invalid character in command"));
    }
  }
  size_t sp = line.find(' ');
  std::string_view verb = line.substr(0, sp);
  if (verb.empty() || verb.size() > kMaxVerb) {
    return std::unexpected(Err(500, "5.5.2", "Syntax error"));
  }
  CommandLine out;
  for (const auto& spec : CommandTable()) {
    if (EqualsIgnoreCase(spec.name, verb)) {
      out.spec = &spec;
      break;
    }
  }
  if (!out.spec) {
    return std::unexpected(Err(500, "5.5.1", "Command unrecognized"));
  }
  if (sp != std::string_view::npos) {
    out.args = TrimWhitespace(line.substr(sp + 1));
  }
  return out;
}

std::optional<Path> ParsePath(std::string_view text, std::string_view* rest,
                              bool allow_null, bool allow_postmaster) {
  if (text.empty() || text[0] != '<') return std::nullopt;
  Path path;
  size_t i = 1;
  if (i < text.size() && text[i] == '>') {
    if (!allow_null) return std::nullopt;
    path.null = true;
    if (rest) *rest = text.substr(i + 1);
    return path;
  }
  // RFC 5321 §4.1.2 A-d-l: "@one,@two:" — parsed so that we can refuse it.
  if (i < text.size() && text[i] == '@') {
    path.source_route = true;
    for (;;) {
      if (i >= text.size() || text[i] != '@') return std::nullopt;
      ++i;
      size_t n = ScanDomain(text.substr(i), ",:>");
      if (n == 0) return std::nullopt;
      i += n;
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      if (i < text.size() && text[i] == ':') {
        ++i;
        break;
      }
      return std::nullopt;
    }
  }
  // Local-part = Dot-string / Quoted-string.
  if (i < text.size() && text[i] == '"') {
    path.quoted = true;
    ++i;
    bool closed = false;
    while (i < text.size()) {
      unsigned char c = text[i];
      if (c == '"') {
        closed = true;
        ++i;
        break;
      }
      if (c == '\\') {
        // quoted-pairSMTP = %d92 %d32-126
        if (i + 1 >= text.size()) return std::nullopt;
        unsigned char n = text[i + 1];
        if (n < 32 || n > 126) return std::nullopt;
        path.local.push_back(static_cast<char>(n));
        i += 2;
        continue;
      }
      // qtextSMTP = %d32-33 / %d35-91 / %d93-126, plus UTF-8.
      if ((c < 32 || c > 126) && c < 0x80) return std::nullopt;
      path.local.push_back(static_cast<char>(c));
      ++i;
    }
    if (!closed) return std::nullopt;
  } else {
    size_t start = i;
    while (i < text.size() && (IsAtext(text[i]) || text[i] == '.')) ++i;
    path.local = std::string(text.substr(start, i - start));
    if (!IsDotString(path.local)) return std::nullopt;
  }
  if (path.local.size() > kMaxLocalPart) return std::nullopt;
  if (i < text.size() && text[i] == '>' && !path.quoted && !path.source_route &&
      allow_postmaster && EqualsIgnoreCase(path.local, "postmaster")) {
    // RFC 5321 §4.1.1.3: "<Postmaster>" without a domain must be accepted.
    path.address = "postmaster";
    if (rest) *rest = text.substr(i + 1);
    return path;
  }
  if (i >= text.size() || text[i] != '@') return std::nullopt;
  ++i;
  size_t n = ScanDomain(text.substr(i), ">");
  if (n == 0) {
    // A trailing dot ("user@example.org.") is not valid syntax, but it is a
    // known way to slip past a naive domain comparison: recognise it so the
    // session refuses it as a relay attempt, not as a syntax error.
    size_t end = text.find('>', i);
    if (end == std::string_view::npos || end == i) return std::nullopt;
    std::string_view d = text.substr(i, end - i);
    if (d.size() < 2 || d.back() != '.') return std::nullopt;
    d.remove_suffix(1);
    if (ScanDomain(d, ">") != d.size()) return std::nullopt;
    path.trailing_dot = true;
    n = end - i;
    path.domain = std::string(d);
  } else {
    path.domain = std::string(text.substr(i, n));
  }
  path.address_literal = path.domain.starts_with('[');
  if (path.domain.size() > kMaxDomain) return std::nullopt;
  i += n;
  if (i >= text.size() || text[i] != '>') return std::nullopt;
  if (i + 1 > kMaxPath) return std::nullopt;
  path.utf8 = HasHighBit(path.local) || HasHighBit(path.domain);
  path.address = QuoteLocal(path.local) + "@" + path.domain;
  if (rest) *rest = text.substr(i + 1);
  return path;
}

std::optional<std::string> DecodeXtext(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;  // RFC 3461 §4: upper-case hex only
  };
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = text[i];
    if (c == '+') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c >= 33 && c <= 126 && c != '=') {
      out.push_back(static_cast<char>(c));
    } else if (c >= 0x80) {
      out.push_back(static_cast<char>(c));  // RFC 6533 utf-8-addr-xtext
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::string EncodeXtext(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (c >= 33 && c <= 126 && c != '+' && c != '=') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('+');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Parsed<MailArgs> ParseMail(std::string_view args) {
  auto after = AfterKeyword(args, "FROM:");
  if (!after) {
    return std::unexpected(Err(501, "5.5.4", "Syntax: MAIL FROM:<address>"));
  }
  std::string_view rest;
  auto path = ParsePath(*after, &rest, /*allow_null=*/true,
                        /*allow_postmaster=*/false);
  if (!path) {
    return std::unexpected(Err(501, "5.1.7", "Bad sender address syntax"));
  }
  auto params = ParseParams(rest);
  if (!params) return std::unexpected(params.error());
  MailArgs out;
  out.path = std::move(*path);
  out.has_params = !params->empty();
  auto bad = [](std::string_view what) {
    return std::unexpected(
        Err(501, "5.5.4", "Bad " + std::string(what) + " parameter"));
  };
  for (const auto& p : *params) {
    if (p.key == "SIZE") {
      // RFC 1870 §6: size-value = 1*20DIGIT.
      auto n = p.has_value ? ParseUint64(p.value) : std::nullopt;
      if (!n) return bad("SIZE");
      out.size = *n;
    } else if (p.key == "BODY") {
      if (!p.has_value) return bad("BODY");
      if (EqualsIgnoreCase(p.value, "7BIT")) {
        out.body = Body::k7Bit;
      } else if (EqualsIgnoreCase(p.value, "8BITMIME")) {
        out.body = Body::k8BitMime;
      } else {
        // BINARYMIME (RFC 3030) is not offered.
        return std::unexpected(Err(555, "5.5.4", "Unsupported BODY type"));
      }
    } else if (p.key == "SMTPUTF8") {
      if (p.has_value) return bad("SMTPUTF8");
      out.smtputf8 = true;
    } else if (p.key == "REQUIRETLS") {
      if (p.has_value) return bad("REQUIRETLS");
      out.require_tls = true;
    } else if (p.key == "RET") {
      if (!p.has_value) return bad("RET");
      if (EqualsIgnoreCase(p.value, "FULL")) {
        out.ret = Ret::kFull;
      } else if (EqualsIgnoreCase(p.value, "HDRS")) {
        out.ret = Ret::kHeaders;
      } else {
        return bad("RET");
      }
    } else if (p.key == "ENVID") {
      auto v = p.has_value ? DecodeXtext(p.value) : std::nullopt;
      if (!v || v->empty() || v->size() > kMaxEnvid) return bad("ENVID");
      out.envid = std::move(*v);
    } else if (p.key == "AUTH") {
      // RFC 4954 §5: AUTH=<mailbox> or AUTH=<>. We never trust what
      // another server says it authenticated, so it is checked and dropped.
      if (!p.has_value || !DecodeXtext(p.value)) return bad("AUTH");
    } else {
      return std::unexpected(
          Err(555, "5.5.4", "Unsupported parameter " + p.key.substr(0, 20)));
    }
  }
  return out;
}

Parsed<RcptArgs> ParseRcpt(std::string_view args) {
  auto after = AfterKeyword(args, "TO:");
  if (!after) {
    return std::unexpected(Err(501, "5.5.4", "Syntax: RCPT TO:<address>"));
  }
  std::string_view rest;
  auto path = ParsePath(*after, &rest, /*allow_null=*/false,
                        /*allow_postmaster=*/true);
  if (!path) {
    return std::unexpected(Err(501, "5.1.3", "Bad recipient address syntax"));
  }
  auto params = ParseParams(rest);
  if (!params) return std::unexpected(params.error());
  RcptArgs out;
  out.path = std::move(*path);
  out.has_params = !params->empty();
  auto bad = [](std::string_view what) {
    return std::unexpected(
        Err(501, "5.5.4", "Bad " + std::string(what) + " parameter"));
  };
  for (const auto& p : *params) {
    if (p.key == "NOTIFY") {
      // RFC 3461 §4.1: "NEVER" or a comma list of SUCCESS, FAILURE, DELAY.
      if (!p.has_value) return bad("NOTIFY");
      uint8_t bits = 0;
      for (auto word : SplitString(p.value, ',')) {
        uint8_t bit = 0;
        if (EqualsIgnoreCase(word, "NEVER")) {
          bit = kNotifyNever;
        } else if (EqualsIgnoreCase(word, "SUCCESS")) {
          bit = kNotifySuccess;
        } else if (EqualsIgnoreCase(word, "FAILURE")) {
          bit = kNotifyFailure;
        } else if (EqualsIgnoreCase(word, "DELAY")) {
          bit = kNotifyDelay;
        } else {
          return bad("NOTIFY");
        }
        if (bits & bit) return bad("NOTIFY");
        bits |= bit;
      }
      if ((bits & kNotifyNever) && bits != kNotifyNever) return bad("NOTIFY");
      out.notify = bits;
    } else if (p.key == "ORCPT") {
      // RFC 3461 §4.2: addr-type ";" xtext.
      if (!p.has_value) return bad("ORCPT");
      size_t semi = p.value.find(';');
      if (semi == std::string_view::npos || semi == 0) return bad("ORCPT");
      std::string_view type = p.value.substr(0, semi);
      if (!std::all_of(type.begin(), type.end(), [](unsigned char c) {
            return IsLetDig(c) || c == '-';
          })) {
        return bad("ORCPT");
      }
      auto addr = DecodeXtext(p.value.substr(semi + 1));
      if (!addr || addr->empty() || addr->size() > 500) return bad("ORCPT");
      out.orcpt = std::string(type) + ";" + *addr;
    } else {
      return std::unexpected(
          Err(555, "5.5.4", "Unsupported parameter " + p.key.substr(0, 20)));
    }
  }
  return out;
}

Parsed<BdatArgs> ParseBdat(std::string_view args) {
  auto words = SplitString(args, ' ');
  if (words.empty() || words.size() > 2) {
    return std::unexpected(Err(501, "5.5.4", "Syntax: BDAT size [LAST]"));
  }
  auto n = ParseUint64(words[0]);
  if (!n) return std::unexpected(Err(501, "5.5.4", "Syntax: BDAT size [LAST]"));
  BdatArgs out;
  out.size = *n;
  if (words.size() == 2) {
    if (!EqualsIgnoreCase(words[1], "LAST")) {
      return std::unexpected(Err(501, "5.5.4", "Syntax: BDAT size [LAST]"));
    }
    out.last = true;
  }
  return out;
}

Parsed<AuthArgs> ParseAuth(std::string_view args) {
  auto words = SplitString(args, ' ');
  if (args.empty() || words.size() > 2 || words[0].empty() ||
      words[0].size() > kMaxMechanism) {
    return std::unexpected(
        Err(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"));
  }
  for (unsigned char c : words[0]) {
    if (!IsLetDig(c) && c != '-' && c != '_') {
      return std::unexpected(Err(501, "5.5.4", "Bad mechanism name"));
    }
  }
  AuthArgs out;
  out.mechanism = AsciiUppercase(words[0]);
  if (words.size() == 2) {
    if (words[1].empty()) {
      return std::unexpected(
          Err(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"));
    }
    out.initial = std::string(words[1]);
  }
  return out;
}

Parsed<std::string> ParseHelo(std::string_view args) {
  if (args.empty() || args.size() > kMaxHelo ||
      args.find_first_of(" \t") != std::string_view::npos) {
    return std::unexpected(Err(501, "5.5.4", "Syntax: EHLO hostname"));
  }
  return std::string(args);
}

HeaderInfo ScanHeader(std::string_view message) {
  HeaderInfo info;
  size_t pos = 0;
  while (pos < message.size()) {
    size_t eol = message.find('\n', pos);
    size_t end = eol == std::string_view::npos ? message.size() : eol;
    std::string_view line = message.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      info.complete = true;
      break;
    }
    if (line[0] != ' ' && line[0] != '\t') {
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) break;  // the body began early
      std::string_view name = TrimWhitespace(line.substr(0, colon));
      if (EqualsIgnoreCase(name, "Received")) {
        ++info.received;
      } else if (EqualsIgnoreCase(name, "Message-ID")) {
        info.has_message_id = true;
      } else if (EqualsIgnoreCase(name, "Date")) {
        info.has_date = true;
      }
    }
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return info;
}

}  // namespace correio::smtp
