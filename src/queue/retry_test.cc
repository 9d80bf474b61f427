#include "queue/retry.h"

#include <gtest/gtest.h>

#include "base/clock.h"

namespace correio::queue {
namespace {

TEST(RetryTest, FollowsScheduleThenRepeatsLast) {
  std::vector<uint32_t> s = {300, 600, 1800};
  ManualClock clock(1000);
  int64_t created = clock.NowSeconds();
  uint32_t max_age = 100000;
  EXPECT_EQ(NextAttempt(s, 1, created, clock.NowSeconds(), max_age), 1300);
  clock.Set(1300);
  EXPECT_EQ(NextAttempt(s, 2, created, clock.NowSeconds(), max_age), 1900);
  clock.Set(1900);
  EXPECT_EQ(NextAttempt(s, 3, created, clock.NowSeconds(), max_age), 3700);
  clock.Set(3700);
  EXPECT_EQ(NextAttempt(s, 4, created, clock.NowSeconds(), max_age), 5500);
  EXPECT_EQ(NextAttempt(s, 40, created, clock.NowSeconds(), max_age), 5500);
}

TEST(RetryTest, LastAttemptAtExpiryThenGiveUp) {
  std::vector<uint32_t> s = {3600};
  ManualClock clock(0);
  // 10 s before expiry the next try is at expiry, not an hour later.
  clock.Set(7190);
  EXPECT_EQ(NextAttempt(s, 2, 0, clock.NowSeconds(), 7200), 7200);
  clock.Set(7200);
  EXPECT_EQ(NextAttempt(s, 3, 0, clock.NowSeconds(), 7200), -1);
  clock.Advance(1);
  EXPECT_EQ(NextAttempt(s, 3, 0, clock.NowSeconds(), 7200), -1);
}

TEST(RetryTest, ZeroAttemptsUsesFirstDelay) {
  EXPECT_EQ(NextAttempt({5, 10}, 0, 0, 0, 100), 5);
}

}  // namespace
}  // namespace correio::queue
