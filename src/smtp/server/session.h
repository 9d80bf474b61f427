// SMTP server session (RFC 5321): one coroutine per connection, shared by
// the MX listener (mail for local domains from anyone, never relays) and the
// submission listeners (RFC 6409 / RFC 8314: AUTH first, then anywhere).
//
// Extensions: PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES,
// STARTTLS, AUTH (submission), CHUNKING, DSN, REQUIRETLS (over TLS).
// Parsing lives in smtp/proto (no I/O); this file does the I/O, the state
// machine and the store/queue calls (through env.pool; RCPT answers a
// recipient looked up a moment ago from options.recipients).
// docs/smtp.md lists what is implemented RFC by RFC.
//
// Settings come from `options` (set by app/serve.cc) and env.config->limits
// (message size, recipients, data timeout, Received hops, line length).
#pragma once

#include <memory>
#include <string>

#include "mail/env.h"
#include "mail/recipient_cache.h"
#include "net/connection.h"
#include "net/tls.h"
#include "queue/queue.h"

namespace correio::smtp {

struct SessionOptions {
  std::string hostname;
  bool submission = false;     // 587/465 vs MX
  bool offer_starttls = true;  // plain listener with a TLS context
  std::shared_ptr<net::TlsContext> tls;
  uint32_t max_line_length = 1000;
  uint32_t max_bad_commands = 20;
  uint32_t command_timeout_seconds = 300;
  // Where mail for remote recipients goes (submission); null: refused.
  queue::Queue* queue = nullptr;
  // Recent RCPT lookups, shared by the server's SMTP sessions; null: every
  // RCPT asks the store.
  mail::RecipientCache* recipients = nullptr;
};

net::awaitable<void> RunSession(std::shared_ptr<net::Connection> conn,
                                mail::Env env, SessionOptions options);

}  // namespace correio::smtp
