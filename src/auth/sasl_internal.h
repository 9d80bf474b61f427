// Test hooks of the SASL engine (not a public header).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "auth/sasl.h"

namespace correio::auth::internal {

// Called by PLAIN and LOGIN once `password` has verified for `account`, so
// the caller can upgrade the stored credentials (Authenticator: rehash to
// Argon2id, derive SCRAM keys). Runs on the thread that calls Step().
using PasswordVerified =
    std::function<void(store::Account& account, std::string_view password)>;
// Checks a password against a stored hash in place of VerifyPassword
// (Authenticator: with its VerifiedPasswords cache in front).
using PasswordCheck =
    std::function<bool(std::string_view password, std::string_view stored)>;

// NewSaslServer with hooks for PLAIN and LOGIN (SCRAM never sees the
// password). Either may be empty: no upgrade; VerifyPassword.
Result<std::unique_ptr<SaslServer>> NewSaslServerWithHook(
    std::string_view mechanism, CredentialLookup lookup,
    PasswordVerified on_verified, PasswordCheck check = nullptr);

// A SCRAM-SHA-256 server that uses `server_nonce` as its nonce part instead
// of a random one, so RFC 7677 §3's exchange can be replayed exactly.
std::unique_ptr<SaslServer> NewScramSha256ServerWithNonce(
    CredentialLookup lookup, std::string server_nonce);

// The salt a SCRAM exchange presents for a user without SCRAM credentials
// (unknown, or an imported hash only): stable per user within the process.
std::string FakeScramSalt(std::string_view username);

}  // namespace correio::auth::internal
