#include "auth/throttle.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace correio::auth {
namespace {

using std::chrono::seconds;

constexpr int64_t kStart = 1700000000;

ThrottleOptions Options() {
  ThrottleOptions o;
  o.free_failures = 3;
  o.max_delay = seconds(8);
  o.block_after = 10;
  o.window = seconds(600);
  return o;
}

TEST(ThrottleTest, FirstFailuresAreFreeThenDelaysDoubleUpToTheCap) {
  ManualClock clock(kStart);
  LoginThrottle t(clock, Options());
  EXPECT_TRUE(t.Check("192.0.2.1", "a@x").allowed);
  EXPECT_EQ(t.Check("192.0.2.1", "a@x").delay, seconds(0));
  const int64_t expected[] = {0, 0, 0, 1, 2, 4, 8, 8, 8};
  for (int64_t want : expected) {
    ThrottleDecision d = t.RecordFailure("192.0.2.1", "a@x");
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.delay, seconds(want));
    // The next attempt (a success too) waits as long.
    ThrottleDecision c = t.Check("192.0.2.1", "a@x");
    EXPECT_TRUE(c.allowed);
    EXPECT_EQ(c.delay, seconds(want));
    clock.Advance(1);
  }
}

TEST(ThrottleTest, BlocksAfterNFailuresUntilWindowPasses) {
  ManualClock clock(kStart);
  LoginThrottle t(clock, Options());
  for (int i = 0; i < 9; ++i) {
    EXPECT_TRUE(t.RecordFailure("192.0.2.1", "a@x").allowed) << i;
    clock.Advance(5);
  }
  // The 10th failure, at kStart + 45, blocks.
  ThrottleDecision d = t.RecordFailure("192.0.2.1", "a@x");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.blocked_until, kStart + 45 + 600);
  // Blocked for any account, not just the one tried.
  for (std::string_view acct : {"a@x", "b@x", ""}) {
    ThrottleDecision c = t.Check("192.0.2.1", acct);
    EXPECT_FALSE(c.allowed) << acct;
    EXPECT_EQ(c.blocked_until, kStart + 45 + 600);
  }
  // Other IPs are not affected.
  ThrottleDecision other = t.Check("192.0.2.2", "a@x");
  EXPECT_TRUE(other.allowed);
  EXPECT_EQ(other.delay, seconds(0));

  clock.Set(kStart + 45 + 599);
  EXPECT_FALSE(t.Check("192.0.2.1", "a@x").allowed);
  clock.Set(kStart + 45 + 600);
  ThrottleDecision after = t.Check("192.0.2.1", "a@x");
  EXPECT_TRUE(after.allowed);
  EXPECT_EQ(after.delay, seconds(0));
  // A fresh start: the next failure is free again.
  EXPECT_EQ(t.RecordFailure("192.0.2.1", "a@x").delay, seconds(0));
}

TEST(ThrottleTest, CountersExpireAfterWindow) {
  ManualClock clock(kStart);
  LoginThrottle t(clock, Options());
  for (int i = 0; i < 5; ++i) t.RecordFailure("192.0.2.1", "a@x");
  EXPECT_EQ(t.Check("192.0.2.1", "a@x").delay, seconds(2));
  EXPECT_EQ(t.TrackedIps(), 1u);
  clock.Advance(599);
  EXPECT_EQ(t.Check("192.0.2.1", "a@x").delay, seconds(2));
  clock.Advance(1);
  EXPECT_EQ(t.Check("192.0.2.1", "a@x").delay, seconds(0));
  // Expired entries are dropped, so memory does not grow with old IPs.
  EXPECT_EQ(t.TrackedIps(), 0u);
}

TEST(ThrottleTest, EachFailureRestartsTheWindow) {
  // Slow guessing (one try every 9 minutes) still accumulates: the window
  // is measured from the last failure.
  ManualClock clock(kStart);
  LoginThrottle t(clock, Options());
  for (int i = 0; i < 9; ++i) {
    t.RecordFailure("192.0.2.1", "a@x");
    clock.Advance(540);
  }
  EXPECT_FALSE(t.RecordFailure("192.0.2.1", "a@x").allowed);
}

TEST(ThrottleTest, SuccessResetsThatAccountsFailures) {
  ManualClock clock(kStart);
  LoginThrottle t(clock, Options());
  for (int i = 0; i < 6; ++i) t.RecordFailure("192.0.2.1", "a@x");
  EXPECT_EQ(t.Check("192.0.2.1", "a@x").delay, seconds(4));
  t.RecordSuccess("192.0.2.1", "a@x");
  EXPECT_EQ(t.Check("192.0.2.1", "a@x").delay, seconds(0));
  EXPECT_EQ(t.TrackedIps(), 0u);
  // Free failures again.
  EXPECT_EQ(t.RecordFailure("192.0.2.1", "a@x").delay, seconds(0));
}

TEST(ThrottleTest, SuccessKeepsOtherAccountsFailures) {
  // An attacker spraying accounts from an IP cannot launder its failures by
  // also logging into its own account.
  ManualClock clock(kStart);
  LoginThrottle t(clock, Options());
  for (int i = 0; i < 5; ++i) t.RecordFailure("192.0.2.1", "victim@x");
  for (int i = 0; i < 2; ++i) t.RecordFailure("192.0.2.1", "mine@x");
  EXPECT_EQ(t.Check("192.0.2.1", "mine@x").delay, seconds(8));  // 7 failures
  t.RecordSuccess("192.0.2.1", "mine@x");
  EXPECT_EQ(t.Check("192.0.2.1", "mine@x").delay, seconds(2));  // 5 left
  EXPECT_EQ(t.TrackedIps(), 1u);
  // Success for an account never tried changes nothing.
  t.RecordSuccess("192.0.2.1", "other@x");
  EXPECT_EQ(t.Check("192.0.2.1", "victim@x").delay, seconds(2));
  // Success from another IP changes nothing here.
  t.RecordSuccess("192.0.2.9", "victim@x");
  EXPECT_EQ(t.Check("192.0.2.1", "victim@x").delay, seconds(2));
}

TEST(ThrottleTest, NoLockoutOfAnAccountFromOtherIps) {
  ManualClock clock(kStart);
  LoginThrottle t(clock, Options());
  for (int i = 0; i < 10; ++i) t.RecordFailure("198.51.100.7", "owner@x");
  EXPECT_FALSE(t.Check("198.51.100.7", "owner@x").allowed);
  ThrottleDecision owner = t.Check("192.0.2.1", "owner@x");
  EXPECT_TRUE(owner.allowed);
  EXPECT_EQ(owner.delay, seconds(0));
}

TEST(ThrottleTest, ManyAccountsFromOneIpStillCount) {
  ManualClock clock(kStart);
  ThrottleOptions o = Options();
  o.max_accounts_per_ip = 4;
  LoginThrottle t(clock, o);
  for (int i = 0; i < 9; ++i) {
    EXPECT_TRUE(t.RecordFailure("192.0.2.1", "user" + std::to_string(i) + "@x")
                    .allowed);
  }
  EXPECT_FALSE(t.RecordFailure("192.0.2.1", "user9@x").allowed);
}

TEST(ThrottleTest, KeyForGroupsAddresses) {
  EXPECT_EQ(LoginThrottle::KeyFor("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(LoginThrottle::KeyFor("::ffff:192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(LoginThrottle::KeyFor("[::ffff:192.0.2.1]"), "192.0.2.1");
  EXPECT_EQ(LoginThrottle::KeyFor("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  EXPECT_EQ(LoginThrottle::KeyFor("2001:DB8:1:2::ffff"), "2001:db8:1:2::/64");
  EXPECT_EQ(LoginThrottle::KeyFor("[2001:db8:1:2::1]"), "2001:db8:1:2::/64");
  EXPECT_EQ(LoginThrottle::KeyFor("fe80::1%eth0"), "fe80::/64");
  EXPECT_NE(LoginThrottle::KeyFor("2001:db8:1:2::1"),
            LoginThrottle::KeyFor("2001:db8:1:3::1"));
  EXPECT_EQ(LoginThrottle::KeyFor("not an ip"), "not an ip");
  EXPECT_EQ(LoginThrottle::KeyFor(""), "");
}

TEST(ThrottleTest, Ipv6SlashSixtyFourIsOneClient) {
  ManualClock clock(kStart);
  LoginThrottle t(clock, Options());
  // Rotating through addresses of one /64 gains nothing.
  for (int i = 0; i < 10; ++i) {
    t.RecordFailure("2001:db8:0:1::" + std::to_string(i + 1), "a@x");
  }
  EXPECT_FALSE(t.Check("2001:db8:0:1::ffff", "a@x").allowed);
  EXPECT_TRUE(t.Check("2001:db8:0:2::1", "a@x").allowed);
  // IPv4 and its mapped form are one client.
  for (int i = 0; i < 10; ++i) t.RecordFailure("203.0.113.5", "a@x");
  EXPECT_FALSE(t.Check("::ffff:203.0.113.5", "a@x").allowed);
}

TEST(ThrottleTest, MemoryIsBoundedByEvictingTheStalestIp) {
  ManualClock clock(kStart);
  ThrottleOptions o = Options();
  o.max_ips = 3;
  LoginThrottle t(clock, o);
  for (int i = 0; i < 5; ++i) t.RecordFailure("10.0.0.1", "a@x");
  clock.Advance(1);
  for (int i = 0; i < 4; ++i) t.RecordFailure("10.0.0.2", "a@x");
  clock.Advance(1);
  for (int i = 0; i < 4; ++i) t.RecordFailure("10.0.0.3", "a@x");
  clock.Advance(1);
  EXPECT_EQ(t.Check("10.0.0.2", "a@x").delay, seconds(1));
  // 10.0.0.1 failed again: now the most recent, so 10.0.0.2 is the stalest.
  t.RecordFailure("10.0.0.1", "a@x");
  clock.Advance(1);
  t.RecordFailure("10.0.0.4", "a@x");
  EXPECT_EQ(t.TrackedIps(), 3u);
  EXPECT_EQ(t.Check("10.0.0.2", "a@x").delay, seconds(0));  // evicted
  EXPECT_EQ(t.Check("10.0.0.3", "a@x").delay, seconds(1));
  EXPECT_EQ(t.Check("10.0.0.1", "a@x").delay, seconds(4));  // 6 failures kept
  t.RecordFailure("10.0.0.5", "a@x");
  EXPECT_EQ(t.TrackedIps(), 3u);
  EXPECT_EQ(t.Check("10.0.0.3", "a@x").delay, seconds(0));  // evicted
  EXPECT_EQ(t.Check("10.0.0.1", "a@x").delay, seconds(4));
}

TEST(ThrottleTest, ZeroFreeFailuresDelaysAtOnce) {
  ManualClock clock(kStart);
  ThrottleOptions o = Options();
  o.free_failures = 0;
  o.block_after = 2;
  LoginThrottle t(clock, o);
  ThrottleDecision d = t.RecordFailure("192.0.2.1", "a@x");
  EXPECT_EQ(d.delay, seconds(1));
  EXPECT_TRUE(d.allowed);
  EXPECT_FALSE(t.RecordFailure("192.0.2.1", "a@x").allowed);
}

TEST(ThrottleTest, BlockAfterZeroNeverBlocks) {
  ManualClock clock(kStart);
  ThrottleOptions o = Options();
  o.block_after = 0;
  LoginThrottle t(clock, o);
  EXPECT_TRUE(t.Check("192.0.2.1", "a@x").allowed);
  for (int i = 0; i < 50; ++i) {
    ThrottleDecision d = t.RecordFailure("192.0.2.1", "a@x");
    EXPECT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.blocked_until, 0);
  }
  ThrottleDecision c = t.Check("192.0.2.1", "a@x");
  EXPECT_TRUE(c.allowed);
  EXPECT_EQ(c.delay, seconds(8));  // delays still apply
}

TEST(ThrottleTest, ConcurrentUseKeepsExactCounts) {
  ManualClock clock(kStart);
  ThrottleOptions o = Options();
  o.block_after = 2001;
  o.max_accounts_per_ip = 8;
  LoginThrottle t(clock, o);
  std::vector<std::thread> threads;
  for (int n = 0; n < 4; ++n) {
    threads.emplace_back([&t, n] {
      for (int i = 0; i < 500; ++i) {
        std::string account = "u" + std::to_string((n * 500 + i) % 20) + "@x";
        EXPECT_TRUE(t.Begin("192.0.2.1", account).allowed);
        (void)t.RecordFailure("192.0.2.1", account);
        // Noise on other IPs, including successes that erase entries.
        std::string other =
            "10.0." + std::to_string(n) + "." + std::to_string(i % 50);
        (void)t.RecordFailure(other, "x@x");
        t.RecordSuccess(other, "x@x");
      }
    });
  }
  for (std::thread& th : threads) th.join();
  // 2000 failures from one IP, none lost, and no reservation left over:
  // one more attempt runs, and its failure blocks.
  EXPECT_TRUE(t.Begin("192.0.2.1", "u0@x").allowed);
  EXPECT_FALSE(t.RecordFailure("192.0.2.1", "u0@x").allowed);
  EXPECT_EQ(t.TrackedIps(), 1u);
}

// N connections that all pass the check before any of them has failed
// must not get block_after + N - 1 guesses: attempts in flight count.
TEST(ThrottleTest, AttemptsInFlightCountAgainstTheBlock) {
  ManualClock clock(kStart);
  ThrottleOptions o = Options();
  o.block_after = 4;
  LoginThrottle t(clock, o);
  t.RecordFailure("192.0.2.1", "a@x");  // 1 failure: 3 attempts left
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(t.Begin("192.0.2.1", "a@x").allowed) << i;
  }
  ThrottleDecision busy = t.Begin("192.0.2.1", "b@x");
  EXPECT_FALSE(busy.allowed);
  EXPECT_EQ(busy.blocked_until, kStart);  // not a block: retry at once
  // Check reserves nothing and agrees.
  EXPECT_FALSE(t.Check("192.0.2.1", "a@x").allowed);
  // Other addresses are unaffected.
  EXPECT_TRUE(t.Check("192.0.2.2", "a@x").allowed);
  // A released attempt gives its room back; a success too.
  t.Release("192.0.2.1");
  t.RecordSuccess("192.0.2.1", "c@x");
  EXPECT_TRUE(t.Begin("192.0.2.1", "a@x").allowed);
  EXPECT_TRUE(t.Begin("192.0.2.1", "a@x").allowed);
  EXPECT_FALSE(t.Begin("192.0.2.1", "a@x").allowed);
  // Three failures land: 4 in all, blocked for the window.
  EXPECT_TRUE(t.RecordFailure("192.0.2.1", "a@x").allowed);
  EXPECT_TRUE(t.RecordFailure("192.0.2.1", "a@x").allowed);
  ThrottleDecision last = t.RecordFailure("192.0.2.1", "a@x");
  EXPECT_FALSE(last.allowed);
  EXPECT_EQ(last.blocked_until, kStart + 600);
  EXPECT_EQ(t.Begin("192.0.2.1", "a@x").blocked_until, kStart + 600);
}

TEST(ThrottleTest, InFlightLimitIsOffWhenBlockingIsOff) {
  ManualClock clock(kStart);
  ThrottleOptions o = Options();
  o.block_after = 0;
  LoginThrottle t(clock, o);
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(t.Begin("192.0.2.1", "a@x").allowed) << i;
  }
}

}  // namespace
}  // namespace correio::auth
