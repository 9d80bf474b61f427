#include "pop3/server/session.h"

#include <spdlog/spdlog.h>

#include "base/strings.h"

namespace correio::pop3 {

net::awaitable<void> RunSession(std::shared_ptr<net::Connection> conn,
                                [[maybe_unused]] mail::Env env,
                                SessionOptions options) {
  conn->SetTimeout(std::chrono::seconds(options.command_timeout_seconds));
  if (!co_await conn->Write("+OK correio POP3 ready\r\n")) co_return;
  uint32_t bad = 0;
  // RFC 2449 §4: a command line is at most 255 octets; we allow 512.
  constexpr size_t kMaxLine = 512;
  for (;;) {
    auto line = co_await conn->ReadLine(kMaxLine);
    if (!line) {
      if (line.error().code() == ErrorCode::kTooBig) {
        if (!co_await conn->Write("-ERR Line too long\r\n")) co_return;
        continue;
      }
      if (conn->stopping()) {
        co_await conn->Write("-ERR [SYS/TEMP] Server shutting down\r\n");
      }
      co_return;
    }
    std::string_view text = line->text;
    std::string verb = AsciiUppercase(text.substr(0, text.find(' ')));
    std::string reply;
    bool can_stls = options.offer_stls && options.tls && !conn->tls_active();
    if (verb == "QUIT") {
      co_await conn->Write("+OK Bye\r\n");
      co_return;
    } else if (verb == "CAPA") {
      reply = "+OK Capability list follows\r\n";
      if (can_stls) reply += "STLS\r\n";
      reply += "RESP-CODES\r\nIMPLEMENTATION correio\r\n.\r\n";
    } else if (verb == "NOOP") {
      reply = "+OK\r\n";
    } else if (verb == "STLS" && can_stls) {
      if (!co_await conn->Write("+OK Begin TLS negotiation\r\n")) co_return;
      auto st = co_await conn->StartTls(options.tls->Current());
      if (!st) {
        spdlog::info("pop3#{} {}", conn->id(), st.error().message());
        co_return;
      }
      continue;
    } else {
      reply = "-ERR Command not available yet\r\n";
      if (++bad > options.max_bad_commands) {
        co_await conn->Write("-ERR Too many errors\r\n");
        co_return;
      }
    }
    if (!co_await conn->Write(reply)) co_return;
  }
}

}  // namespace correio::pop3
