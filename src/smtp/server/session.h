// SMTP server session (RFC 5321): one coroutine per connection.
//
// Foundation slice: greeting, EHLO/HELO, STARTTLS (RFC 3207), NOOP, RSET,
// QUIT; mail transactions are refused with 502 until the SMTP engine lands
// (issue "SMTP"). Shared by the MX and submission listeners.
#pragma once

#include <memory>
#include <string>

#include "mail/env.h"
#include "net/connection.h"
#include "net/tls.h"
#include "queue/queue.h"

namespace correio::smtp {

struct SessionOptions {
  std::string hostname;
  bool submission = false;       // 587/465 vs MX
  bool offer_starttls = true;    // plain listener with a TLS context
  std::shared_ptr<net::TlsContext> tls;
  uint32_t max_line_length = 1000;
  uint32_t max_bad_commands = 20;
  uint32_t command_timeout_seconds = 300;
  // Where mail for remote recipients goes (submission); null: refused.
  queue::Queue* queue = nullptr;
};

net::awaitable<void> RunSession(std::shared_ptr<net::Connection> conn,
                                mail::Env env, SessionOptions options);

}  // namespace correio::smtp
