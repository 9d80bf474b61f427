#include "base/strings.h"

#include <gtest/gtest.h>

namespace correio {
namespace {

TEST(ParseUint64, AcceptsFullRangeAndRejectsOverflow) {
  EXPECT_EQ(ParseUint64("0"), 0u);
  EXPECT_EQ(ParseUint64("18446744073709551615"), 18446744073709551615ull);
  EXPECT_FALSE(ParseUint64("18446744073709551616"));
  EXPECT_FALSE(ParseUint64("99999999999999999999"));
  EXPECT_FALSE(ParseUint64(""));
  EXPECT_FALSE(ParseUint64("-1"));
  EXPECT_FALSE(ParseUint64("+1"));
  EXPECT_FALSE(ParseUint64("1 "));
}

TEST(ParseSize, Units) {
  EXPECT_EQ(ParseSize("100"), 100u);
  EXPECT_EQ(ParseSize("10k"), 10240u);
  EXPECT_EQ(ParseSize("10M"), 10u << 20);
  EXPECT_EQ(ParseSize("2GB"), 2ull << 30);
  EXPECT_EQ(ParseSize("1GiB"), 1ull << 30);
  EXPECT_FALSE(ParseSize("x"));
  EXPECT_FALSE(ParseSize("99999999999999999999T"));
}

TEST(Base64, RoundTripsAllLengths) {
  std::string data;
  for (int i = 0; i < 40; ++i) {
    auto enc = Base64Encode(data);
    auto dec = Base64Decode(enc);
    ASSERT_TRUE(dec) << enc;
    EXPECT_EQ(*dec, data);
    data.push_back(static_cast<char>(i * 37));
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_FALSE(Base64Decode("Zm9"));
  EXPECT_FALSE(Base64Decode("Z=9v"));
  EXPECT_FALSE(Base64Decode("Zm9v!!!!"));
}

TEST(Address, SplitAndNormalize) {
  auto p = SplitAddress("Bob.Smith@Example.ORG");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->local, "Bob.Smith");
  EXPECT_EQ(p->domain, "example.org");
  EXPECT_FALSE(SplitAddress("nobody"));
  EXPECT_FALSE(SplitAddress("@example.org"));
  EXPECT_FALSE(SplitAddress("bob@"));
  EXPECT_EQ(NormalizeAddress(" Bob@Example.org "), "bob@example.org");
}

TEST(ConstantTimeEquals, Compares) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secrets"));
}

}  // namespace
}  // namespace correio
