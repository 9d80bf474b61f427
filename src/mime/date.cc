// RFC 5322 §3.3 date-time with the obsolete syntax of §4.3, parsed by hand:
// GMime's parser maps "50" to 2050 (§4.3 says 1950), rejects 3-digit years
// and leap seconds, and gives military zones a meaning §4.3 says they lack.
// Linear in the input; no allocation beyond one copy of the value.
#include <array>
#include <cctype>
#include <string>

#include "base/strings.h"
#include "mime/message.h"

namespace correio::mime {
namespace {

constexpr size_t kMaxDateLength = 1024;  // real ones are < 64 bytes

struct Tok {
  enum Kind { kNumber, kWord, kSign, kColon, kOther } kind;
  std::string_view text;
  char sign = 0;
};

// Comments (RFC 5322 §3.2.2, nested, with quoted pairs) become spaces.
std::string StripComments(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  int depth = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (depth > 0) {
      if (c == '\\')
        ++i;
      else if (c == '(')
        ++depth;
      else if (c == ')' && --depth == 0)
        out.push_back(' ');
      continue;
    }
    if (c == '(') {
      depth = 1;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}
  // Next token, or nullopt at the end. Commas, dots and spaces separate.
  std::optional<Tok> Next() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == ',' ||
            s_[i_] == '\r' || s_[i_] == '\n')) {
      ++i_;
    }
    if (i_ >= s_.size()) return std::nullopt;
    size_t b = i_;
    auto u = [&](size_t k) { return static_cast<unsigned char>(s_[k]); };
    if (std::isdigit(u(i_))) {
      while (i_ < s_.size() && std::isdigit(u(i_))) ++i_;
      return Tok{Tok::kNumber, s_.substr(b, i_ - b)};
    }
    if (std::isalpha(u(i_))) {
      while (i_ < s_.size() && std::isalpha(u(i_))) ++i_;
      return Tok{Tok::kWord, s_.substr(b, i_ - b)};
    }
    ++i_;
    if (s_[b] == '+' || s_[b] == '-') {
      return Tok{Tok::kSign, s_.substr(b, 1), s_[b]};
    }
    if (s_[b] == ':') return Tok{Tok::kColon, s_.substr(b, 1)};
    return Tok{Tok::kOther, s_.substr(b, 1)};
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

std::optional<int> Number(const std::optional<Tok>& t, size_t min_digits,
                          size_t max_digits) {
  if (!t || t->kind != Tok::kNumber || t->text.size() < min_digits ||
      t->text.size() > max_digits) {
    return std::nullopt;
  }
  int v = 0;
  for (char c : t->text) v = v * 10 + (c - '0');
  return v;
}

std::optional<int> Month(std::string_view w) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "jan", "feb", "mar", "apr", "may", "jun",
      "jul", "aug", "sep", "oct", "nov", "dec"};
  if (w.size() < 3) return std::nullopt;
  for (size_t m = 0; m < kMonths.size(); ++m) {
    if (EqualsIgnoreCase(w.substr(0, 3), kMonths[m]))
      return static_cast<int>(m) + 1;
  }
  return std::nullopt;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// RFC 5322 §4.3 obs-zone; anything else alphabetic is -0000.
int ZoneMinutes(std::string_view w) {
  struct Z {
    std::string_view name;
    int minutes;
  };
  static constexpr Z kZones[] = {
      {"ut", 0},        {"gmt", 0},       {"z", 0},         {"est", -5 * 60},
      {"edt", -4 * 60}, {"cst", -6 * 60}, {"cdt", -5 * 60}, {"mst", -7 * 60},
      {"mdt", -6 * 60}, {"pst", -8 * 60}, {"pdt", -7 * 60}};
  for (const Z& z : kZones) {
    if (EqualsIgnoreCase(w, z.name)) return z.minutes;
  }
  return 0;
}

}  // namespace

std::optional<DateTime> ParseDateTime(std::string_view rfc5322_date) {
  if (rfc5322_date.size() > kMaxDateLength) return std::nullopt;
  std::string text = StripComments(UnfoldHeaderValue(rfc5322_date));
  Lexer lex(text);
  auto t = lex.Next();
  // [day-of-week ","]: the name is not checked (senders get it wrong).
  if (t && t->kind == Tok::kWord) t = lex.Next();
  auto day = Number(t, 1, 2);
  if (!day) return std::nullopt;
  t = lex.Next();
  if (!t || t->kind != Tok::kWord) return std::nullopt;
  auto month = Month(t->text);
  if (!month) return std::nullopt;
  t = lex.Next();
  if (!t || t->kind != Tok::kNumber || t->text.size() < 2 ||
      t->text.size() > 4) {
    return std::nullopt;
  }
  int64_t year = *Number(t, 2, 4);
  // RFC 5322 §4.3: 00-49 -> 20xx; 50-99 and three digits -> +1900.
  if (t->text.size() == 2)
    year += year < 50 ? 2000 : 1900;
  else if (t->text.size() == 3)
    year += 1900;
  if (*day < 1 || *day > DaysInMonth(year, *month)) return std::nullopt;

  auto hour = Number(lex.Next(), 1, 2);
  t = lex.Next();
  if (!hour || !t || t->kind != Tok::kColon) return std::nullopt;
  auto minute = Number(lex.Next(), 1, 2);
  if (!minute) return std::nullopt;
  int second = 0;
  t = lex.Next();
  if (t && t->kind == Tok::kColon) {
    auto s = Number(lex.Next(), 1, 2);
    if (!s) return std::nullopt;
    second = *s;
    t = lex.Next();
  }
  // Second 60 is a leap second (§3.3); Unix time has none.
  if (*hour > 23 || *minute > 59 || second > 60) return std::nullopt;
  if (second == 60) second = 59;

  int zone = 0;  // absent zone: -0000, "no information" (§3.3)
  if (t && t->kind == Tok::kSign) {
    auto hhmm = Number(lex.Next(), 4, 4);
    if (!hhmm || *hhmm % 100 > 59) return std::nullopt;
    zone = (*hhmm / 100) * 60 + *hhmm % 100;
    if (t->sign == '-') zone = -zone;
  } else if (t && t->kind == Tok::kWord) {
    zone = ZoneMinutes(t->text);
  }
  int64_t days = DaysFromCivil(year, *month, *day);
  int64_t local = days * 86400 + *hour * 3600 + *minute * 60 + second;
  return DateTime{local - static_cast<int64_t>(zone) * 60, zone};
}

std::optional<int64_t> ParseDate(std::string_view rfc5322_date) {
  auto dt = ParseDateTime(rfc5322_date);
  if (!dt) return std::nullopt;
  return dt->unix_seconds;
}

}  // namespace correio::mime
