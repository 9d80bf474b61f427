// IMAP server session (RFC 9051 / RFC 3501).
//
// Foundation slice: greeting, CAPABILITY, NOOP, LOGOUT, STARTTLS; other
// commands get NO until the IMAP engine lands (issue "IMAP").
#pragma once

#include <memory>
#include <string>

#include "mail/env.h"
#include "net/connection.h"
#include "net/tls.h"

namespace correio::imap {

struct SessionOptions {
  std::string hostname;
  bool offer_starttls = true;
  std::shared_ptr<net::TlsContext> tls;
  uint32_t max_line_length = 8192;
  uint32_t max_bad_commands = 20;
  uint32_t idle_timeout_seconds = 1800;
};

net::awaitable<void> RunSession(std::shared_ptr<net::Connection> conn,
                                mail::Env env, SessionOptions options);

}  // namespace correio::imap
