// The server side of SASL (RFC 4422), shared by SMTP AUTH (RFC 4954), IMAP
// AUTHENTICATE (RFC 9051 §6.2.2) and POP3 AUTH (RFC 5034).
//
// Mechanisms: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login),
// SCRAM-SHA-256 (RFC 5802, RFC 7677; without channel binding).
//
// The engine works on decoded bytes: each protocol does its own base64,
// its own "*" cancellation and its own line limits. A SaslServer is one
// exchange: feed Step() the client's responses until it answers kSuccess or
// kFailure, then drop it.
//
// Accounts come from a CredentialLookup. An unknown user fails exactly like
// a wrong password and costs the same: PLAIN/LOGIN verify against a fixed
// dummy Argon2id hash; SCRAM answers with a fake salt and iteration count
// derived from the user name (stable across attempts) so the server-first
// message does not reveal that the user does not exist.
//
// Thread-safety: a SaslServer is used by one session at a time (no locking);
// distinct SaslServers may run on different threads. The lookup is called
// on the thread that calls Step() and may block (run Step on the blocking
// pool).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "store/types.h"

namespace correio::auth {

// Given the authentication identity as the client sent it, returns the
// account, kNotFound for an unknown user, or any other error (kTemp,
// kInternal), which ends the exchange with that error code and no guessing.
// The lookup is expected to normalise the address (NormalizeAddress).
using CredentialLookup =
    std::function<Result<store::Account>(std::string_view authcid)>;

struct SaslStep {
  enum State { kChallenge, kSuccess, kFailure };
  State state = kFailure;
  // kChallenge: raw bytes to send (the protocol base64-encodes); may be
  // empty (an empty challenge, e.g. "+ " in IMAP or "334 " in SMTP).
  std::string challenge;
  // kSuccess: the authenticated account (identity = account.address).
  std::string identity;
  store::Account account;
  // kSuccess: additional data for the client (SCRAM server-final "v=...").
  // The protocol sends it as it can: SMTP as a 334 challenge and then
  // expects an empty reply (RFC 4954 §4), IMAP as a "+" continuation
  // answered with an empty line, or in the tagged OK if the client
  // announced SASL-IR semantics (RFC 9051 §6.2.2).
  std::optional<std::string> final_data;
  // kFailure: kPerm for "authentication failed" (wrong password, unknown
  // user, no SCRAM credentials: all the same to the client), kInvalid for
  // a malformed exchange, kTemp when throttled or the store is unavailable,
  // kInternal for a broken store.
  ErrorCode error = ErrorCode::kPerm;
  // kFailure: why, for the log only. Never send it to the client.
  std::string reason;
  // Wait this long before sending the answer (login throttling; set by
  // Authenticator's SASL servers, 0 from a plain NewSaslServer).
  std::chrono::seconds delay{0};
};

class SaslServer {
 public:
  virtual ~SaslServer() = default;
  // The mechanism name in upper case ("PLAIN", "SCRAM-SHA-256").
  virtual std::string_view Mechanism() const = 0;
  // One round. The first call carries the initial response if the client
  // sent one (SASL-IR, "AUTH PLAIN <ir>"; an empty initial response "=" is
  // an empty string_view), or nullopt (the mechanism then sends its first
  // challenge, possibly empty). Later calls must carry a response.
  // After kSuccess or kFailure every further Step fails (kInvalid).
  virtual SaslStep Step(std::optional<std::string_view> client_response) = 0;
};

// Mechanism names are case-insensitive (RFC 4422 §3.1). kNotFound for a
// mechanism we do not offer.
Result<std::unique_ptr<SaslServer>> NewSaslServer(std::string_view mechanism,
                                                  CredentialLookup lookup);

// What to advertise, strongest first. Without TLS only SCRAM-SHA-256 (the
// password never crosses the wire) unless allow_plaintext is set (config
// auth.allow_plaintext); with TLS also PLAIN and LOGIN.
std::vector<std::string> SaslMechanisms(bool tls_active,
                                        bool allow_plaintext = false);

// Limits on what a client may send, checked before any work.
inline constexpr size_t kMaxSaslIdentity = 512;  // authcid / authzid bytes
inline constexpr size_t kMaxSaslMessage = 4096;  // one SCRAM message

// A fixed Argon2id hash (of a random password, computed once per process
// with our current parameters) to verify against when the user does not
// exist, so that an unknown user costs what a wrong password costs.
const std::string& DummyPasswordHash();

// The secret SCRAM derives an unknown user's fake salt from (see above).
// By default 32 random bytes made at first use, so fake salts change when
// the process restarts while real ones do not. app/ should call this once
// at start-up, before any exchange, with a secret kept in the data
// directory (at least 32 random bytes) so fake salts survive restarts.
// kInvalid if shorter than 32 bytes. Thread-safe.
Status SetSaslSecret(std::string_view secret);

}  // namespace correio::auth
