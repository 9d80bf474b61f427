// SMTP server session (RFC 5321): one coroutine per connection.
//
// Foundation slice: greeting, EHLO/HELO, STARTTLS (RFC 3207), NOOP, RSET,
// QUIT; mail transactions are refused with 502 until the SMTP engine lands
// (issue "SMTP"). Shared by the MX and submission listeners.
#pragma once

#include <memory>
#include <string>

#include "net/connection.h"
#include "net/tls.h"

namespace correio::smtp {

struct SessionOptions {
  std::string hostname;
  bool submission = false;       // 587/465 vs MX
  bool offer_starttls = true;    // plain listener with a TLS context
  std::shared_ptr<net::TlsContext> tls;
  uint32_t max_line_length = 1000;
  uint32_t max_bad_commands = 20;
  uint32_t command_timeout_seconds = 300;
};

net::awaitable<void> RunSession(std::shared_ptr<net::Connection> conn,
                                SessionOptions options);

}  // namespace correio::smtp
