#include "auth/throttle.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace correio::auth {

LoginThrottle::LoginThrottle(const Clock& clock, ThrottleOptions options)
    : clock_(clock), options_(options) {}

std::string LoginThrottle::KeyFor(std::string_view ip) {
  std::string s(ip);
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') {
    s = s.substr(1, s.size() - 2);
  }
  if (size_t pct = s.find('%'); pct != std::string::npos) s.resize(pct);
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    char buf[INET6_ADDRSTRLEN];
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      in_addr v4{};
      std::memcpy(&v4, &v6.s6_addr[12], 4);
      if (inet_ntop(AF_INET, &v4, buf, sizeof(buf)) != nullptr) return buf;
      return s;
    }
    // One host or one customer typically owns a whole /64: counting single
    // addresses would let it rotate through 2^64 of them.
    std::memset(&v6.s6_addr[8], 0, 8);
    if (inet_ntop(AF_INET6, &v6, buf, sizeof(buf)) != nullptr) {
      return std::string(buf) + "/64";
    }
    return s;
  }
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    char buf[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &v4, buf, sizeof(buf)) != nullptr) return buf;
  }
  return s;
}

bool LoginThrottle::Expired(const IpState& state, int64_t now) const {
  return now - state.last_failure >= options_.window.count();
}

bool LoginThrottle::Blocks(uint32_t failures) const {
  // block_after 0 turns blocking off (config auth.throttle_block_after).
  return options_.block_after != 0 && failures >= options_.block_after;
}

std::chrono::seconds LoginThrottle::DelayFor(uint32_t failures) const {
  if (failures <= options_.free_failures) return std::chrono::seconds(0);
  uint32_t over = failures - options_.free_failures;  // >= 1
  // 1, 2, 4, ... capped; the shift is bounded so it cannot overflow.
  int64_t delay = int64_t{1} << std::min<uint32_t>(over - 1, 30);
  return std::chrono::seconds(
      std::min<int64_t>(delay, options_.max_delay.count()));
}

void LoginThrottle::PurgeExpired(int64_t now) {
  // lru_ is ordered by last failure, so expired entries sit at the back.
  while (!lru_.empty()) {
    auto it = ips_.find(lru_.back());
    if (it == ips_.end()) {  // cannot happen; keep the list consistent
      lru_.pop_back();
      continue;
    }
    if (!Expired(it->second, now)) break;
    ips_.erase(it);
    lru_.pop_back();
  }
}

ThrottleDecision LoginThrottle::Decide(const std::string& key, int64_t now,
                                       uint32_t in_flight) {
  // The account plays no part before verification: failures are never
  // counted against an account alone (see throttle.h).
  PurgeExpired(now);
  ThrottleDecision decision;
  uint32_t failures = 0;
  auto it = ips_.find(key);
  if (it != ips_.end() && !Expired(it->second, now)) {
    const IpState& state = it->second;
    failures = state.failures;
    if (Blocks(failures)) {
      decision.allowed = false;
      decision.blocked_until = state.last_failure + options_.window.count();
      return decision;
    }
  }
  // Every attempt in flight may still fail: counting them as failures, the
  // IP must still be below block_after for this one to run.
  if (Blocks(failures + in_flight)) {
    decision.allowed = false;
    decision.blocked_until = now;
    return decision;
  }
  decision.delay = DelayFor(failures);
  return decision;
}

ThrottleDecision LoginThrottle::Begin(std::string_view ip,
                                      std::string_view /*account*/) {
  std::string key = KeyFor(ip);
  int64_t now = clock_.NowSeconds();
  std::lock_guard<std::mutex> lock(mu_);
  ThrottleDecision decision = Decide(key, now, InFlight(key));
  if (decision.allowed) ++in_flight_[key];
  return decision;
}

ThrottleDecision LoginThrottle::Check(std::string_view ip,
                                      std::string_view /*account*/) {
  std::string key = KeyFor(ip);
  int64_t now = clock_.NowSeconds();
  std::lock_guard<std::mutex> lock(mu_);
  return Decide(key, now, InFlight(key));
}

uint32_t LoginThrottle::InFlight(const std::string& key) const {
  auto flight = in_flight_.find(key);
  return flight == in_flight_.end() ? 0 : flight->second;
}

void LoginThrottle::EndReservation(const std::string& key) {
  // Unmatched ends (RecordFailure without Begin, in tests) change nothing.
  auto flight = in_flight_.find(key);
  if (flight == in_flight_.end()) return;
  if (--flight->second == 0) in_flight_.erase(flight);
}

void LoginThrottle::Release(std::string_view ip) {
  std::string key = KeyFor(ip);
  std::lock_guard<std::mutex> lock(mu_);
  EndReservation(key);
}

ThrottleDecision LoginThrottle::RecordFailure(std::string_view ip,
                                              std::string_view account) {
  std::string key = KeyFor(ip);
  int64_t now = clock_.NowSeconds();
  std::lock_guard<std::mutex> lock(mu_);
  EndReservation(key);
  PurgeExpired(now);
  auto it = ips_.find(key);
  if (it == ips_.end()) {
    while (!lru_.empty() && ips_.size() >= options_.max_ips) {
      ips_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(key);
    it = ips_.emplace(key, IpState{}).first;
    it->second.lru = lru_.begin();
  } else {
    if (Expired(it->second, now)) {
      it->second.failures = 0;
      it->second.accounts.clear();
    }
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  IpState& state = it->second;
  state.failures++;
  state.last_failure = now;

  auto acc = std::find_if(
      state.accounts.begin(), state.accounts.end(),
      [&](const AccountFailures& a) { return a.account == account; });
  if (acc == state.accounts.end()) {
    if (!state.accounts.empty() &&
        state.accounts.size() >= options_.max_accounts_per_ip) {
      // Forget the stalest account entry; its failures still count in
      // state.failures, so spraying many accounts gains nothing.
      state.accounts.erase(std::min_element(
          state.accounts.begin(), state.accounts.end(),
          [](const AccountFailures& a, const AccountFailures& b) {
            return a.last_failure < b.last_failure;
          }));
    }
    state.accounts.push_back(AccountFailures{std::string(account), 0, now});
    acc = state.accounts.end() - 1;
  }
  acc->failures++;
  acc->last_failure = now;

  ThrottleDecision decision;
  decision.delay = DelayFor(state.failures);
  if (Blocks(state.failures)) {
    decision.allowed = false;
    decision.blocked_until = now + options_.window.count();
  }
  return decision;
}

void LoginThrottle::RecordSuccess(std::string_view ip,
                                  std::string_view account) {
  std::string key = KeyFor(ip);
  int64_t now = clock_.NowSeconds();
  std::lock_guard<std::mutex> lock(mu_);
  EndReservation(key);
  PurgeExpired(now);
  auto it = ips_.find(key);
  if (it == ips_.end()) return;
  IpState& state = it->second;
  auto acc = std::find_if(
      state.accounts.begin(), state.accounts.end(),
      [&](const AccountFailures& a) { return a.account == account; });
  if (acc != state.accounts.end()) {
    state.failures -= std::min(state.failures, acc->failures);
    state.accounts.erase(acc);
  }
  if (state.failures == 0 || Expired(state, now)) {
    lru_.erase(state.lru);
    ips_.erase(it);
  }
}

size_t LoginThrottle::TrackedIps() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ips_.size();
}

}  // namespace correio::auth
