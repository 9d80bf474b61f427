// Recently verified passwords, so a client that logs in again and again
// (every IMAP connection of a desktop client, a phone reconnecting, POP3
// polls) pays Argon2id once per `ttl`, not once per connection.
//
// An entry is keyed by the stored hash (so it names one account, and a new
// password, which is a new hash, finds nothing) and holds a tag of the
// password: HMAC-SHA-256 under a random per-process key, compared in
// constant time. Only successes are remembered: a wrong password always
// costs a full verification, so guessing gains no speed, and the throttle
// (throttle.h) sees every attempt as before. An entry expires `ttl` after
// the verification that made it (a hit does not extend it).
//
// What it trades: for `ttl`, process memory holds a fast keyed hash of the
// passwords that logged in. Whoever can read that memory can also read the
// passwords as they arrive, so this adds little. ttl 0 turns it off.
//
// Thread-safety: all methods may be called from any thread concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/clock.h"

namespace correio::auth {

class VerifiedPasswords {
 public:
  // The full check (password, stored hash) -> match.
  using Check = std::function<bool(std::string_view, std::string_view)>;

  // `clock` must outlive the cache. At most `capacity` entries are kept.
  // `check` is VerifyPassword; tests pass one that counts its calls.
  VerifiedPasswords(const Clock& clock, std::chrono::seconds ttl,
                    size_t capacity = 20000, Check check = nullptr);

  VerifiedPasswords(const VerifiedPasswords&) = delete;
  VerifiedPasswords& operator=(const VerifiedPasswords&) = delete;

  // VerifyPassword(password, stored) with the cache in front.
  bool Verify(std::string_view password, std::string_view stored);

  // Entries held (tests, metrics).
  size_t size() const;

 private:
  struct Entry {
    std::string tag;
    int64_t expires = 0;
  };

  const Clock& clock_;
  const std::chrono::seconds ttl_;
  const size_t capacity_;
  const std::string key_;
  const Check check_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // by HMAC of the hash
};

}  // namespace correio::auth
