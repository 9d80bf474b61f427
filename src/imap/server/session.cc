#include "imap/server/session.h"

#include <spdlog/spdlog.h>

#include "base/strings.h"

namespace correio::imap {

net::awaitable<void> RunSession(std::shared_ptr<net::Connection> conn,
                                [[maybe_unused]] mail::Env env,
                                SessionOptions options) {
  conn->SetTimeout(std::chrono::seconds(options.idle_timeout_seconds));
  auto capabilities = [&] {
    std::string caps = "IMAP4rev1 IMAP4rev2";
    if (options.offer_starttls && options.tls && !conn->tls_active()) {
      caps += " STARTTLS LOGINDISABLED";
    }
    return caps;
  };
  if (!co_await conn->Write("* OK [CAPABILITY " + capabilities() +
                            "] correio IMAP ready\r\n")) {
    co_return;
  }
  uint32_t bad = 0;
  for (;;) {
    auto line = co_await conn->ReadLine(options.max_line_length);
    if (!line) {
      if (line.error().code() == ErrorCode::kTooBig) {
        if (!co_await conn->Write("* BAD Line too long\r\n")) co_return;
        continue;
      }
      if (conn->stopping()) {
        co_await conn->Write("* BYE Server shutting down\r\n");
      } else if (conn->timed_out()) {
        co_await conn->Write("* BYE Autologout; idle for too long\r\n");
      }
      co_return;
    }
    auto parts = SplitString(line->text, ' ');
    if (parts.size() < 2 || parts[0].empty()) {
      if (!co_await conn->Write("* BAD Missing tag or command\r\n")) co_return;
      if (++bad > options.max_bad_commands) co_return;
      continue;
    }
    std::string tag(parts[0]);
    std::string cmd = AsciiUppercase(parts[1]);
    std::string reply;
    if (cmd == "LOGOUT") {
      co_await conn->Write("* BYE correio logging out\r\n" + tag +
                           " OK LOGOUT completed\r\n");
      co_return;
    } else if (cmd == "CAPABILITY") {
      reply = "* CAPABILITY " + capabilities() + "\r\n" + tag +
              " OK CAPABILITY completed\r\n";
    } else if (cmd == "NOOP") {
      reply = tag + " OK NOOP completed\r\n";
    } else if (cmd == "STARTTLS" && options.offer_starttls && options.tls &&
               !conn->tls_active()) {
      if (!co_await conn->Write(tag + " OK Begin TLS negotiation now\r\n")) {
        co_return;
      }
      auto st = co_await conn->StartTls(options.tls->Current());
      if (!st) {
        spdlog::info("imap#{} {}", conn->id(), st.error().message());
        co_return;
      }
      continue;
    } else {
      reply = tag + " NO Command not available yet\r\n";
      if (++bad > options.max_bad_commands) {
        co_await conn->Write("* BYE Too many errors\r\n");
        co_return;
      }
    }
    if (!co_await conn->Write(reply)) co_return;
  }
}

}  // namespace correio::imap
