// RFC 5322 §3.4 address lists for the IMAP ENVELOPE (RFC 9051 §7.5.2).
//
// Written here rather than using GMime's internet_address_list_parse()
// because ENVELOPE needs the display name raw (RFC 2047 words intact, the
// client decodes) and GMime decodes them. Lenient like Dovecot's
// message-address.c: a missing domain gives host "", junk is skipped, and
// the work is linear in the input.
#include <algorithm>
#include <string>
#include <vector>

#include "base/strings.h"
#include "mime/mime_internal.h"

namespace correio::mime::internal {
namespace {

enum class Kind { kWord, kSpecial, kDomainLiteral };

struct Token {
  Kind kind;
  char special = 0;  // for kSpecial
  std::string text;  // word text (quoted strings unquoted) or literal
  bool space_before = false;
};

struct Tokens {
  std::vector<Token> tokens;
  // Comments in order, each with the index of the token that follows it
  // (tokens.size() at the end): "(Name) a@b" and "a@b (Name)" both give a
  // name to an address without a phrase.
  std::vector<std::pair<size_t, std::string>> comments;
};

bool IsSpecial(char c) {
  switch (c) {
    case '(':
    case ')':
    case '<':
    case '>':
    case '@':
    case ',':
    case ';':
    case ':':
    case '\\':
    case '"':
    case '.':
    case '[':
    case ']':
      return true;
    default:
      return false;
  }
}
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Stops after `max_separators` list separators (',' ';' ':'): each address
// entry ends at one, so later tokens cannot change the entries that are
// kept, and a 1 MB To: line does not become millions of tokens.
Tokens Tokenize(std::string_view s, size_t max_separators) {
  Tokens t;
  size_t i = 0;
  bool space = false;
  size_t separators = 0;
  while (i < s.size() && separators <= max_separators) {
    char c = s[i];
    if (IsSpace(c)) {
      space = true;
      ++i;
      continue;
    }
    if (c == '(') {  // comment, may nest; backslash quotes one char
      int depth = 0;
      std::string text;
      while (i < s.size()) {
        char d = s[i++];
        if (d == '\\' && i < s.size()) {
          text.push_back(s[i++]);
          continue;
        }
        if (d == '(') {
          if (depth++ > 0) text.push_back(d);
          continue;
        }
        if (d == ')') {
          if (--depth == 0) break;
          text.push_back(d);
          continue;
        }
        text.push_back(d);
      }
      std::string_view trimmed = TrimWhitespace(text);
      if (!trimmed.empty()) {
        t.comments.emplace_back(t.tokens.size(), std::string(trimmed));
      }
      space = true;
      continue;
    }
    Token tok;
    tok.space_before = space;
    space = false;
    if (c == '"') {
      tok.kind = Kind::kWord;
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        if (s[i] != '\r' && s[i] != '\n') tok.text.push_back(s[i]);
        ++i;
      }
      ++i;  // closing quote (or past the end)
    } else if (c == '[') {
      tok.kind = Kind::kDomainLiteral;
      size_t close = s.find(']', i);
      size_t stop = close == std::string_view::npos ? s.size() : close + 1;
      tok.text = std::string(s.substr(i, stop - i));
      i = stop;
    } else if (IsSpecial(c) && c != '\\' && c != ']' && c != ')') {
      tok.kind = Kind::kSpecial;
      tok.special = c;
      if (c == ',' || c == ';' || c == ':') ++separators;
      ++i;
    } else {
      tok.kind = Kind::kWord;
      while (i < s.size() && !IsSpace(s[i]) &&
             !(IsSpecial(s[i]) && s[i] != '\\' && s[i] != ']' && s[i] != ')')) {
        tok.text.push_back(s[i++]);
      }
      if (tok.text.empty()) tok.text.push_back(s[i++]);  // lone '\' ']' ')'
    }
    t.tokens.push_back(std::move(tok));
  }
  return t;
}

std::string TokenText(const Token& t) {
  return t.kind == Kind::kSpecial ? std::string(1, t.special) : t.text;
}

// Joins a phrase keeping single spaces where the input had whitespace.
std::string JoinPhrase(const std::vector<Token>& toks, size_t b, size_t e) {
  std::string out;
  for (size_t i = b; i < e; ++i) {
    if (i > b && toks[i].space_before) out.push_back(' ');
    out += TokenText(toks[i]);
  }
  return out;
}

// addr-spec from tokens [b, e): local "@" domain, joined without spaces.
void FillAddrSpec(const std::vector<Token>& toks, size_t b, size_t e,
                  Address& a) {
  size_t at = e;
  for (size_t i = e; i > b; --i) {
    if (toks[i - 1].kind == Kind::kSpecial && toks[i - 1].special == '@') {
      at = i - 1;
      break;
    }
  }
  std::string local, host;
  for (size_t i = b; i < (at == e ? e : at); ++i) local += TokenText(toks[i]);
  if (at != e) {
    for (size_t i = at + 1; i < e; ++i) host += TokenText(toks[i]);
  }
  a.mailbox = std::move(local);
  a.host = std::move(host);
}

// The last comment between tokens b and e (comments before token b and
// after token e - 1 included).
std::string LastComment(const Tokens& t, size_t b, size_t e) {
  auto it =
      std::upper_bound(t.comments.begin(), t.comments.end(), e,
                       [](size_t v, const std::pair<size_t, std::string>& c) {
                         return v < c.first;
                       });
  if (it == t.comments.begin()) return {};
  --it;
  return it->first >= b ? it->second : std::string();
}

}  // namespace

std::vector<Address> ParseAddressList(std::string_view unfolded,
                                      uint32_t max_addresses) {
  std::vector<Address> out;
  Tokens t = Tokenize(unfolded, size_t{max_addresses} + 2);
  const auto& toks = t.tokens;
  auto is = [&](size_t i, char c) {
    return i < toks.size() && toks[i].kind == Kind::kSpecial &&
           toks[i].special == c;
  };
  bool in_group = false;
  size_t emitted = 0;
  size_t i = 0;
  // Where the last failed obs-route look-ahead stopped: looking again
  // before it would fail again, and retrying would make junk quadratic.
  size_t route_scanned_to = 0;
  while (i < toks.size() && emitted < max_addresses) {
    if (is(i, '@') && i >= route_scanned_to) {
      // RFC 5322 §4.4 obs-route ("@a,@b:") belongs inside <>; junk like
      // "@a,@b:user@host" is read as that route + addr-spec, one address.
      size_t k = i;
      bool element_start = true;
      while (k < toks.size()) {
        if (is(k, ',')) {
          element_start = true;
        } else if (element_start) {
          if (!is(k, '@')) break;
          element_start = false;
        } else if (is(k, ':') || is(k, ';') || is(k, '<') || is(k, '>') ||
                   is(k, '@')) {
          break;
        }
        ++k;
      }
      if (is(k, ':') && !element_start) {
        i = k + 1;
      } else {
        route_scanned_to = k;
      }
    }
    size_t begin = i;
    while (i < toks.size() && !is(i, ',') && !is(i, ';') && !is(i, '<') &&
           !(is(i, ':') && !in_group)) {
      ++i;
    }
    if (is(i, ':')) {
      // RFC 9051 §7.5.2 group start: mailbox = display name, host NIL.
      out.push_back(
          Address{std::nullopt, JoinPhrase(toks, begin, i), std::nullopt});
      ++emitted;
      in_group = true;
      ++i;
      continue;
    }
    if (is(i, '<')) {
      size_t name_end = i;
      ++i;
      size_t spec_begin = i;
      while (i < toks.size() && !is(i, '>')) ++i;
      size_t spec_end = i;
      Address a;
      // RFC 5322 §4.4 obs-route "@a,@b:user@host": the route ends at the
      // last ':'; it becomes the ENVELOPE adl (RFC 9051 §7.5.2).
      for (size_t k = spec_end; k > spec_begin; --k) {
        if (is(k - 1, ':')) {
          std::string route;
          for (size_t r = spec_begin; r + 1 < k; ++r)
            route += TokenText(toks[r]);
          if (!route.empty()) a.route = std::move(route);
          spec_begin = k;
          break;
        }
      }
      std::string name = JoinPhrase(toks, begin, name_end);
      if (name.empty()) {
        name = LastComment(t, begin, i < toks.size() ? i + 1 : i);
      }
      if (!name.empty()) a.name = std::move(name);
      FillAddrSpec(toks, spec_begin, spec_end, a);
      if (i < toks.size()) ++i;  // '>'
      // Junk between '>' and the separator is ignored.
      while (i < toks.size() && !is(i, ',') && !is(i, ';')) ++i;
      out.push_back(std::move(a));
      ++emitted;
    } else if (i > begin) {
      Address a;
      FillAddrSpec(toks, begin, i, a);
      std::string comment = LastComment(t, begin, i);
      if (!comment.empty()) a.name = std::move(comment);
      out.push_back(std::move(a));
      ++emitted;
    }
    if (is(i, ';')) {
      if (in_group) {
        out.push_back(Address{});  // group end: mailbox NIL, host NIL
        ++emitted;
        in_group = false;
      }
      ++i;
    } else if (is(i, ',')) {
      ++i;
    }
  }
  if (in_group) out.push_back(Address{});  // keep start/end markers paired
  return out;
}

}  // namespace correio::mime::internal
