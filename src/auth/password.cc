#include "auth/password.h"

#include <crypt.h>
#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>

#include "auth/crypto_internal.h"
#include "base/strings.h"

namespace correio::auth {
namespace {

using internal::EnsureSodium;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::atomic<uint64_t> g_argon2_ops{kArgon2OpsLimit};
std::atomic<size_t> g_argon2_mem{kArgon2MemLimit};

// The number after `key` up to the next '$' or ',' (or the end).
std::optional<uint64_t> NumberAfter(std::string_view s, std::string_view key) {
  if (!StartsWith(s, key)) return std::nullopt;
  s.remove_prefix(key.size());
  return ParseUint64(s.substr(0, s.find_first_of("$,")));
}

// Cost ceilings of crypt(3) hashes (password.h kMaxBcryptCost ...). True if
// the cost is acceptable or not one we bound; libxcrypt rejects what it
// cannot parse.
bool CryptCostAcceptable(std::string_view stored) {
  if (StartsWith(stored, "$2a$") || StartsWith(stored, "$2b$") ||
      StartsWith(stored, "$2y$")) {
    // "$2b$NN$": the cost is a log2 of the rounds, always two digits.
    std::string_view cost = stored.substr(4, 3);
    if (cost.size() != 3 || cost[2] != '$') return false;
    std::optional<uint64_t> n = ParseUint64(cost.substr(0, 2));
    return n && *n <= static_cast<uint64_t>(kMaxBcryptCost);
  }
  if (StartsWith(stored, "$5$") || StartsWith(stored, "$6$")) {
    std::string_view rest = stored.substr(3);
    if (!StartsWith(rest, "rounds=")) return true;  // default 5000
    std::optional<uint64_t> n = NumberAfter(rest, "rounds=");
    return n && *n <= kMaxShaCryptRounds;
  }
  return true;
}

// "$argon2id$v=19$m=65536,t=2,p=1$salt$hash" (v= is absent in Argon2 1.0
// hashes): true if m, t and p are within password.h's ceilings.
bool Argon2CostAcceptable(std::string_view stored) {
  std::string_view rest = stored.substr(stored.find('$', 1) + 1);
  if (StartsWith(rest, "v=")) {
    size_t end = rest.find('$');
    if (end == std::string_view::npos) return false;
    rest.remove_prefix(end + 1);
  }
  std::optional<uint64_t> m = NumberAfter(rest, "m=");
  if (!m) return false;
  rest.remove_prefix(rest.find(',') == std::string_view::npos
                         ? rest.size()
                         : rest.find(',') + 1);
  std::optional<uint64_t> t = NumberAfter(rest, "t=");
  if (!t) return false;
  rest.remove_prefix(rest.find(',') == std::string_view::npos
                         ? rest.size()
                         : rest.find(',') + 1);
  std::optional<uint64_t> p = NumberAfter(rest, "p=");
  if (!p) return false;
  // m <= 2^20 and t <= 2^22 first, so the product cannot overflow.
  return *m <= kMaxArgon2MemKiB && *t <= kMaxArgon2MemTimesPasses &&
         *m * *t <= kMaxArgon2MemTimesPasses && *p <= kMaxArgon2Lanes;
}

// crypt(3) through libxcrypt's reentrant crypt_rn. `setting` is the whole
// stored hash (crypt reads the salt and parameters from it); the result must
// equal it exactly.
bool VerifyCrypt(std::string_view password, std::string_view stored) {
  // Both go to C APIs as NUL-terminated strings: an embedded NUL would
  // silently truncate, so such input can never match.
  if (password.find('\0') != std::string_view::npos ||
      stored.find('\0') != std::string_view::npos || stored.empty() ||
      !CryptCostAcceptable(stored)) {
    return false;
  }
  std::string phrase(password);
  std::string setting(stored);
  // struct crypt_data is ~32 KiB: keep it off the (coroutine/pool) stack.
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_rn(phrase.c_str(), setting.c_str(), data.get(),
                             static_cast<int>(sizeof(crypt_data)));
  bool ok = false;
  // Failure is NULL (crypt_rn) or a string starting with '*'.
  if (out != nullptr && out[0] != '*') {
    ok = ConstantTimeEquals(out, stored);
  }
  sodium_memzero(data.get(), sizeof(crypt_data));
  sodium_memzero(phrase.data(), phrase.size());
  return ok;
}

bool VerifyArgon2(std::string_view password, std::string_view stored) {
  if (!StartsWith(stored, "$argon2id$") && !StartsWith(stored, "$argon2i$")) {
    return false;
  }
  if (stored.find('\0') != std::string_view::npos) return false;
  if (!Argon2CostAcceptable(stored)) return false;
  EnsureSodium();
  std::string str(stored);
  // crypto_pwhash_str_verify dispatches on the $argon2id$ / $argon2i$ prefix.
  return crypto_pwhash_str_verify(str.c_str(), password.data(),
                                  password.size()) == 0;
}

bool IsBareCrypt(std::string_view stored) {
  for (std::string_view p :
       {"$1$", "$5$", "$6$", "$2a$", "$2b$", "$2y$", "$y$"}) {
    if (StartsWith(stored, p)) return true;
  }
  return false;
}

std::optional<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]);
    int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

enum class Encoding { kBase64, kHex };

std::optional<std::string> DecodeDigest(std::string_view data, Encoding enc) {
  return enc == Encoding::kHex ? HexDecode(data) : Base64Decode(data);
}

using DigestFn = std::string (*)(std::string_view);

// Dovecot {SHA*} (unsalted) and {SSHA*} (digest followed by the salt).
bool VerifyShaFamily(std::string_view password, std::string_view data,
                     DigestFn digest, size_t digest_len, bool salted,
                     Encoding enc) {
  std::optional<std::string> raw = DecodeDigest(data, enc);
  if (!raw) return false;
  if (salted) {
    // Dovecot refuses an SSHA value with no salt after the digest.
    if (raw->size() <= digest_len) return false;
    std::string_view salt = std::string_view(*raw).substr(digest_len);
    std::string input(password);
    input.append(salt);
    std::string computed = digest(input);
    sodium_memzero(input.data(), input.size());
    return ConstantTimeEquals(computed,
                              std::string_view(*raw).substr(0, digest_len));
  }
  if (raw->size() != digest_len) return false;
  return ConstantTimeEquals(digest(password), *raw);
}

// "{SCHEME}data" as Dovecot writes it (scheme names are case-insensitive).
bool VerifyDovecot(std::string_view password, std::string_view stored) {
  size_t close = stored.find('}');
  if (close == std::string_view::npos) return false;
  std::string scheme = AsciiUppercase(stored.substr(1, close - 1));
  std::string_view data = stored.substr(close + 1);

  if (scheme == "ARGON2ID") {
    return StartsWith(data, "$argon2id$") && VerifyArgon2(password, data);
  }
  if (scheme == "ARGON2I") {
    return StartsWith(data, "$argon2i$") && VerifyArgon2(password, data);
  }
  if (scheme == "SHA512-CRYPT") {
    return StartsWith(data, "$6$") && VerifyCrypt(password, data);
  }
  if (scheme == "SHA256-CRYPT") {
    return StartsWith(data, "$5$") && VerifyCrypt(password, data);
  }
  if (scheme == "BLF-CRYPT") {
    return (StartsWith(data, "$2a$") || StartsWith(data, "$2b$") ||
            StartsWith(data, "$2y$")) &&
           VerifyCrypt(password, data);
  }
  if (scheme == "MD5-CRYPT") {
    return StartsWith(data, "$1$") && VerifyCrypt(password, data);
  }
  if (scheme == "CRYPT") {
    // Whatever the system crypt(3) understands, DES included (Dovecot's
    // CRYPT scheme is the system crypt).
    return VerifyCrypt(password, data);
  }
  if (scheme == "PLAIN" || scheme == "CLEAR") {
    // Compare digests so that not even the length leaks.
    return ConstantTimeEquals(internal::Sha256(password),
                              internal::Sha256(data));
  }

  // The SHA family, with Dovecot's optional ".HEX" / ".B64" suffix.
  Encoding enc = Encoding::kBase64;
  std::string_view base = scheme;
  if (base.ends_with(".HEX")) {
    enc = Encoding::kHex;
    base.remove_suffix(4);
  } else if (base.ends_with(".B64")) {
    base.remove_suffix(4);
  }
  struct ShaScheme {
    std::string_view name;
    DigestFn fn;
    size_t len;
    bool salted;
  };
  static constexpr ShaScheme kSchemes[] = {
      {"SHA", internal::Sha1, 20, false},
      {"SHA1", internal::Sha1, 20, false},
      {"SHA256", internal::Sha256, 32, false},
      {"SHA512", internal::Sha512, 64, false},
      {"SSHA", internal::Sha1, 20, true},
      {"SSHA256", internal::Sha256, 32, true},
      {"SSHA512", internal::Sha512, 64, true},
  };
  for (const ShaScheme& s : kSchemes) {
    if (base == s.name) {
      return VerifyShaFamily(password, data, s.fn, s.len, s.salted, enc);
    }
  }
  return false;
}

}  // namespace

Result<std::string> NormalizePassword(std::string_view password) {
  if (password.empty()) return Fail(ErrorCode::kInvalid, "empty password");
  if (password.size() > kMaxPasswordLength) {
    return Fail(ErrorCode::kInvalid, "password too long");
  }
  for (char c : password) {
    auto u = static_cast<unsigned char>(c);
    // RFC 4013 §2.3 prohibits ASCII control characters (RFC 3454 C.2.1).
    if (u < 0x20 || u == 0x7f) {
      return Fail(ErrorCode::kInvalid, "control character in password");
    }
  }
  // Non-ASCII: used as UTF-8 bytes, unnormalised (see password.h).
  return std::string(password);
}

Argon2Cost CurrentArgon2Cost() {
  return Argon2Cost{g_argon2_ops.load(std::memory_order_relaxed),
                    g_argon2_mem.load(std::memory_order_relaxed)};
}

void SetArgon2CostForTesting(uint64_t ops_limit, size_t mem_limit) {
  g_argon2_ops.store(
      std::max<uint64_t>(ops_limit, crypto_pwhash_argon2id_OPSLIMIT_MIN),
      std::memory_order_relaxed);
  g_argon2_mem.store(
      std::max<size_t>(mem_limit, crypto_pwhash_argon2id_MEMLIMIT_MIN),
      std::memory_order_relaxed);
}

Result<std::string> HashPassword(std::string_view password) {
  Result<std::string> normalized = NormalizePassword(password);
  if (!normalized) return Fail(normalized.error());
  EnsureSodium();
  char out[crypto_pwhash_argon2id_STRBYTES];
  Argon2Cost cost = CurrentArgon2Cost();
  int rc =
      crypto_pwhash_argon2id_str(out, normalized->data(), normalized->size(),
                                 cost.ops_limit, cost.mem_limit);
  sodium_memzero(normalized->data(), normalized->size());
  if (rc != 0) {
    return Fail(ErrorCode::kInternal, "crypto_pwhash_str failed (memory?)");
  }
  return std::string(out);
}

bool VerifyPassword(std::string_view password, std::string_view stored) {
  // An empty password is never right, even against "{PLAIN}" (an empty
  // stored value) or a hash of "" made elsewhere; HashPassword refuses it.
  if (password.empty() || password.size() > kMaxPasswordLength) return false;
  if (StartsWith(stored, "$argon2")) return VerifyArgon2(password, stored);
  if (IsBareCrypt(stored)) return VerifyCrypt(password, stored);
  if (StartsWith(stored, "{")) return VerifyDovecot(password, stored);
  return false;
}

bool NeedsRehash(std::string_view stored) {
  if (!StartsWith(stored, "$argon2id$")) return true;
  if (stored.find('\0') != std::string_view::npos) return true;
  EnsureSodium();
  std::string str(stored);
  // 0: our parameters; 1: other parameters; -1: not a valid argon2id string.
  Argon2Cost cost = CurrentArgon2Cost();
  return crypto_pwhash_str_needs_rehash(str.c_str(), cost.ops_limit,
                                        cost.mem_limit) != 0;
}

Result<store::ScramCredentials> DeriveScramWithSalt(std::string_view password,
                                                    std::string_view salt,
                                                    uint32_t iterations) {
  if (iterations == 0) return Fail(ErrorCode::kInvalid, "zero iterations");
  if (salt.empty()) return Fail(ErrorCode::kInvalid, "empty salt");
  Result<std::string> normalized = NormalizePassword(password);
  if (!normalized) return Fail(normalized.error());
  // RFC 5802 §3: SaltedPassword := Hi(Normalize(password), salt, i), where Hi
  // is PBKDF2 with HMAC as the PRF (RFC 7677: SHA-256).
  std::string salted = internal::Pbkdf2Sha256(*normalized, salt, iterations);
  sodium_memzero(normalized->data(), normalized->size());
  if (salted.empty()) return Fail(ErrorCode::kInternal, "PBKDF2 failed");
  std::string client_key = internal::HmacSha256(salted, "Client Key");
  store::ScramCredentials creds;
  creds.salt = std::string(salt);
  creds.iterations = iterations;
  creds.stored_key = internal::Sha256(client_key);
  creds.server_key = internal::HmacSha256(salted, "Server Key");
  sodium_memzero(salted.data(), salted.size());
  sodium_memzero(client_key.data(), client_key.size());
  if (creds.stored_key.size() != 32 || creds.server_key.size() != 32) {
    return Fail(ErrorCode::kInternal, "HMAC failed");
  }
  return creds;
}

Result<store::ScramCredentials> DeriveScram(std::string_view password,
                                            uint32_t iterations) {
  // RFC 7677 §4: at least 4096 iterations.
  if (iterations < kScramDefaultIterations) {
    return Fail(ErrorCode::kInvalid, "SCRAM iteration count below 4096");
  }
  return DeriveScramWithSalt(password, internal::RandomBytes(16), iterations);
}

}  // namespace correio::auth
