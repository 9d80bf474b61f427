// Test hooks of the SASL engine (not a public header).
#pragma once

#include <memory>
#include <string>

#include "auth/sasl.h"

namespace correio::auth::internal {

// A SCRAM-SHA-256 server that uses `server_nonce` as its nonce part instead
// of a random one, so RFC 7677 §3's exchange can be replayed exactly.
std::unique_ptr<SaslServer> NewScramSha256ServerWithNonce(
    CredentialLookup lookup, std::string server_nonce);

// The salt a SCRAM exchange presents for a user without SCRAM credentials
// (unknown, or an imported hash only): stable per user within the process.
std::string FakeScramSalt(std::string_view username);

}  // namespace correio::auth::internal
