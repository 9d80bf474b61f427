// Small cryptographic helpers shared inside auth/ (not a public header).
// Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace correio::auth::internal {

// Initialises libsodium once (thread-safe, idempotent). Aborts the process if
// libsodium cannot initialise: without a CSPRNG no login can be safe.
void EnsureSodium();

// `n` bytes from the system CSPRNG (libsodium randombytes_buf).
std::string RandomBytes(size_t n);

// MD5 only for APOP (RFC 1939 §7), which defines it; nothing else uses it.
std::string Md5(std::string_view data);
std::string Sha1(std::string_view data);
std::string Sha256(std::string_view data);
std::string Sha512(std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);
// PBKDF2-HMAC-SHA-256 with a 32-byte output; empty on failure.
std::string Pbkdf2Sha256(std::string_view password, std::string_view salt,
                         uint32_t iterations);

}  // namespace correio::auth::internal
