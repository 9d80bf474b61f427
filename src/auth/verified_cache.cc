#include "auth/verified_cache.h"

#include <openssl/crypto.h>

#include <iterator>
#include <utility>

#include "auth/crypto_internal.h"
#include "auth/password.h"

namespace correio::auth {

VerifiedPasswords::VerifiedPasswords(const Clock& clock,
                                     std::chrono::seconds ttl,
                                     size_t capacity, Check check)
    : clock_(clock),
      ttl_(ttl),
      capacity_(capacity),
      key_(internal::RandomBytes(32)),
      check_(check ? std::move(check) : Check(VerifyPassword)) {}

bool VerifiedPasswords::Verify(std::string_view password,
                               std::string_view stored) {
  if (ttl_.count() <= 0 || capacity_ == 0 || stored.empty()) {
    return check_(password, stored);
  }
  // Length-prefixed, so no (hash, password) pair reads as another.
  std::string hashed = std::to_string(stored.size()) + ":";
  hashed += stored;
  std::string id = internal::HmacSha256(key_, "id:" + hashed);
  std::string tag =
      internal::HmacSha256(key_, "tag:" + hashed + std::string(password));
  int64_t now = clock_.NowSeconds();
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it != entries_.end()) {
      if (it->second.expires > now && it->second.tag.size() == tag.size() &&
          CRYPTO_memcmp(it->second.tag.data(), tag.data(), tag.size()) == 0) {
        return true;
      }
      if (it->second.expires <= now) entries_.erase(it);
    }
  }
  if (!check_(password, stored)) return false;
  std::lock_guard lock(mu_);
  if (entries_.size() >= capacity_ && !entries_.count(id)) {
    // Expired entries first; if none, any one (the cache only saves work).
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->second.expires <= now ? entries_.erase(it) : std::next(it);
    }
    if (entries_.size() >= capacity_) entries_.erase(entries_.begin());
  }
  entries_[id] = Entry{std::move(tag), now + ttl_.count()};
  return true;
}

size_t VerifiedPasswords::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace correio::auth
