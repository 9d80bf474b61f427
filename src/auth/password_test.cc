#include "auth/password.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "base/strings.h"

namespace correio::auth {
namespace {

// Vectors below were made outside this code, at test-writing time:
//  - $6$ $5$ $1$: `openssl passwd -6/-5/-1 -salt saltsalt 'correct horse'`
//    (OpenSSL's own implementation, independent of libcrypt);
//  - $2a$05$CCC...: the classic OpenBSD/John the Ripper bcrypt vector "U*U";
//  - $2y$ $2b$ $y$ DES and rounds= variants: Python's crypt module;
//  - {SHA*}/{SSHA*}: Python hashlib + base64, salt "\x01\x02\x03\x04saltY";
//  - Argon2: the reference implementation's tests (phc-winner-argon2
//    src/test.c), password "password", salt "somesalt".
constexpr std::string_view kPw = "correct horse";

// Most tests run at the libsodium minimum cost: hashing many passwords at
// 64 MiB each would make the suite slow for no added coverage.
class PasswordTest : public testing::Test {
 protected:
  void SetUp() override { SetArgon2CostForTesting(1, 8192); }
  void TearDown() override {
    SetArgon2CostForTesting(kArgon2OpsLimit, kArgon2MemLimit);
  }
};

TEST_F(PasswordTest, HashVerifyRoundTripAtProductionCost) {
  SetArgon2CostForTesting(kArgon2OpsLimit, kArgon2MemLimit);
  Result<std::string> hash = HashPassword(kPw);
  ASSERT_TRUE(hash.has_value()) << hash.error().ToString();
  EXPECT_TRUE(hash->starts_with("$argon2id$v=19$m=65536,t=2,p=1$")) << *hash;
  EXPECT_TRUE(VerifyPassword(kPw, *hash));
  EXPECT_FALSE(VerifyPassword("correct horsf", *hash));
  EXPECT_FALSE(NeedsRehash(*hash));
}

TEST_F(PasswordTest, HashIsSaltedAndVerifies) {
  Result<std::string> a = HashPassword(kPw);
  Result<std::string> b = HashPassword(kPw);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->starts_with("$argon2id$")) << *a;
  EXPECT_NE(*a, *b);  // random salt
  EXPECT_TRUE(VerifyPassword(kPw, *a));
  EXPECT_TRUE(VerifyPassword(kPw, *b));
}

TEST_F(PasswordTest, WrongPasswordFails) {
  Result<std::string> hash = HashPassword(kPw);
  ASSERT_TRUE(hash);
  EXPECT_FALSE(VerifyPassword("correct hors", *hash));
  EXPECT_FALSE(VerifyPassword("Correct horse", *hash));
  EXPECT_FALSE(VerifyPassword("correct horse ", *hash));
  EXPECT_FALSE(VerifyPassword("", *hash));
  EXPECT_FALSE(VerifyPassword(std::string("correct horse\0x", 15), *hash));
}

TEST_F(PasswordTest, HashRefusesBadPasswords) {
  EXPECT_EQ(HashPassword("").error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(HashPassword("tab\there").error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(HashPassword(std::string("nul\0x", 5)).error().code(),
            ErrorCode::kInvalid);
  EXPECT_EQ(HashPassword("del\x7f").error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(
      HashPassword(std::string(kMaxPasswordLength + 1, 'a')).error().code(),
      ErrorCode::kInvalid);
  Result<std::string> longest =
      HashPassword(std::string(kMaxPasswordLength, 'a'));
  ASSERT_TRUE(longest);
  EXPECT_TRUE(VerifyPassword(std::string(kMaxPasswordLength, 'a'), *longest));
  // Over-long input never verifies, whatever the hash.
  EXPECT_FALSE(
      VerifyPassword(std::string(kMaxPasswordLength + 1, 'a'),
                     "{PLAIN}" + std::string(kMaxPasswordLength + 1, 'a')));
}

TEST_F(PasswordTest, NonAsciiPasswordsAreUsedAsBytes) {
  const std::string pw = "s\xc3\xa9same \xe2\x82\xac";  // "sésame €"
  Result<std::string> hash = HashPassword(pw);
  ASSERT_TRUE(hash);
  EXPECT_TRUE(VerifyPassword(pw, *hash));
  // NFD form of é: different bytes, deliberately not normalised.
  EXPECT_FALSE(VerifyPassword("se\xcc\x81same \xe2\x82\xac", *hash));
  Result<std::string> n = NormalizePassword(pw);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, pw);
}

TEST_F(PasswordTest, Argon2ReferenceVectors) {
  // phc-winner-argon2 src/test.c.
  EXPECT_TRUE(VerifyPassword("password",
                             "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
                             "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"));
  constexpr std::string_view kSmall =
      "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$"
      "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";
  EXPECT_TRUE(VerifyPassword("password", kSmall));
  EXPECT_FALSE(VerifyPassword("passwore", kSmall));
  EXPECT_TRUE(VerifyPassword("password",
                             "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$"
                             "bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc"));
  constexpr std::string_view kArgon2i =
      "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
      "FK6NoBr+qHAMI1jc73xTWNkCEoK9iGY6RWL1n7dNIu4";
  EXPECT_TRUE(VerifyPassword("differentpassword", kArgon2i));
  EXPECT_FALSE(VerifyPassword("password", kArgon2i));
  // Dovecot prefixes.
  EXPECT_TRUE(VerifyPassword("password", "{ARGON2ID}" + std::string(kSmall)));
  EXPECT_TRUE(VerifyPassword("password", "{argon2id}" + std::string(kSmall)));
  EXPECT_TRUE(
      VerifyPassword("differentpassword", "{ARGON2I}" + std::string(kArgon2i)));
  // A scheme that names the wrong variant does not verify.
  EXPECT_FALSE(VerifyPassword("password", "{ARGON2I}" + std::string(kSmall)));
  EXPECT_FALSE(VerifyPassword("differentpassword",
                              "{ARGON2ID}" + std::string(kArgon2i)));
}

struct CryptVector {
  std::string_view name;
  std::string_view password;
  std::string_view hash;
};

const std::vector<CryptVector>& CryptVectors() {
  static const std::vector<CryptVector> v = {
      {"sha512", kPw,
       "$6$saltsalt$hRM5XZ86KXEw9UOmjigeVqFgULtFB2sgpC9lXQDfMib3Zgw7mEiUvBJI2E"
       "plzfAqxL5Vvwp2scFtv/uamSo5z0"},
      {"sha512_rounds", kPw,
       "$6$rounds=10000$saltsalt$EMCAJaVdD8QpgIn1w2Sq1C8/BIypyMaemdjCDgDu8Nx"
       "iKn5cVOzQe8ZMNovWPPitzBG6NZOSXfpu45VIxD1OF0"},
      {"sha256", kPw,
       "$5$saltsalt$myjXcpMpE2Ofk7fj9hqyNYSn6lmWG4Mqnjx.KIRRr4/"},
      {"md5", kPw, "$1$saltsalt$NuzA7WTAelpl95xgBGWN60"},
      {"bcrypt_2a", "U*U",
       "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
      {"bcrypt_2y", kPw,
       "$2y$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e"},
      {"bcrypt_2b", kPw,
       "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e"},
      {"yescrypt", kPw,
       "$y$j9T$abcdefghijklmnop$0Hi8KsZH/hAMRN9Bam6ce3nmi5QAIz3R/KeaXG/c7p9"},
  };
  return v;
}

TEST_F(PasswordTest, CryptFormats) {
  for (const CryptVector& v : CryptVectors()) {
    SCOPED_TRACE(v.name);
    EXPECT_TRUE(VerifyPassword(v.password, v.hash));
    std::string wrong(v.password);
    wrong.back() ^= 1;
    EXPECT_FALSE(VerifyPassword(wrong, v.hash));
    EXPECT_FALSE(VerifyPassword("", v.hash));
    // Any change to the stored hash breaks it.
    std::string tampered(v.hash);
    tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
    EXPECT_FALSE(VerifyPassword(v.password, tampered));
    EXPECT_TRUE(NeedsRehash(v.hash));
  }
}

TEST_F(PasswordTest, DovecotCryptSchemes) {
  const auto& v = CryptVectors();
  auto hash = [&](std::string_view name) {
    for (const CryptVector& c : v) {
      if (c.name == name) return std::string(c.hash);
    }
    ADD_FAILURE() << name;
    return std::string();
  };
  EXPECT_TRUE(VerifyPassword(kPw, "{SHA512-CRYPT}" + hash("sha512")));
  EXPECT_TRUE(VerifyPassword(kPw, "{sha512-crypt}" + hash("sha512")));
  EXPECT_TRUE(VerifyPassword(kPw, "{SHA256-CRYPT}" + hash("sha256")));
  EXPECT_TRUE(VerifyPassword(kPw, "{MD5-CRYPT}" + hash("md5")));
  EXPECT_TRUE(VerifyPassword(kPw, "{BLF-CRYPT}" + hash("bcrypt_2y")));
  EXPECT_TRUE(VerifyPassword(kPw, "{BLF-CRYPT}" + hash("bcrypt_2b")));
  EXPECT_TRUE(VerifyPassword("U*U", "{BLF-CRYPT}" + hash("bcrypt_2a")));
  // {CRYPT} is the system crypt(3): any of them, and traditional DES.
  EXPECT_TRUE(VerifyPassword(kPw, "{CRYPT}" + hash("sha512")));
  EXPECT_TRUE(VerifyPassword(kPw, "{CRYPT}" + hash("yescrypt")));
  EXPECT_TRUE(VerifyPassword(kPw, "{CRYPT}abhfCpXqd4GrI"));
  EXPECT_FALSE(VerifyPassword("Correct horse", "{CRYPT}abhfCpXqd4GrI"));
  // DES crypt reads 8 characters only: a reason to rehash it at once.
  EXPECT_TRUE(VerifyPassword("correct horsf", "{CRYPT}abhfCpXqd4GrI"));
  EXPECT_TRUE(NeedsRehash("{CRYPT}abhfCpXqd4GrI"));
  // A bare DES string is not accepted without the {CRYPT} prefix: 13
  // characters of anything are too easily mistaken for a hash.
  EXPECT_FALSE(VerifyPassword(kPw, "abhfCpXqd4GrI"));
  // The scheme must match the data it announces.
  EXPECT_FALSE(VerifyPassword(kPw, "{SHA256-CRYPT}" + hash("sha512")));
  EXPECT_FALSE(VerifyPassword(kPw, "{SHA512-CRYPT}" + hash("md5")));
  EXPECT_FALSE(VerifyPassword(kPw, "{MD5-CRYPT}" + hash("bcrypt_2b")));
  EXPECT_FALSE(VerifyPassword(kPw, "{BLF-CRYPT}" + hash("sha256")));
  EXPECT_FALSE(
      VerifyPassword("correct horsf", "{SHA512-CRYPT}" + hash("sha512")));
  EXPECT_TRUE(NeedsRehash("{SHA512-CRYPT}" + hash("sha512")));
}

TEST_F(PasswordTest, DovecotShaSchemes) {
  const std::vector<std::string> good = {
      "{SHA}L55TUjtiq8FBorTWAZ0jy6g129A=",
      "{SHA1}L55TUjtiq8FBorTWAZ0jy6g129A=",
      "{SHA.HEX}2f9e53523b62abc141a2b4d6019d23cba835dbd0",
      "{SHA256}QQTTb42iwlQ0n4WDZ5Pr4CngyVcGOjTJHC6SAxh7VjE=",
      "{SHA256.B64}QQTTb42iwlQ0n4WDZ5Pr4CngyVcGOjTJHC6SAxh7VjE=",
      "{SHA256.HEX}"
      "4104d36f8da2c254349f85836793ebe029e0c957063a34c91c2e9203187b5631",
      "{SHA512}VraY3v7bWkNbY0r+MyC7rz/c2SC2xQOkRvx7endrKY1HnRumqLYXgI6wv1ec6al"
      "dZoNHvKtxSQhayTyyeZUZew==",
      "{SSHA}cqGcVKK9fyjr2qBJdv8TbMucP18BAgMEc2FsdFk=",
      "{SSHA256}tcGrIs260StqweNe1fspON4ZD4ZE2bwsnTtzhIwrK/IBAgMEc2FsdFk=",
      "{ssha256}tcGrIs260StqweNe1fspON4ZD4ZE2bwsnTtzhIwrK/IBAgMEc2FsdFk=",
      "{SSHA512}0KBQP2RgaW87BVu1Sa6rt0OfTn9VHX0VBhwIcM8wYd9lBrCwCftLUNDaLaXjYQE"
      "CDIN9+TEN+XwFmU9pCjspCgECAwRzYWx0WQ==",
  };
  for (const std::string& stored : good) {
    SCOPED_TRACE(stored);
    EXPECT_TRUE(VerifyPassword(kPw, stored));
    EXPECT_FALSE(VerifyPassword("correct horsf", stored));
    EXPECT_TRUE(NeedsRehash(stored));
  }
  // Right digest, wrong algorithm name: no.
  EXPECT_FALSE(VerifyPassword(
      kPw, "{SHA512}QQTTb42iwlQ0n4WDZ5Pr4CngyVcGOjTJHC6SAxh7VjE="));
  // Salted scheme whose value holds only the digest (no salt): refused.
  EXPECT_FALSE(VerifyPassword(kPw, "{SSHA}L55TUjtiq8FBorTWAZ0jy6g129A="));
  // Hex digits of the right value but announced as base64: no.
  EXPECT_FALSE(
      VerifyPassword(kPw, "{SHA}2f9e53523b62abc141a2b4d6019d23cba835dbd0"));
}

TEST_F(PasswordTest, PlainSchemeIsAcceptedButWeak) {
  // Imports from Dovecot passwd-files may hold {PLAIN}; we accept them so the
  // account works, and NeedsRehash asks for an Argon2id hash at next login.
  EXPECT_TRUE(VerifyPassword(kPw, "{PLAIN}correct horse"));
  EXPECT_TRUE(VerifyPassword(kPw, "{CLEAR}correct horse"));
  EXPECT_TRUE(VerifyPassword(kPw, "{plain}correct horse"));
  EXPECT_FALSE(VerifyPassword("correct hors", "{PLAIN}correct horse"));
  EXPECT_FALSE(VerifyPassword("correct horse!", "{PLAIN}correct horse"));
  EXPECT_FALSE(VerifyPassword("", "{PLAIN}"));
  EXPECT_TRUE(NeedsRehash("{PLAIN}correct horse"));
  // Without a scheme a string is never taken as a cleartext password.
  EXPECT_FALSE(VerifyPassword(kPw, "correct horse"));
}

TEST_F(PasswordTest, NeedsRehash) {
  Result<std::string> test_cost = HashPassword(kPw);
  ASSERT_TRUE(test_cost);
  EXPECT_FALSE(NeedsRehash(*test_cost));
  // Made with other parameters than the current ones.
  SetArgon2CostForTesting(kArgon2OpsLimit, kArgon2MemLimit);
  EXPECT_TRUE(NeedsRehash(*test_cost));
  EXPECT_TRUE(
      NeedsRehash("$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$"
                  "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"));
  // Reference vector m=65536,t=2,p=1 is exactly libsodium INTERACTIVE.
  EXPECT_FALSE(
      NeedsRehash("$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
                  "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"));
  // Argon2i, prefixed forms and anything else.
  EXPECT_TRUE(
      NeedsRehash("$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
                  "FK6NoBr+qHAMI1jc73xTWNkCEoK9iGY6RWL1n7dNIu4"));
  EXPECT_TRUE(
      NeedsRehash("{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
                  "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"));
  EXPECT_TRUE(NeedsRehash(""));
  EXPECT_TRUE(NeedsRehash("$argon2id$"));
  EXPECT_TRUE(NeedsRehash("$argon2id$v=19$m=65536,t=2,p=1$"));
  EXPECT_TRUE(
      NeedsRehash(std::string("$argon2id$v=19\0$m=65536,t=2,p=1$", 30)));
}

TEST_F(PasswordTest, AbsurdCostsAreRefusedWithoutWork) {
  // Valid hashes above the ceilings (password.h): refused, not computed.
  // Python crypt, cost 17 (about 10 s to check) and 1000001 rounds.
  EXPECT_FALSE(VerifyPassword(
      kPw, "$2b$17$abcdefghijklmnopqrstuuPOLBI9MCvTzYYFbnEon.eLMSSxUG.im"));
  EXPECT_FALSE(
      VerifyPassword(kPw,
                     "{BLF-CRYPT}$2b$17$"
                     "abcdefghijklmnopqrstuuPOLBI9MCvTzYYFbnEon.eLMSSxUG.im"));
  EXPECT_FALSE(VerifyPassword(
      kPw,
      "$6$rounds=1000001$saltsalt$KRso5adT2ac2Gl7tqEFyDZsNyC5RpjgiButdgSPZR6G"
      "P1UkEiNT/kUyTWwTj4uzCHkH7KVM6ZffsvmvQYrGRH1"));
  // Without the ceilings these would run for hours or ask for terabytes.
  const std::string tail =
      "$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";
  for (std::string params :
       {"m=4294967295,t=2,p=1", "m=256,t=4294967295,p=1", "m=1048576,t=5,p=1",
        "m=256,t=2,p=16777215", "m=99999999999999999999999,t=2,p=1"}) {
    SCOPED_TRACE(params);
    EXPECT_FALSE(VerifyPassword("password", "$argon2id$v=19$" + params + tail));
    EXPECT_FALSE(VerifyPassword("password",
                                "{ARGON2ID}$argon2id$v=19$" + params + tail));
  }
  EXPECT_FALSE(VerifyPassword(kPw,
                              "$2b$31$abcdefghijklmnopqrstuujydOTSfIH/d5oUHp"
                              "sygqV5X9xJLQc6e"));
  EXPECT_FALSE(VerifyPassword(kPw,
                              "{CRYPT}$2b$31$abcdefghijklmnopqrstuujydOTSf"
                              "IH/d5oUHpsygqV5X9xJLQc6e"));
  EXPECT_FALSE(VerifyPassword(kPw,
                              "$5$rounds=999999999$saltsalt$myjXcpMpE2Ofk7"
                              "fj9hqyNYSn6lmWG4Mqnjx.KIRRr4/"));
  EXPECT_FALSE(VerifyPassword(kPw, "$5$rounds=$saltsalt$x"));
  EXPECT_FALSE(VerifyPassword(kPw, "$5$rounds=1e9$saltsalt$x"));
}

TEST_F(PasswordTest, GarbageHashesNeverVerify) {
  const std::vector<std::string> garbage = {
      "",
      "$",
      "$$",
      "$1",
      "$1$",
      "$1$$",
      "$5$",
      "$6$",
      "$6$$",
      "$6$$$",
      "$2b$",
      "$2b$04$",
      "$2b$4$abc",
      "$2b$xx$abcdefghijklmnopqrstuu",
      "$y$",
      "$y$$$",
      "$argon2id",
      "$argon2id$",
      "$argon2id$v=19$",
      "$argon2id$v=19$m=256,t=2,p=1$",
      "$argon2id$v=19$m=256,t=2,p=1$$",
      "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$",
      "$argon2id$v=19$m=,t=,p=$c29tZXNhbHQ$AAAA",
      "$argon2id$v=19$t=2,m=256,p=1$c29tZXNhbHQ$AAAA",
      "$argon2id$v=19$m=256,t=2,p=1$!!!$!!!",
      "$argon2d$v=19$m=256,t=2,p=1$c29tZXNhbHQ$AAAA",
      "$argon2x$",
      "*",
      "!",
      "*0",
      "*1",
      "!$6$saltsalt$x",
      "x",
      "{",
      "}",
      "{}",
      "{}x",
      "{PLAIN",
      "{SHA}",
      "{SHA}!!!!",
      "{SHA}AAAA",
      "{SSHA}",
      "{SSHA}A",
      "{SHA.HEX}zz",
      "{SHA.HEX}abc",
      "{SHA256.HEX}",
      "{CRYPT}",
      "{CRYPT}*",
      "{CRYPT}!",
      "{CRYPT}$6$",
      "{MD5-CRYPT}",
      "{BLF-CRYPT}",
      "{ARGON2ID}",
      "{ARGON2ID}{ARGON2ID}",
      "{UNKNOWN}correct horse",
      "{SHA512-CRYPT}{PLAIN}x",
      "{{PLAIN}}correct horse",
      std::string("$6$\0", 4),
      std::string("{PLAIN}\0", 8),
      std::string(100000, '$'),
      "{" + std::string(100000, 'A') + "}",
      "$6$" + std::string(100000, 'a'),
      "$argon2id$" + std::string(100000, '$'),
  };
  for (const std::string& g : garbage) {
    SCOPED_TRACE(g.substr(0, 60));
    EXPECT_FALSE(VerifyPassword(kPw, g));
    EXPECT_FALSE(VerifyPassword("", g));
    EXPECT_FALSE(VerifyPassword("x", g));
    EXPECT_TRUE(NeedsRehash(g));
  }
}

TEST_F(PasswordTest, RandomHashesNeverVerify) {
  // Seeded: reproducible. Known prefixes with random tails reach every
  // parser; none may crash, hang or accept.
  std::mt19937 rng(12345);
  const std::vector<std::string> prefixes = {"",
                                             "$1$",
                                             "$5$",
                                             "$6$",
                                             "$5$rounds=",
                                             "$2b$0",
                                             "$2y$04$",
                                             "$y$",
                                             "$argon2id$",
                                             "$argon2id$v=19$m=",
                                             "$argon2i$v=19$m=256,t=",
                                             "{",
                                             "{SHA}",
                                             "{SSHA512}",
                                             "{SHA256.HEX}",
                                             "{CRYPT}",
                                             "{BLF-CRYPT}$2b$",
                                             "{ARGON2ID}$argon2id$v=19$"};
  const std::string alphabet =
      "$={},.=/+0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
      "\x00\x01\xff\x80 ";
  for (int i = 0; i < 3000; ++i) {
    std::string h = prefixes[rng() % prefixes.size()];
    size_t len = rng() % 80;
    for (size_t j = 0; j < len; ++j)
      h.push_back(alphabet[rng() % alphabet.size()]);
    SCOPED_TRACE(h);
    ASSERT_FALSE(VerifyPassword(kPw, h));
    ASSERT_TRUE(NeedsRehash(h));
  }
}

// RFC 7677 §3: user "user", password "pencil", salt
// W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations. StoredKey and ServerKey were
// computed with Python hashlib.pbkdf2_hmac/hmac, and reproduce the RFC's
// ClientProof and ServerSignature (sasl_test.cc replays the exchange).
constexpr std::string_view kRfc7677StoredKey =
    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=";
constexpr std::string_view kRfc7677ServerKey =
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

TEST(ScramTest, DeriveMatchesRfc7677Example) {
  std::optional<std::string> salt = Base64Decode("W22ZaJ0SNY7soEsUEjb6gQ==");
  ASSERT_TRUE(salt);
  Result<store::ScramCredentials> c =
      DeriveScramWithSalt("pencil", *salt, 4096);
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->salt, *salt);
  EXPECT_EQ(c->iterations, 4096u);
  EXPECT_EQ(Base64Encode(c->stored_key), kRfc7677StoredKey);
  EXPECT_EQ(Base64Encode(c->server_key), kRfc7677ServerKey);
}

TEST(ScramTest, DeriveRandomSaltAndMinimumIterations) {
  Result<store::ScramCredentials> a = DeriveScram("pencil");
  Result<store::ScramCredentials> b = DeriveScram("pencil");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->salt.size(), 16u);
  EXPECT_NE(a->salt, b->salt);
  EXPECT_NE(a->stored_key, b->stored_key);
  EXPECT_EQ(a->iterations, kScramDefaultIterations);
  EXPECT_EQ(a->stored_key.size(), 32u);
  EXPECT_EQ(a->server_key.size(), 32u);
  // Same salt and count: same keys.
  Result<store::ScramCredentials> again =
      DeriveScramWithSalt("pencil", a->salt, a->iterations);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->stored_key, a->stored_key);
  EXPECT_EQ(again->server_key, a->server_key);

  EXPECT_EQ(DeriveScram("pencil", 4095).error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(DeriveScram("").error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(DeriveScram("a\nb").error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(DeriveScramWithSalt("pencil", "", 4096).error().code(),
            ErrorCode::kInvalid);
  EXPECT_EQ(DeriveScramWithSalt("pencil", "salt", 0).error().code(),
            ErrorCode::kInvalid);
}

}  // namespace
}  // namespace correio::auth
