// Env: the shared services every protocol session is given by app/.
//
// One struct so that app/ wires SMTP, POP3 and IMAP the same way and a
// session reads its settings from the one Config. Everything here outlives
// every session (app/serve.cc owns them and stops the listeners first).
//
// Thread-safety: all members are thread-safe; sessions on any worker use
// them concurrently. Blocking calls go through `pool` (store) or
// `auth_pool` (password hashing) (net/blocking.h, STYLE 13).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "auth/authenticator.h"
#include "auth/throttle.h"
#include "config/config.h"
#include "net/blocking.h"
#include "net/tls.h"
#include "store/change_hub.h"
#include "store/store.h"

namespace correio::mail {

struct Env {
  const config::Config* config = nullptr;
  std::string hostname;  // resolved: config.hostname or the machine's name
  store::Store* store = nullptr;
  store::ChangeHub* hub = nullptr;
  auth::Authenticator* auth = nullptr;
  auth::LoginThrottle* throttle = nullptr;
  net::BlockingPool* pool = nullptr;
  // Password hashing (LOGIN, every SASL step): its own threads, so that a
  // burst of logins (Argon2id costs tens of ms of CPU each) never queues
  // the store calls of sessions already logged in behind it. Null: `pool`.
  net::BlockingPool* auth_pool = nullptr;
  net::BlockingPool& AuthPool() const { return auth_pool ? *auth_pool : *pool; }
  std::shared_ptr<net::TlsContext> tls;

  // A fresh id for a session, used as the `origin` of its store changes so
  // it can tell its own changes from other sessions' (ChangeHub).
  uint64_t NextOrigin() const { return next_origin_->fetch_add(1) + 1; }

 private:
  std::shared_ptr<std::atomic<uint64_t>> next_origin_ =
      std::make_shared<std::atomic<uint64_t>>(0);
};

}  // namespace correio::mail
