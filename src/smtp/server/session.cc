#include "smtp/server/session.h"

#include <spdlog/spdlog.h>

#include "base/strings.h"

namespace correio::smtp {

namespace {

std::string_view Verb(std::string_view line) {
  size_t sp = line.find(' ');
  return sp == std::string_view::npos ? line : line.substr(0, sp);
}

}  // namespace

net::awaitable<void> RunSession(std::shared_ptr<net::Connection> conn,
                                [[maybe_unused]] mail::Env env,
                                SessionOptions options) {
  conn->SetTimeout(std::chrono::seconds(options.command_timeout_seconds));
  const std::string& host = options.hostname;
  if (!co_await conn->Write("220 " + host + " ESMTP correio\r\n")) co_return;
  uint32_t bad = 0;
  for (;;) {
    auto line = co_await conn->ReadLine(options.max_line_length);
    if (!line) {
      if (line.error().code() == ErrorCode::kTooBig) {
        if (!co_await conn->Write("500 5.5.2 Line too long\r\n")) co_return;
        continue;
      }
      if (conn->stopping()) {
        co_await conn->Write("421 4.3.2 " + host +
                             " Service shutting down\r\n");
      } else if (conn->timed_out()) {
        co_await conn->Write("421 4.4.2 " + host + " Timeout\r\n");
      }
      co_return;
    }
    std::string verb = AsciiUppercase(Verb(line->text));
    std::string reply;
    if (line->bare_lf) {
      // RFC 5321 §2.3.8: commands end in CRLF only.
      reply = "500 5.5.2 Bare LF is not allowed\r\n";
    } else if (verb == "QUIT") {
      co_await conn->Write("221 2.0.0 " + host + " Bye\r\n");
      co_return;
    } else if (verb == "EHLO") {
      reply = "250-" + host + "\r\n";
      if (options.offer_starttls && options.tls && !conn->tls_active()) {
        reply += "250-STARTTLS\r\n";
      }
      reply += "250 ENHANCEDSTATUSCODES\r\n";
    } else if (verb == "HELO") {
      reply = "250 " + host + "\r\n";
    } else if (verb == "NOOP" || verb == "RSET") {
      reply = "250 2.0.0 OK\r\n";
    } else if (verb == "STARTTLS" && options.offer_starttls && options.tls &&
               !conn->tls_active()) {
      if (!co_await conn->Write("220 2.0.0 Ready to start TLS\r\n")) co_return;
      auto st = co_await conn->StartTls(options.tls->Current());
      if (!st) {
        spdlog::info("smtp#{} {}", conn->id(), st.error().message());
        co_return;
      }
      continue;
    } else {
      reply = "502 5.5.1 Command not available yet\r\n";
      if (++bad > options.max_bad_commands) {
        co_await conn->Write("421 4.7.0 Too many errors\r\n");
        co_return;
      }
    }
    if (!co_await conn->Write(reply)) co_return;
  }
}

}  // namespace correio::smtp
