#include "mail/recipient_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace correio::mail {
namespace {

using std::chrono::seconds;

Resolution To(store::AccountId id, const std::string& address) {
  store::Account a;
  a.id = id;
  a.address = address;
  a.password_hash = "$argon2id$secret";
  a.scram.stored_key = "stored";
  a.apop_secret = "apop";
  a.quota_bytes = 1000;
  Resolution r;
  r.local.push_back(a);
  return r;
}

class RecipientCacheTest : public testing::Test {
 protected:
  ManualClock clock_{1700000000};
  RecipientCache cache_{clock_, seconds(60), 3};
};

TEST_F(RecipientCacheTest, KeepsALookupWhileTheVersionHolds) {
  EXPECT_FALSE(cache_.Find("bob@example.org", 7));
  cache_.Remember("Bob@Example.ORG", 7, To(4, "bob@example.org"));
  // Found under the normalized address, at that version only.
  auto hit = cache_.Find("bob@example.org", 7);
  ASSERT_TRUE(hit && hit->has_value());
  ASSERT_EQ((*hit)->local.size(), 1u);
  EXPECT_EQ((*hit)->local[0].id, 4);
  EXPECT_EQ((*hit)->local[0].quota_bytes, 1000u);
  // What RCPT does not need is not kept.
  EXPECT_EQ((*hit)->local[0].password_hash, "");
  EXPECT_EQ((*hit)->local[0].scram.stored_key, "");
  EXPECT_EQ((*hit)->local[0].apop_secret, "");

  // A directory change (a newer version) drops everything.
  EXPECT_FALSE(cache_.Find("bob@example.org", 8));
  EXPECT_EQ(cache_.size(), 0u);
  EXPECT_FALSE(cache_.Find("bob@example.org", 7));
}

TEST_F(RecipientCacheTest, ALookupOlderThanTheNewestVersionIsNotKept) {
  cache_.Remember("a@example.org", 8, To(1, "a@example.org"));
  // It began before a change that another lookup has already seen.
  cache_.Remember("b@example.org", 7, To(2, "b@example.org"));
  EXPECT_FALSE(cache_.Find("b@example.org", 8));
  EXPECT_TRUE(cache_.Find("a@example.org", 8));
}

TEST_F(RecipientCacheTest, KeepsRefusalsButNotFailures) {
  cache_.Remember("nobody@example.org", 3,
                  Fail(ErrorCode::kNotFound, "no such user"));
  cache_.Remember("x@remote.example", 3,
                  Fail(ErrorCode::kPerm, "domain is not local"));
  cache_.Remember("busy@example.org", 3, Fail(ErrorCode::kTemp, "busy"));
  auto nobody = cache_.Find("nobody@example.org", 3);
  ASSERT_TRUE(nobody && !nobody->has_value());
  EXPECT_EQ(nobody->error().code(), ErrorCode::kNotFound);
  auto remote = cache_.Find("x@remote.example", 3);
  ASSERT_TRUE(remote && !remote->has_value());
  EXPECT_EQ(remote->error().code(), ErrorCode::kPerm);
  EXPECT_FALSE(cache_.Find("busy@example.org", 3));
}

TEST_F(RecipientCacheTest, VersionZeroMeansNothingIsKept) {
  cache_.Remember("a@example.org", 0, To(1, "a@example.org"));
  EXPECT_EQ(cache_.size(), 0u);
  EXPECT_FALSE(cache_.Find("a@example.org", 0));
}

TEST_F(RecipientCacheTest, EntriesExpireAfterTheTtl) {
  cache_.Remember("a@example.org", 5, To(1, "a@example.org"));
  clock_.Advance(59);
  EXPECT_TRUE(cache_.Find("a@example.org", 5));
  clock_.Advance(1);
  EXPECT_FALSE(cache_.Find("a@example.org", 5));
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(RecipientCacheTest, StaysWithinCapacity) {
  cache_.Remember("a@example.org", 5, To(1, "a@example.org"));
  clock_.Advance(30);
  cache_.Remember("b@example.org", 5, To(2, "b@example.org"));
  cache_.Remember("c@example.org", 5, To(3, "c@example.org"));
  EXPECT_EQ(cache_.size(), 3u);
  // Full: the expired go first (a)...
  clock_.Advance(30);
  cache_.Remember("d@example.org", 5, To(4, "d@example.org"));
  EXPECT_EQ(cache_.size(), 3u);
  EXPECT_FALSE(cache_.Find("a@example.org", 5));
  EXPECT_TRUE(cache_.Find("b@example.org", 5));
  EXPECT_TRUE(cache_.Find("d@example.org", 5));
  // ...and with none expired, all.
  cache_.Remember("e@example.org", 5, To(5, "e@example.org"));
  EXPECT_EQ(cache_.size(), 1u);
  EXPECT_TRUE(cache_.Find("e@example.org", 5));
}

TEST(RecipientCacheOff, ZeroTtlKeepsNothing) {
  ManualClock clock(1700000000);
  RecipientCache cache(clock, seconds(0));
  cache.Remember("a@example.org", 5, To(1, "a@example.org"));
  EXPECT_FALSE(cache.Find("a@example.org", 5));
}

}  // namespace
}  // namespace correio::mail
