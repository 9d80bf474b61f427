// Login for the protocols: one place that ties the store, the password
// formats, SASL and the throttle together.
//
// Authenticator::Login is USER/PASS, IMAP LOGIN and the like;
// Authenticator::NewSasl starts an AUTH/AUTHENTICATE exchange whose steps
// are throttled the same way. Both:
//  - normalise the address (NormalizeAddress);
//  - refuse an IP the throttle has blocked with kTemp before any work;
//  - make an unknown user cost and look exactly like a wrong password
//    (kPerm "authentication failed");
//  - report how long the protocol must wait before it answers (throttle
//    delay), which it must do asynchronously, never sleeping on a thread.
// Store errors other than "not found" pass through (kTemp/kInternal) and are
// not counted as failed logins.
// After a password verifies (Login, SASL PLAIN/LOGIN) an account whose hash
// NeedsRehash gets a fresh Argon2id hash, and one without SCRAM keys gets
// them (Store::SetCredentials), so imported accounts move to our formats and
// can use SCRAM-SHA-256 from then on. Best effort: never fails a login.
//
// Calls block (store access, Argon2id ~ tens of ms and 64 MiB): run them on
// the blocking pool, never on a network thread.
// Thread-safety: an Authenticator may be used from many threads at once
// (Store and LoginThrottle are thread-safe). A SaslServer from NewSasl is
// used by one session at a time and must not outlive the Authenticator.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "auth/sasl.h"
#include "auth/throttle.h"
#include "auth/verified_cache.h"
#include "base/error.h"
#include "store/store.h"
#include "store/types.h"

namespace correio::auth {

struct LoginResult {
  // The account, or kPerm "authentication failed" (unknown user and wrong
  // password alike), kTemp "too many failed logins" when the IP is blocked,
  // or a store error.
  Result<store::Account> account;
  // Wait this long before sending the answer (either outcome).
  std::chrono::seconds delay{0};
  // Set when account is kTemp because of the throttle.
  int64_t blocked_until = 0;
};

// APOP's digest (RFC 1939 §7): lowercase hex MD5 of timestamp + secret.
std::string ApopDigest(std::string_view timestamp, std::string_view secret);

class Authenticator {
 public:
  // Both must outlive the Authenticator. keep_apop_secret is pop3.apop:
  // while on, every password login stores the password as the account's
  // APOP secret (Store::SetApopSecret); while off, it removes one.
  // verified_ttl: how long a verified password is remembered so the next
  // login of that account with it skips Argon2id (VerifiedPasswords,
  // config auth.login_cache_seconds); 0: never.
  Authenticator(store::Store& store, LoginThrottle& throttle,
                bool keep_apop_secret = false,
                std::chrono::seconds verified_ttl = std::chrono::seconds(0));

  LoginResult Login(std::string_view ip, std::string_view address,
                    std::string_view password);

  // POP3 APOP (RFC 1939 §7): `digest` (32 lowercase hex digits) must be
  // ApopDigest(timestamp, the account's APOP secret). Throttled and
  // answered like Login; always kPerm when APOP is off or the account has
  // no secret yet.
  LoginResult LoginApop(std::string_view ip, std::string_view address,
                        std::string_view timestamp, std::string_view digest);

  // A SASL exchange for a client at `ip`: accounts are looked up in the
  // store, each step is throttled (a blocked IP fails with kTemp at the
  // first step that names a user), and every final step carries the delay
  // to wait. kNotFound for an unknown mechanism.
  Result<std::unique_ptr<SaslServer>> NewSasl(std::string_view ip,
                                              std::string_view mechanism);

  // The lookup NewSasl uses (normalised address -> account), for callers
  // that want a bare NewSaslServer.
  CredentialLookup StoreLookup();

 private:
  store::Store& store_;
  LoginThrottle& throttle_;
  VerifiedPasswords verified_;
  bool keep_apop_secret_;
};

}  // namespace correio::auth
