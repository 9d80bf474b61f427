// Recent recipient lookups (ResolveRecipient, and the refusal it gave), so
// that RCPT TO for an address seen a moment ago is answered on the
// session's own thread: no trip to the store pool and no read transaction
// (bench/README.md, tenth session, for what that trip cost).
//
// Never stale past a directory change: an entry is stamped with the
// Store::DirectoryVersion read before its lookup and is used only while
// the version is unchanged, so an account, alias or domain added, changed
// or removed, by this process or by the admin CLI, is seen by the next
// RCPT. `ttl` bounds an entry's life besides, should the version itself
// be lost (base/shared_counter.h). Quota usage changes with every delivery
// and is not kept: the session still reads it for an account with a quota.
//
// Kept: a Resolution, with each account's credentials blanked (RCPT needs
// the ids and quotas only), or the refusals kNotFound (no such user) and
// kPerm (not our domain), so a dictionary attack or relay probing repeats
// no lookups either. At most `capacity` entries: when full, the expired go
// first, then all (a refill costs one lookup per address).
//
// Thread-safety: all methods from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/clock.h"
#include "base/error.h"
#include "mail/deliver.h"

namespace correio::mail {

class RecipientCache {
 public:
  // `clock` must outlive the cache. ttl 0 or capacity 0 keeps nothing.
  RecipientCache(const Clock& clock, std::chrono::seconds ttl,
                 size_t capacity = 4096);
  RecipientCache(const RecipientCache&) = delete;
  RecipientCache& operator=(const RecipientCache&) = delete;

  // What a lookup of `address` gave under directory `version`, if it is
  // kept; nullopt: ask the store.
  std::optional<Result<Resolution>> Find(std::string_view address,
                                         uint64_t version);
  // Keeps `outcome` of a lookup of `address` that began at `version`
  // (read before the lookup). Version 0 (not tracked), other errors and
  // a version older than the newest seen are not kept.
  void Remember(std::string_view address, uint64_t version,
                const Result<Resolution>& outcome);

  size_t size() const;  // entries held (tests)

 private:
  struct Entry {
    Result<Resolution> outcome;
    int64_t expires = 0;
  };
  // Drops every entry when `version` is newer than theirs. False when
  // `version` is older (a lookup that raced a change). mu_ held.
  bool AtVersion(uint64_t version);

  const Clock& clock_;
  const std::chrono::seconds ttl_;
  const size_t capacity_;
  mutable std::mutex mu_;
  uint64_t version_ = 0;  // every entry's
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace correio::mail
