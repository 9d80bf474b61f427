#include "auth/verified_cache.h"

#include <gtest/gtest.h>

#include <string>

#include "auth/password.h"

namespace correio::auth {
namespace {

using std::chrono::seconds;

class VerifiedPasswordsTest : public testing::Test {
 protected:
  void SetUp() override { SetArgon2CostForTesting(1, 8192); }
  // VerifyPassword, counting the full checks the cache lets through.
  VerifiedPasswords::Check Counting() {
    return [this](std::string_view password, std::string_view stored) {
      ++full_checks_;
      return VerifyPassword(password, stored);
    };
  }
  ManualClock clock_{1700000000};
  int full_checks_ = 0;
};

TEST_F(VerifiedPasswordsTest, RemembersOnlySuccessesPerHash) {
  VerifiedPasswords cache(clock_, seconds(300), 20000, Counting());
  std::string alice = *HashPassword("right horse");
  std::string bob = *HashPassword("other battery");
  EXPECT_FALSE(cache.Verify("wrong", alice));
  EXPECT_EQ(cache.size(), 0u);  // failures are never remembered
  EXPECT_TRUE(cache.Verify("right horse", alice));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(full_checks_, 2);
  // Remembered: the same answer again without a full check, and a wrong
  // password is still wrong (it is checked in full).
  EXPECT_TRUE(cache.Verify("right horse", alice));
  EXPECT_EQ(full_checks_, 2);
  EXPECT_FALSE(cache.Verify("right hors", alice));
  EXPECT_FALSE(cache.Verify("right horse ", alice));
  EXPECT_EQ(full_checks_, 4);
  // Keyed by the stored hash: another account, or the same account after a
  // password change, finds nothing of it.
  EXPECT_FALSE(cache.Verify("right horse", bob));
  std::string alice_new = *HashPassword("new staple");
  EXPECT_FALSE(cache.Verify("right horse", alice_new));
  EXPECT_TRUE(cache.Verify("new staple", alice_new));
  EXPECT_EQ(cache.size(), 2u);
}

TEST_F(VerifiedPasswordsTest, EntriesExpireAndStayBounded) {
  VerifiedPasswords cache(clock_, seconds(60), /*capacity=*/3, Counting());
  std::string h[5];
  for (int i = 0; i < 5; ++i) h[i] = *HashPassword("pw" + std::to_string(i));
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(cache.Verify("pw" + std::to_string(i), h[i]));
    EXPECT_LE(cache.size(), 3u);
  }
  EXPECT_TRUE(cache.Verify("pw4", h[4]));  // still remembered
  EXPECT_EQ(full_checks_, 5);
  clock_.Advance(61);
  // Expired entries verify in full again (and are replaced).
  EXPECT_TRUE(cache.Verify("pw4", h[4]));
  EXPECT_EQ(full_checks_, 6);
  EXPECT_FALSE(cache.Verify("pw3", h[4]));
  EXPECT_LE(cache.size(), 3u);
}

TEST_F(VerifiedPasswordsTest, ZeroTtlKeepsNothing) {
  VerifiedPasswords cache(clock_, seconds(0), 20000, Counting());
  std::string h = *HashPassword("pw");
  EXPECT_TRUE(cache.Verify("pw", h));
  EXPECT_TRUE(cache.Verify("pw", h));
  EXPECT_EQ(full_checks_, 2);  // every check in full
  EXPECT_FALSE(cache.Verify("px", h));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.Verify("pw", ""));  // no hash: nothing verifies
}

}  // namespace
}  // namespace correio::auth
