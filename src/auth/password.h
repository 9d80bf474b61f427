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

// The Argon2id cost HashPassword uses and NeedsRehash compares against:
// kArgon2OpsLimit/kArgon2MemLimit unless a test lowered it.
struct Argon2Cost {
  uint64_t ops_limit = kArgon2OpsLimit;
  size_t mem_limit = kArgon2MemLimit;
};
Argon2Cost CurrentArgon2Cost();

// TESTS ONLY. Sets the Argon2id cost of new hashes process-wide (and what
// NeedsRehash treats as current), so suites that hash or verify many
// passwords stay fast: e.g. SetArgon2CostForTesting(1, 8192), the
// libsodium minimums. Values below those minimums are raised to them. Call
// it before the first HashPassword / DummyPasswordHash (the dummy hash is
// made once, with the cost in force at that moment). Production code never
// calls it; app/ has no option that reaches it.
void SetArgon2CostForTesting(uint64_t ops_limit, size_t mem_limit);

// Ceilings on the cost parameters of stored hashes we agree to verify. An
// imported or corrupted hash with an absurd cost would otherwise pin a
// blocking-pool thread for hours (bcrypt $31$, Argon2 t=2^32-1) or ask for
// terabytes (Argon2 m=2^32-1 KiB); such a hash simply does not verify.
// Each is above what deployments use: libsodium's SENSITIVE Argon2id is
// m=1 GiB, t=4; Dovecot's BLF-CRYPT default cost is 5 and 10-12 is common
// (14 already takes about a second); passlib's sha512_crypt default is
// 656000 rounds. An account whose hash exceeds them needs a new password.
inline constexpr uint64_t kMaxArgon2MemKiB = 1u << 20;          // 1 GiB
inline constexpr uint64_t kMaxArgon2MemTimesPasses = 1u << 22;  // KiB * t
inline constexpr uint64_t kMaxArgon2Lanes = 255;
inline constexpr int kMaxBcryptCost = 14;
inline constexpr uint64_t kMaxShaCryptRounds = 1000000;

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

// Hashes with Argon2id at CurrentArgon2Cost(). The password goes
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
// An empty password, any other format, a malformed hash, or one whose cost
// exceeds the ceilings above (kMaxArgon2MemKiB ...) is false. yescrypt ($y$)
// costs are not checked (libxcrypt bounds them itself). Traditional DES is
// taken only as "{CRYPT}xxxxxxxxxxxxx" and reads 8 characters.
bool VerifyPassword(std::string_view password, std::string_view stored);

// True unless `stored` is a bare "$argon2id$" hash with exactly our current
// parameters (CurrentArgon2Cost()). A successful login with a hash that needs
// rehashing may store HashPassword(password) instead.
bool NeedsRehash(std::string_view stored);

// SCRAM-SHA-256 credentials (RFC 5802 §3):
//   SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations)
//   ClientKey = HMAC(SaltedPassword, "Client Key"); StoredKey =
//   SHA-256(ClientKey) ServerKey = HMAC(SaltedPassword, "Server Key")
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
