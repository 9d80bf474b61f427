// The whole SMTP session (src/smtp/server/session.cc): the input is what a
// client sends, from after the greeting to EOF, run through RunSession on a
// fresh memory store (session_common.h: account alice@example.org,
// password "secret", alias postmaster@example.org; mail for other domains
// goes to a queue that keeps nothing). Limits are small (message size
// 4096, 5 recipients, 3 Received headers, 1000-octet lines) so a few KB
// reach them; STARTTLS is offered.
//
// Each input runs as a whole on the submission port (AUTH offered) and on
// the MX port, and in pieces of 1, 2, 3, 7 and 64 bytes alternately on
// each (kChunkSizes), so DATA, BDAT and pipelined commands see every split.
//
// Invariants: the session returns after EOF; everything it writes until
// STARTTLS succeeds is RFC 5321 §4.2 replies: CRLF lines of a 2yz-5yz
// code and ' ' or '-', at most 512 octets with CRLF (§4.5.3.1.5), a
// multi-line reply keeps one code, the output ends with a complete reply,
// and it starts with the 220 greeting.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "queue/queue.h"
#include "session_common.h"
#include "smtp/server/session.h"

namespace {

const std::string kAlpn = "smtp";

namespace fuzz = correio::fuzz;
namespace smtp = correio::smtp;

class DiscardQueue : public correio::queue::Queue {
 public:
  correio::Result<uint64_t> Enqueue(const correio::queue::Envelope&,
                                    std::string_view) override {
    return ++next_;
  }
  correio::Status ReportDelivered(const correio::queue::Envelope&,
                                  std::string_view,
                                  std::string_view) override {
    return {};
  }

 private:
  uint64_t next_ = 0;
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

void CheckReplies(std::string_view out) {
  out = fuzz::UpToSwitch(out, {" Ready to start TLS\r\n"});
  auto lines = fuzz::CrlfLines(out);
  FUZZ_CHECK(!lines.empty());
  FUZZ_CHECK(lines.front().starts_with("220 "));
  std::string_view open_code;  // code of a reply whose last line is due
  for (std::string_view l : lines) {
    FUZZ_CHECK(l.size() >= 4 && l.size() + 2 <= 512);
    FUZZ_CHECK(l[0] >= '2' && l[0] <= '5' && IsDigit(l[1]) && IsDigit(l[2]));
    FUZZ_CHECK(l[3] == ' ' || l[3] == '-');
    if (!open_code.empty()) FUZZ_CHECK(l.substr(0, 3) == open_code);
    open_code = l[3] == '-' ? l.substr(0, 3) : std::string_view();
  }
  FUZZ_CHECK(open_code.empty());
}

void Run(std::string_view in, size_t chunk, bool submission) {
  fuzz::SessionWorld world(false);
  world.config.limits.max_received_headers = 3;  // loop detection reachable
  DiscardQueue queue;
  smtp::SessionOptions so;
  so.hostname = "mail.example.org";
  so.submission = submission;
  so.offer_starttls = true;
  so.tls = world.env.tls;
  so.max_line_length = world.config.limits.max_line_length;
  so.max_bad_commands = world.config.limits.max_bad_commands;
  so.queue = &queue;
  correio::mail::Env env = world.env;
  std::string out = fuzz::RunSession(
      in, chunk, [&env, &so](std::shared_ptr<correio::net::Connection> c) {
        c->SetAlpn(&kAlpn);  // as net::Server does
        return smtp::RunSession(std::move(c), env, so);
      });
  CheckReplies(out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::Capped(data, size);
  Run(in, 0, false);
  bool submission = true;
  for (size_t chunk : fuzz::kChunkSizes) {
    Run(in, chunk, submission);
    submission = !submission;
  }
  return 0;
}
