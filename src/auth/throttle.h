// Login throttling shared by SMTP AUTH, POP3 and IMAP.
//
// Policy (per client IP; IPv6 clients are keyed by their /64, since one
// host usually owns a whole /64):
//  - the first `free_failures` failed logins from an IP cost nothing;
//  - each further failure makes the protocol wait before answering:
//    1 s, 2 s, 4 s, ... capped at `max_delay`;
//  - `block_after` failures from an IP with no gap of `window` between them
//    refuse that IP (kTemp, "blocked until") until `window` after its last
//    failure (block_after 0: never block, delays only);
//  - failures are remembered per (IP, account) too: a successful login
//    clears that IP's failures for that account. Nothing is ever kept per
//    account alone, so an attacker failing against an account from one IP
//    never delays or locks out the owner logging in from another IP.
// Counters expire `window` after an IP's last failure. Memory is bounded:
// at most `max_ips` IPs (the least recently failing one is evicted first)
// and `max_accounts_per_ip` account entries per IP.
//
// Use: Begin() before verifying; if !allowed answer a temporary failure at
// once. Otherwise verify, then exactly one of RecordSuccess(),
// RecordFailure() or Release() (verification could not run: store
// trouble, an abandoned SASL exchange), and wait the returned delay
// (asynchronously, never blocking a network thread) before answering.
//
// Begin() reserves one of the IP's remaining attempts until the outcome is
// recorded: an IP with F failures has at most block_after - F
// verifications in flight. Without the reservation, N connections that
// all pass the check before any of them fails would get block_after + N - 1
// guesses per window instead of block_after. The price: more than
// block_after logins at the same instant from one address (a large NAT)
// get a temporary failure, which clients retry (docs/auth.md).
//
// Thread-safety: all methods may be called from any thread concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"

namespace correio::auth {

struct ThrottleOptions {
  uint32_t free_failures = 3;          // config throttle_free_failures
  std::chrono::seconds max_delay{15};  // throttle_max_delay_seconds
  uint32_t block_after = 10;           // throttle_block_after; 0: never
  std::chrono::seconds window{600};    // counters expire after this
  size_t max_ips = 100000;
  size_t max_accounts_per_ip = 32;
};

struct ThrottleDecision {
  bool allowed = true;
  // Wait this long before sending the answer to this attempt.
  std::chrono::seconds delay{0};
  // When !allowed: the unix second from which the IP may try again.
  int64_t blocked_until = 0;
};

class LoginThrottle {
 public:
  // `clock` must outlive the throttle.
  explicit LoginThrottle(const Clock& clock, ThrottleOptions options = {});

  LoginThrottle(const LoginThrottle&) = delete;
  LoginThrottle& operator=(const LoginThrottle&) = delete;

  // Before verifying a login of `account` from `ip`. When allowed, one
  // attempt is reserved (see above). `delay` is what a success must wait
  // (failures so far from the IP). When !allowed because of attempts in
  // flight rather than failures, blocked_until is now: retry at once.
  ThrottleDecision Begin(std::string_view ip, std::string_view account);
  // What Begin() would answer, reserving nothing (tests, metrics).
  ThrottleDecision Check(std::string_view ip, std::string_view account);
  // After a failed verification; ends Begin's reservation. `delay` counts
  // this failure too; if this failure reached block_after, allowed is false
  // and blocked_until is set.
  ThrottleDecision RecordFailure(std::string_view ip, std::string_view account);
  // After a successful verification; ends Begin's reservation. Forgets the
  // IP's failures for `account` (its failures for other accounts stay).
  void RecordSuccess(std::string_view ip, std::string_view account);
  // Ends Begin's reservation without an outcome.
  void Release(std::string_view ip);

  // Number of IPs tracked (tests, metrics).
  size_t TrackedIps() const;

  // The key an address is counted under: IPv4 as is, IPv4-mapped IPv6 as
  // IPv4, IPv6 truncated to its /64, anything unparsable as given.
  static std::string KeyFor(std::string_view ip);

 private:
  struct AccountFailures {
    std::string account;
    uint32_t failures = 0;
    int64_t last_failure = 0;
  };
  struct IpState {
    uint32_t failures = 0;  // all failures of the IP within the window
    int64_t last_failure = 0;
    std::vector<AccountFailures> accounts;
    std::list<std::string>::iterator lru;  // position in lru_
  };

  bool Expired(const IpState& state, int64_t now) const;
  ThrottleDecision Decide(const std::string& key, int64_t now,
                          uint32_t in_flight);
  uint32_t InFlight(const std::string& key) const;  // mu_ held
  void EndReservation(const std::string& key);
  std::chrono::seconds DelayFor(uint32_t failures) const;
  bool Blocks(uint32_t failures) const;
  // Drops expired IPs from the cold end of the LRU list.
  void PurgeExpired(int64_t now);

  const Clock& clock_;
  const ThrottleOptions options_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, IpState> ips_;
  // Keys by last failure, most recent first.
  std::list<std::string> lru_;
  // Verifications in flight per IP key (Begin without an outcome yet); an
  // entry exists only while its count is above zero, so this is bounded by
  // the number of open connections.
  std::unordered_map<std::string, uint32_t> in_flight_;
};

}  // namespace correio::auth
