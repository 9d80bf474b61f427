// POP3 server session (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS).
//
// Foundation slice: greeting, CAPA, STLS, NOOP, QUIT; the maildrop commands
// answer -ERR until the POP3 engine lands (issue "POP3").
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
