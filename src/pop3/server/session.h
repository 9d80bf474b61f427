// POP3 server session (RFC 1939, RFC 2449 CAPA and response codes, RFC 2595
// STLS, RFC 5034 AUTH, RFC 3206 response codes).
//
// One coroutine per connection: greeting, AUTHORIZATION (USER/PASS, AUTH,
// STLS, CAPA), then TRANSACTION on an INBOX snapshot (pop3/server/
// maildrop.h), and UPDATE on QUIT, which applies every DELE in one store
// call and answers +OK only after it is durable. Any other end (drop,
// timeout, too many errors, shutdown) applies nothing.
//
// Settings come from SessionOptions (set by app/serve.cc) and from
// env.config (auth.allow_plaintext, limits.max_line_length, pop3.*), with
// per-account overrides (store::AccountSettings). See docs/pop3.md.
//
// Thread-safety: a session runs on its connection's io_context; blocking
// work goes through env.pool (STYLE 13).
#pragma once

#include <memory>
#include <string>

#include "mail/env.h"
#include "net/connection.h"
#include "net/tls.h"

namespace correio::pop3 {

struct SessionOptions {
  std::string hostname;
  bool offer_stls = true;
  std::shared_ptr<net::TlsContext> tls;
  uint32_t max_bad_commands = 20;
  uint32_t command_timeout_seconds = 600;  // RFC 1939 §3: at least 10 min
};

net::awaitable<void> RunSession(std::shared_ptr<net::Connection> conn,
                                mail::Env env, SessionOptions options);

}  // namespace correio::pop3
