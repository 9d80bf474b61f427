// The whole POP3 session (src/pop3/server/session.cc): the input is what a
// client sends, from after the greeting to EOF, run through RunSession on a
// fresh memory store (session_common.h: account alice@example.org,
// password "secret", three messages in the INBOX). STLS is offered and
// plaintext USER/PASS/AUTH allowed.
//
// Each input runs as a whole and in pieces of 1, 2, 3, 7 and 64 bytes
// (kChunkSizes); each chunked run uses another server policy, so the
// deletion modes and APOP are reached too: pop3.apop on (the greeting's
// timestamp is random, so APOP itself can only fail), delete_mode
// keep-seen, delete_mode archive, download_once without mark_seen_on_retr,
// and the defaults.
//
// Invariants: the session returns after EOF; everything it writes until
// STLS succeeds is CRLF lines with no other CR or LF (the INBOX holds only
// CRLF messages, so RETR/TOP bodies must be CRLF too) and it starts with
// the +OK greeting.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "pop3/server/session.h"
#include "session_common.h"

namespace {

const std::string kAlpn = "pop3";

namespace fuzz = correio::fuzz;
namespace pop3 = correio::pop3;

enum class Policy { kDefault, kApop, kKeepSeen, kArchive, kDownloadOnce };

void CheckReplies(std::string_view out) {
  out = fuzz::UpToSwitch(out, {"+OK Begin TLS negotiation\r\n"});
  auto lines = fuzz::CrlfLines(out);
  FUZZ_CHECK(!lines.empty());
  FUZZ_CHECK(lines.front().starts_with("+OK "));
}

void Run(std::string_view in, size_t chunk, Policy policy) {
  fuzz::SessionWorld world(true, policy == Policy::kApop);
  auto& p = world.config.pop3;
  switch (policy) {
    case Policy::kDefault:
      break;
    case Policy::kApop:
      p.apop = true;
      break;
    case Policy::kKeepSeen:
      p.delete_mode = "keep-seen";
      break;
    case Policy::kArchive:
      p.delete_mode = "archive";
      break;
    case Policy::kDownloadOnce:
      p.download_once = true;
      p.mark_seen_on_retr = false;
      break;
  }
  pop3::SessionOptions po;
  po.hostname = "mail.example.org";
  po.offer_stls = true;
  po.tls = world.env.tls;
  po.max_bad_commands = world.config.limits.max_bad_commands;
  correio::mail::Env env = world.env;
  std::string out = fuzz::RunSession(
      in, chunk, [&env, &po](std::shared_ptr<correio::net::Connection> c) {
        c->SetAlpn(&kAlpn);  // as net::Server does
        return pop3::RunSession(std::move(c), env, po);
      });
  CheckReplies(out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::Capped(data, size);
  static constexpr Policy kPolicies[] = {
      Policy::kDefault, Policy::kApop,         Policy::kKeepSeen,
      Policy::kArchive, Policy::kDownloadOnce, Policy::kDefault};
  static_assert(std::size(kPolicies) == std::size(fuzz::kChunkSizes));
  for (size_t i = 0; i < std::size(fuzz::kChunkSizes); ++i) {
    Run(in, fuzz::kChunkSizes[i], kPolicies[i]);
  }
  return 0;
}
