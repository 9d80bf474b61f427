// Password hashing and verification, and SCRAM-SHA-256 credential
// derivation.
//
// Provides:
//   HashPassword     new hashes: Argon2id (libsodium crypto_pwhash_str).
//   VerifyPassword   checks a password against a stored hash in any format we
//                    accept (our Argon2id, crypt(3) formats, Dovecot "{SCHEME}"
//                    prefixed formats) so accounts can be imported as is.
//   NeedsRehash      true for anything that is not an Argon2id hash with our
//                    current parameters: a login may then store a fresh hash.
//   DeriveScram      SCRAM-SHA-256 StoredKey/ServerKey (RFC 5802 §3, RFC 7677).
//   NormalizePassword the practical subset of SASLprep we apply.
//
// All comparisons of secrets are constant-time. Nothing here logs.
// Thread-safety: every function is thread-safe (no shared mutable state;
// libsodium is initialised once, thread-safely, on first use).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"
#include "store/types.h"

namespace correio::auth {

// Argon2id parameters of new hashes: libsodium's INTERACTIVE limits
// (opslimit 2, memlimit 64 MiB). A mail client logs in far more often than a
// person types a password (every IMAP connection, every POP3 poll), so the
// "interactive" cost is the ceiling; each concurrent verification holds 64 MiB,
// which the bounded blocking pool that runs logins keeps in check.
inline constexpr uint64_t kArgon2OpsLimit = 2;
inline constexpr size_t kArgon2MemLimit = 64u * 1024 * 1024;

// Longest password we hash or verify. Longer input is refused before any
// work (an Argon2 of a megabyte is cheap, but reading it is not our job).
inline constexpr size_t kMaxPasswordLength = 1024;

// The practical subset of SASLprep (RFC 4013) for passwords:
//  - ASCII passwords pass through unchanged;
//  - control characters (U+0000..U+001F, U+007F, RFC 4013 §2.3 / RFC 3454
//    C.2.1) are rejected, as is an empty or over-long password;
//  - non-ASCII passwords are used as their UTF-8 bytes, NOT normalised
//    (no NFKC, no mapping of non-ASCII spaces). Dovecot does the same. A
//    SCRAM client that does apply full SASLprep to a password that changes
//    under NFKC will therefore fail SCRAM (PLAIN still works).
// kInvalid on rejection.
Result<std::string> NormalizePassword(std::string_view password);

// Hashes with Argon2id at kArgon2OpsLimit/kArgon2MemLimit. The password goes
// through NormalizePassword first (kInvalid). kInternal if libsodium fails
// (out of memory).
Result<std::string> HashPassword(std::string_view password);

// True if `password` matches `stored`. Accepted formats:
//   $argon2id$..., $argon2i$...            libsodium
//   $6$ (SHA512-crypt), $5$ (SHA256-crypt), $2a$/$2b$/$2y$ (bcrypt),
//   $1$ (MD5-crypt), $y$ (yescrypt)        libcrypt crypt_rn
//   Dovecot "{SCHEME}data" (scheme case-insensitive):
//     {ARGON2ID} {ARGON2I}                 data is a $argon2..$ string
//     {SHA512-CRYPT} {SHA256-CRYPT} {BLF-CRYPT} {MD5-CRYPT}
//                                          data is the matching crypt string
//     {CRYPT}                              any crypt(3) string (incl. DES)
//     {SSHA} {SSHA256} {SSHA512}           base64(H(pw + salt) + salt)
//     {SHA} {SHA256} {SHA512}              base64(H(pw)), unsalted
//     {PLAIN} {CLEAR}                      the password itself: accepted for
//                                          imports only, weak (NeedsRehash)
//   The SHA family also takes Dovecot's ".HEX" / ".B64" encoding suffix
//   ({SHA256.HEX}...).
// Anything else, or a malformed hash, is false.
bool VerifyPassword(std::string_view password, std::string_view stored);

// True unless `stored` is a bare "$argon2id$" hash with exactly our current
// parameters. A successful login with a hash that needs rehashing may store
// HashPassword(password) instead.
bool NeedsRehash(std::string_view stored);

// SCRAM-SHA-256 credentials (RFC 5802 §3):
//   SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations)
//   ClientKey = HMAC(SaltedPassword, "Client Key"); StoredKey = SHA-256(ClientKey)
//   ServerKey = HMAC(SaltedPassword, "Server Key")
// with a random 16-byte salt. The password goes through NormalizePassword
// (kInvalid); iterations must be >= 4096 (RFC 7677 §4 minimum) (kInvalid).
inline constexpr uint32_t kScramDefaultIterations = 4096;
Result<store::ScramCredentials> DeriveScram(
    std::string_view password, uint32_t iterations = kScramDefaultIterations);
// Same with a given salt; no minimum on iterations (tests, test vectors).
Result<store::ScramCredentials> DeriveScramWithSalt(std::string_view password,
                                                    std::string_view salt,
                                                    uint32_t iterations);

}  // namespace correio::auth
