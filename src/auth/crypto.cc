#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <cstdlib>
#include <limits>
#include <mutex>

#include "auth/crypto_internal.h"

namespace correio::auth::internal {

void EnsureSodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();
  });
}

std::string RandomBytes(size_t n) {
  EnsureSodium();
  std::string out(n, '\0');
  randombytes_buf(out.data(), out.size());
  return out;
}

namespace {

std::string Digest(const EVP_MD* md, std::string_view data) {
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), buf, &len, md, nullptr) != 1) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(buf), len);
}

}  // namespace

std::string Md5(std::string_view data) { return Digest(EVP_md5(), data); }
std::string Sha1(std::string_view data) { return Digest(EVP_sha1(), data); }
std::string Sha256(std::string_view data) { return Digest(EVP_sha256(), data); }
std::string Sha512(std::string_view data) { return Digest(EVP_sha512(), data); }

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (key.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return {};
  }
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(),
           buf, &len) == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(buf), len);
}

std::string Pbkdf2Sha256(std::string_view password, std::string_view salt,
                         uint32_t iterations) {
  constexpr size_t kInt = static_cast<size_t>(std::numeric_limits<int>::max());
  if (password.size() > kInt || salt.size() > kInt || iterations == 0 ||
      iterations > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
    return {};
  }
  std::string out(32, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()),
                        static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(out.size()),
                        reinterpret_cast<unsigned char*>(out.data())) != 1) {
    return {};
  }
  return out;
}

}  // namespace correio::auth::internal
