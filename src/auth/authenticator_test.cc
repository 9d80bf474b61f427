#include "auth/authenticator.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "auth/crypto_internal.h"
#include "auth/password.h"
#include "base/strings.h"
#include "store/memory/memory_store.h"

namespace correio::auth {
namespace {

using namespace std::string_literals;
using std::chrono::seconds;

constexpr int64_t kStart = 1700000000;
constexpr std::string_view kIp = "192.0.2.10";

// openssl passwd -6 -salt saltsalt 'correct horse'
constexpr std::string_view kImportedHash =
    "{SHA512-CRYPT}$6$saltsalt$hRM5XZ86KXEw9UOmjigeVqFgULtFB2sgpC9lXQDfMib3Zgw"
    "7mEiUvBJI2EplzfAqxL5Vvwp2scFtv/uamSo5z0";

ThrottleOptions Options() {
  ThrottleOptions o;
  o.free_failures = 2;
  o.max_delay = seconds(8);
  o.block_after = 5;
  o.window = seconds(300);
  return o;
}

class AuthenticatorTest : public testing::Test {
 protected:
  AuthenticatorTest()
      : store_(store::NewMemoryStore(nullptr)),
        clock_(kStart),
        throttle_(clock_, Options()),
        auth_(*store_, throttle_) {}

  void SetUp() override {
    SetArgon2CostForTesting(1, 8192);
    ASSERT_TRUE(store_->AddDomain("example.com"));
    alice_ = Create("alice@example.com", *HashPassword("secret"), true);
    imported_ = Create("old@example.com", std::string(kImportedHash), false);
  }

  store::AccountId Create(std::string address, std::string hash,
                          bool with_scram) {
    store::Account a;
    a.address = std::move(address);
    a.password_hash = std::move(hash);
    if (with_scram) a.scram = *DeriveScram("secret");
    Result<store::Account> made = store_->CreateAccount(a);
    EXPECT_TRUE(made) << made.error().ToString();
    return made ? made->id : 0;
  }

  // A full SASL exchange; returns the last step.
  SaslStep Sasl(std::string_view ip, std::string_view mech,
                std::vector<std::string> responses) {
    Result<std::unique_ptr<SaslServer>> s = auth_.NewSasl(ip, mech);
    EXPECT_TRUE(s);
    if (!s) return {};
    SaslStep step;
    for (const std::string& r : responses) {
      step = (*s)->Step(r);
      if (step.state != SaslStep::kChallenge) break;
    }
    return step;
  }

  SaslStep ScramExchange(std::string_view ip, std::string user,
                         std::string password) {
    Result<std::unique_ptr<SaslServer>> s = auth_.NewSasl(ip, "SCRAM-SHA-256");
    EXPECT_TRUE(s);
    if (!s) return {};
    std::string bare = "n=" + user + ",r=clientnonce";
    SaslStep first = (*s)->Step("n,," + bare);
    if (first.state != SaslStep::kChallenge) return first;
    // RFC 5802 §3, client side.
    std::vector<std::string_view> p = SplitString(first.challenge, ',');
    EXPECT_EQ(p.size(), 3u);
    std::string salted = internal::Pbkdf2Sha256(
        password, *Base64Decode(p[1].substr(2)), *ParseUint64(p[2].substr(2)));
    std::string client_key = internal::HmacSha256(salted, "Client Key");
    std::string without_proof = "c=biws,r=" + std::string(p[0].substr(2));
    std::string auth = bare + "," + first.challenge + "," + without_proof;
    std::string sig = internal::HmacSha256(internal::Sha256(client_key), auth);
    std::string proof(32, '\0');
    for (size_t i = 0; i < 32; ++i) proof[i] = client_key[i] ^ sig[i];
    return (*s)->Step(without_proof + ",p=" + Base64Encode(proof));
  }

  std::unique_ptr<store::Store> store_;
  ManualClock clock_;
  LoginThrottle throttle_;
  Authenticator auth_;
  store::AccountId alice_ = 0;
  store::AccountId imported_ = 0;
};

TEST_F(AuthenticatorTest, LoginOk) {
  LoginResult r = auth_.Login(kIp, "alice@example.com", "secret");
  ASSERT_TRUE(r.account) << r.account.error().ToString();
  EXPECT_EQ(r.account->id, alice_);
  EXPECT_EQ(r.account->address, "alice@example.com");
  EXPECT_EQ(r.delay, seconds(0));
  // The address is normalised.
  LoginResult mixed = auth_.Login(kIp, "Alice@EXAMPLE.com", "secret");
  ASSERT_TRUE(mixed.account);
  EXPECT_EQ(mixed.account->id, alice_);
}

TEST_F(AuthenticatorTest, WrongPasswordAndUnknownUserFailTheSameWay) {
  LoginResult wrong = auth_.Login(kIp, "alice@example.com", "Secret");
  LoginResult unknown = auth_.Login("192.0.2.11", "bob@example.com", "secret");
  LoginResult nodomain = auth_.Login("192.0.2.12", "alice@nowhere", "secret");
  LoginResult empty = auth_.Login("192.0.2.13", "alice@example.com", "");
  LoginResult noaddr = auth_.Login("192.0.2.14", "", "secret");
  for (const LoginResult* r : {&wrong, &unknown, &nodomain, &empty, &noaddr}) {
    ASSERT_FALSE(r->account);
    EXPECT_EQ(r->account.error().code(), ErrorCode::kPerm);
    EXPECT_EQ(r->account.error().message(), "authentication failed");
    EXPECT_EQ(r->delay, seconds(0));  // first failure is free
    EXPECT_EQ(r->blocked_until, 0);
  }
}

TEST_F(AuthenticatorTest, FailuresDelayThenBlockTheIp) {
  std::vector<int64_t> delays;
  for (int i = 0; i < 4; ++i) {
    LoginResult r = auth_.Login(kIp, "alice@example.com", "guess");
    ASSERT_EQ(r.account.error().code(), ErrorCode::kPerm);
    delays.push_back(r.delay.count());
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{0, 0, 1, 2}));
  // A success now waits as long as the IP's record says.
  LoginResult ok = auth_.Login(kIp, "alice@example.com", "secret");
  ASSERT_TRUE(ok.account);
  EXPECT_EQ(ok.delay, seconds(2));
  // ...and clears alice's failures from this IP.
  EXPECT_EQ(auth_.Login(kIp, "alice@example.com", "guess").delay, seconds(0));

  // Five failures block the IP: even the right password gets kTemp.
  for (int i = 0; i < 4; ++i) {
    (void)auth_.Login(kIp, "nobody@example.com", "guess");
  }
  LoginResult blocked = auth_.Login(kIp, "alice@example.com", "secret");
  ASSERT_FALSE(blocked.account);
  EXPECT_EQ(blocked.account.error().code(), ErrorCode::kTemp);
  EXPECT_EQ(blocked.blocked_until, kStart + 300);
  // Another IP is not affected.
  EXPECT_TRUE(
      auth_.Login("198.51.100.1", "alice@example.com", "secret").account);
  // The block ends with the window.
  clock_.Advance(300);
  LoginResult later = auth_.Login(kIp, "alice@example.com", "secret");
  ASSERT_TRUE(later.account);
  EXPECT_EQ(later.delay, seconds(0));
}

TEST_F(AuthenticatorTest, ImportedHashIsUpgradedOnLogin) {
  LoginResult r = auth_.Login(kIp, "old@example.com", "correct horse");
  ASSERT_TRUE(r.account) << r.account.error().ToString();
  Result<store::Account> stored = store_->GetAccount("old@example.com");
  ASSERT_TRUE(stored);
  EXPECT_TRUE(stored->password_hash.starts_with("$argon2id$"));
  EXPECT_FALSE(NeedsRehash(stored->password_hash));
  EXPECT_FALSE(stored->scram.empty());
  EXPECT_EQ(r.account->password_hash, stored->password_hash);
  // The new hash still takes the password; SCRAM now works too.
  EXPECT_TRUE(auth_.Login(kIp, "old@example.com", "correct horse").account);
  EXPECT_FALSE(auth_.Login(kIp, "old@example.com", "correct horsf").account);
  SaslStep scram = ScramExchange(kIp, "old@example.com", "correct horse");
  EXPECT_EQ(scram.state, SaslStep::kSuccess) << scram.reason;
}

TEST_F(AuthenticatorTest, CurrentHashIsLeftAlone) {
  std::string before = store_->GetAccount("alice@example.com")->password_hash;
  ASSERT_TRUE(auth_.Login(kIp, "alice@example.com", "secret").account);
  EXPECT_EQ(store_->GetAccount("alice@example.com")->password_hash, before);
  // A wrong password never touches the stored credentials.
  std::string old = store_->GetAccount("old@example.com")->password_hash;
  EXPECT_FALSE(auth_.Login(kIp, "old@example.com", "nope").account);
  EXPECT_EQ(store_->GetAccount("old@example.com")->password_hash, old);
}

TEST_F(AuthenticatorTest, SaslPlainAndLogin) {
  SaslStep plain = Sasl(kIp, "PLAIN", {"\0alice@example.com\0secret"s});
  ASSERT_EQ(plain.state, SaslStep::kSuccess) << plain.reason;
  EXPECT_EQ(plain.account.id, alice_);
  EXPECT_EQ(plain.delay, seconds(0));
  SaslStep login = Sasl(kIp, "login", {"Alice@example.com", "secret"});
  ASSERT_EQ(login.state, SaslStep::kSuccess) << login.reason;
  EXPECT_EQ(login.identity, "alice@example.com");
  EXPECT_EQ(auth_.NewSasl(kIp, "CRAM-MD5").error().code(),
            ErrorCode::kNotFound);
}

TEST_F(AuthenticatorTest, NamesWithControlsOrSpacesNeverLogIn) {
  // The right password, the name wrapped in what a lookup would trim.
  int n = 20;
  for (std::string name : {"alice@example.com\r\n"s, "\r\nalice@example.com"s,
                           " alice@example.com"s, "alice@example.com\t"s,
                           "alice@example.com\0"s, "alice @example.com"s}) {
    std::string ip = "192.0.2." + std::to_string(n++);
    LoginResult r = auth_.Login(ip, name, "secret");
    EXPECT_FALSE(r.account) << name;
    SaslStep plain = Sasl(ip, "PLAIN", {"\0"s + name + "\0secret"s});
    EXPECT_EQ(plain.state, SaslStep::kFailure) << name;
  }
  EXPECT_TRUE(auth_.Login(kIp, "alice@example.com", "secret").account);
}

TEST_F(AuthenticatorTest, SaslUpgradesImportedHash) {
  SaslStep plain = Sasl(kIp, "PLAIN", {"\0old@example.com\0correct horse"s});
  ASSERT_EQ(plain.state, SaslStep::kSuccess) << plain.reason;
  Result<store::Account> stored = store_->GetAccount("old@example.com");
  ASSERT_TRUE(stored);
  EXPECT_TRUE(stored->password_hash.starts_with("$argon2id$"));
  EXPECT_FALSE(stored->scram.empty());
}

TEST_F(AuthenticatorTest, SaslScram) {
  SaslStep ok = ScramExchange(kIp, "alice@example.com", "secret");
  ASSERT_EQ(ok.state, SaslStep::kSuccess) << ok.reason;
  EXPECT_EQ(ok.account.id, alice_);
  ASSERT_TRUE(ok.final_data.has_value());
  EXPECT_TRUE(ok.final_data->starts_with("v="));
  SaslStep bad = ScramExchange(kIp, "alice@example.com", "Secret");
  EXPECT_EQ(bad.state, SaslStep::kFailure);
  EXPECT_EQ(bad.error, ErrorCode::kPerm);
  // No SCRAM keys yet for the imported account: refused like a bad password.
  SaslStep imported = ScramExchange(kIp, "old@example.com", "correct horse");
  EXPECT_EQ(imported.state, SaslStep::kFailure);
  EXPECT_EQ(imported.error, ErrorCode::kPerm);
}

TEST_F(AuthenticatorTest, SaslFailuresAreThrottledAndBlock) {
  std::vector<int64_t> delays;
  // Wrong password, unknown user, malformed, SCRAM proof: all count.
  delays.push_back(
      Sasl(kIp, "PLAIN", {"\0alice@example.com\0nope"s}).delay.count());
  delays.push_back(
      Sasl(kIp, "LOGIN", {"ghost@example.com", "nope"}).delay.count());
  SaslStep malformed = Sasl(kIp, "PLAIN", {"garbage"});
  EXPECT_EQ(malformed.error, ErrorCode::kInvalid);
  delays.push_back(malformed.delay.count());
  delays.push_back(ScramExchange(kIp, "alice@example.com", "x").delay.count());
  EXPECT_EQ(delays, (std::vector<int64_t>{0, 0, 1, 2}));

  SaslStep fifth = Sasl(kIp, "PLAIN", {"\0alice@example.com\0nope"s});
  EXPECT_EQ(fifth.error, ErrorCode::kPerm);
  EXPECT_EQ(fifth.delay, seconds(4));
  // Blocked now: the right password fails with kTemp, for every mechanism,
  // and so does plain Login.
  SaslStep plain = Sasl(kIp, "PLAIN", {"\0alice@example.com\0secret"s});
  EXPECT_EQ(plain.state, SaslStep::kFailure);
  EXPECT_EQ(plain.error, ErrorCode::kTemp);
  SaslStep scram = ScramExchange(kIp, "alice@example.com", "secret");
  EXPECT_EQ(scram.state, SaslStep::kFailure);
  EXPECT_EQ(scram.error, ErrorCode::kTemp);
  EXPECT_EQ(
      auth_.Login(kIp, "alice@example.com", "secret").account.error().code(),
      ErrorCode::kTemp);
  // Elsewhere all is well.
  EXPECT_EQ(
      Sasl("2001:db8::1", "PLAIN", {"\0alice@example.com\0secret"s}).state,
      SaslStep::kSuccess);
}

// SCRAM exchanges parked between their two steps hold the IP's remaining
// attempts (block_after 5 here); abandoning them gives the room back.
TEST_F(AuthenticatorTest, ExchangesInFlightCountUntilFinishedOrAbandoned) {
  std::vector<std::unique_ptr<SaslServer>> parked;
  for (int i = 0; i < 5; ++i) {
    Result<std::unique_ptr<SaslServer>> s = auth_.NewSasl(kIp, "SCRAM-SHA-256");
    ASSERT_TRUE(s);
    ASSERT_EQ((*s)->Step("n,,n=alice@example.com,r=nonce").state,
              SaslStep::kChallenge);
    parked.push_back(std::move(*s));
  }
  LoginResult busy = auth_.Login(kIp, "alice@example.com", "secret");
  ASSERT_FALSE(busy.account);
  EXPECT_EQ(busy.account.error().code(), ErrorCode::kTemp);
  EXPECT_EQ(Sasl(kIp, "PLAIN", {"\0alice@example.com\0secret"s}).error,
            ErrorCode::kTemp);
  // Another address is not held up.
  EXPECT_TRUE(auth_.Login("192.0.2.99", "alice@example.com", "secret").account);
  // One exchange abandoned (client sent "*" or went away): room for one.
  parked.pop_back();
  EXPECT_TRUE(auth_.Login(kIp, "alice@example.com", "secret").account);
  parked.clear();
  // All back, and nothing was counted as a failure.
  for (int i = 0; i < 5; ++i) {
    LoginResult r = auth_.Login(kIp, "alice@example.com", "secret");
    EXPECT_TRUE(r.account) << i;
    EXPECT_EQ(r.delay, seconds(0));
  }
}

TEST_F(AuthenticatorTest, SaslSuccessCarriesDelayAndResets) {
  for (int i = 0; i < 4; ++i) {
    (void)Sasl(kIp, "PLAIN", {"\0alice@example.com\0nope"s});
  }
  SaslStep ok = Sasl(kIp, "PLAIN", {"\0alice@example.com\0secret"s});
  ASSERT_EQ(ok.state, SaslStep::kSuccess);
  EXPECT_EQ(ok.delay, seconds(2));
  // Alice's failures from this IP are forgotten.
  EXPECT_EQ(Sasl(kIp, "PLAIN", {"\0alice@example.com\0nope"s}).delay,
            seconds(0));
}

TEST_F(AuthenticatorTest, StoreLookupNormalises) {
  CredentialLookup lookup = auth_.StoreLookup();
  Result<store::Account> a = lookup("ALICE@example.COM");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->id, alice_);
  EXPECT_EQ(lookup("nobody@example.com").error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace correio::auth
