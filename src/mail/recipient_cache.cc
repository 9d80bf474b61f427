#include "mail/recipient_cache.h"

#include <iterator>

#include "base/strings.h"

namespace correio::mail {

RecipientCache::RecipientCache(const Clock& clock, std::chrono::seconds ttl,
                               size_t capacity)
    : clock_(clock), ttl_(ttl), capacity_(capacity) {}

bool RecipientCache::AtVersion(uint64_t version) {
  if (version < version_) return false;
  if (version > version_) {
    entries_.clear();
    version_ = version;
  }
  return true;
}

std::optional<Result<Resolution>> RecipientCache::Find(std::string_view address,
                                                       uint64_t version) {
  if (version == 0) return std::nullopt;
  std::string key = NormalizeAddress(address);
  std::lock_guard lock(mu_);
  if (!AtVersion(version)) return std::nullopt;
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (it->second.expires <= clock_.NowSeconds()) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.outcome;
}

void RecipientCache::Remember(std::string_view address, uint64_t version,
                              const Result<Resolution>& outcome) {
  if (version == 0 || ttl_.count() <= 0 || capacity_ == 0) return;
  if (!outcome && outcome.error().code() != ErrorCode::kNotFound &&
      outcome.error().code() != ErrorCode::kPerm) {
    return;  // malformed, or the store failed: ask again next time
  }
  Result<Resolution> kept = outcome;
  if (kept) {
    for (store::Account& a : kept->local) {
      a.password_hash.clear();
      a.scram = {};
      a.apop_secret.clear();
    }
  }
  std::string key = NormalizeAddress(address);
  int64_t now = clock_.NowSeconds();
  std::lock_guard lock(mu_);
  if (!AtVersion(version)) return;
  if (entries_.size() >= capacity_ && !entries_.count(key)) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->second.expires <= now ? entries_.erase(it) : std::next(it);
    }
    if (entries_.size() >= capacity_) entries_.clear();
  }
  entries_.insert_or_assign(std::move(key),
                            Entry{std::move(kept), now + ttl_.count()});
}

size_t RecipientCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace correio::mail
