// SMTP command lines (src/smtp/proto/command.h): every line of the input
// (split at LF, CR stripped as the session's line reader does) goes through
// ParseCommandLine and then the argument parser of its verb; each line's
// text is also tried as MAIL, RCPT, BDAT, AUTH and HELO arguments and as a
// path, xtext round trip, and ScanHeader runs on the whole input.
//
// Invariants: RFC 5321 §4.5.3.1 length limits on accepted paths, syntax
// errors carry a 5xx reply, xtext decode(encode(x)) == x.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "smtp/proto/command.h"

namespace {

namespace smtp = correio::smtp;

void CheckPath(const smtp::Path& p) {
  if (p.null) return;
  FUZZ_CHECK(p.local.size() <= smtp::kMaxLocalPart || p.quoted);
  FUZZ_CHECK(p.domain.size() <= smtp::kMaxDomain);
  FUZZ_CHECK(p.address.find_first_of("\r\n") == std::string::npos);
}

template <class T>
void CheckSyntax(const smtp::Parsed<T>& r) {
  if (!r) {
    FUZZ_CHECK(r.error().code >= 500 && r.error().code < 600);
  }
}

void TryArgs(std::string_view args) {
  auto m = smtp::ParseMail(args);
  CheckSyntax(m);
  if (m) CheckPath(m->path);
  auto r = smtp::ParseRcpt(args);
  CheckSyntax(r);
  if (r) {
    CheckPath(r->path);
    FUZZ_CHECK(!r->path.null);
  }
  auto b = smtp::ParseBdat(args);
  CheckSyntax(b);
  auto a = smtp::ParseAuth(args);
  CheckSyntax(a);
  if (a) {
    for (char c : a->mechanism) FUZZ_CHECK(!(c >= 'a' && c <= 'z'));
  }
  CheckSyntax(smtp::ParseHelo(args));
  std::string_view rest;
  for (bool allow_null : {false, true}) {
    if (auto p = smtp::ParsePath(args, &rest, allow_null, true)) {
      CheckPath(*p);
      FUZZ_CHECK(rest.size() < args.size());
      FUZZ_CHECK(rest.data() >= args.data() &&
                 rest.data() + rest.size() == args.data() + args.size());
    }
  }
  if (auto x = smtp::DecodeXtext(args)) {
    FUZZ_CHECK(x->size() <= args.size());
  }
  FUZZ_CHECK(smtp::DecodeXtext(smtp::EncodeXtext(args)) == args);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = correio::fuzz::AsView(data, size);
  std::string_view rest = in;
  int lines = 0;
  while (!rest.empty() && lines++ < 256) {
    size_t lf = rest.find('\n');
    std::string_view line = rest.substr(0, lf);
    rest.remove_prefix(lf == rest.npos ? rest.size() : lf + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    line = line.substr(0, 4096);

    auto cl = smtp::ParseCommandLine(line);
    CheckSyntax(cl);
    if (cl) {
      FUZZ_CHECK(cl->spec != nullptr);
      switch (cl->spec->verb) {
        case smtp::Verb::kMail:
          CheckSyntax(smtp::ParseMail(cl->args));
          break;
        case smtp::Verb::kRcpt:
          CheckSyntax(smtp::ParseRcpt(cl->args));
          break;
        case smtp::Verb::kBdat:
          CheckSyntax(smtp::ParseBdat(cl->args));
          break;
        case smtp::Verb::kAuth:
          CheckSyntax(smtp::ParseAuth(cl->args));
          break;
        case smtp::Verb::kEhlo:
        case smtp::Verb::kHelo:
          CheckSyntax(smtp::ParseHelo(cl->args));
          break;
        default:
          break;
      }
    }
    TryArgs(line);
  }
  auto h = smtp::ScanHeader(in);
  FUZZ_CHECK(h.received <= in.size());
  return 0;
}
