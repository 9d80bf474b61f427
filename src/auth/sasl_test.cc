#include "auth/sasl.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "auth/crypto_internal.h"
#include "auth/password.h"
#include "auth/sasl_internal.h"
#include "base/strings.h"

namespace correio::auth {
namespace {

using namespace std::string_literals;

// A credential store in a map, counting lookups so tests can tell that
// malformed input is refused before the store is asked.
class FakeAccounts {
 public:
  void Add(store::Account a) { accounts_[a.address] = std::move(a); }
  void FailWith(ErrorCode code) { fail_ = code; }

  CredentialLookup Lookup() {
    return [this](std::string_view authcid) -> Result<store::Account> {
      ++lookups_;
      last_ = std::string(authcid);
      if (fail_) return Fail(*fail_, "store down");
      auto it = accounts_.find(NormalizeAddress(authcid));
      if (it == accounts_.end()) return Fail(ErrorCode::kNotFound, "no user");
      return it->second;
    };
  }
  int lookups() const { return lookups_; }
  const std::string& last() const { return last_; }

 private:
  std::map<std::string, store::Account> accounts_;
  std::optional<ErrorCode> fail_;
  int lookups_ = 0;
  std::string last_;
};

// RFC 7677 §3.
constexpr std::string_view kRfcSalt = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr std::string_view kRfcClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

class SaslTest : public testing::Test {
 protected:
  void SetUp() override {
    SetArgon2CostForTesting(1, 8192);
    store::Account alice;
    alice.id = 1;
    alice.address = "alice@example.com";
    Result<std::string> hash = HashPassword("secret");
    ASSERT_TRUE(hash);
    alice.password_hash = *hash;
    Result<store::ScramCredentials> scram = DeriveScram("secret");
    ASSERT_TRUE(scram);
    alice.scram = *scram;
    accounts_.Add(alice);

    store::Account user;  // RFC 7677 §3
    user.id = 2;
    user.address = "user";
    user.password_hash = "{PLAIN}pencil";
    Result<store::ScramCredentials> rfc =
        DeriveScramWithSalt("pencil", *Base64Decode(kRfcSalt), 4096);
    ASSERT_TRUE(rfc);
    user.scram = *rfc;
    accounts_.Add(user);

    store::Account imported;  // an imported hash, no SCRAM keys
    imported.id = 3;
    imported.address = "imported@example.com";
    imported.password_hash =
        "{SHA256-CRYPT}$5$saltsalt$myjXcpMpE2Ofk7fj9hqyNYSn6lmWG4Mqnjx.KIRRr4/";
    accounts_.Add(imported);

    store::Account nopass;  // e.g. created without a password yet
    nopass.id = 4;
    nopass.address = "nopass@example.com";
    accounts_.Add(nopass);
  }

  std::unique_ptr<SaslServer> New(std::string_view mech) {
    Result<std::unique_ptr<SaslServer>> s =
        NewSaslServer(mech, accounts_.Lookup());
    EXPECT_TRUE(s.has_value());
    return s ? std::move(*s) : nullptr;
  }

  FakeAccounts accounts_;
};

void ExpectFailure(const SaslStep& step, ErrorCode code) {
  EXPECT_EQ(step.state, SaslStep::kFailure) << step.challenge;
  EXPECT_EQ(step.error, code)
      << ErrorCodeName(step.error) << ": " << step.reason;
  EXPECT_EQ(step.delay.count(), 0);
}

// Once finished, every further Step fails (kInvalid), with or without data.
void ExpectFinished(SaslServer& s) {
  ExpectFailure(s.Step(std::nullopt), ErrorCode::kInvalid);
  ExpectFailure(s.Step(""), ErrorCode::kInvalid);
  ExpectFailure(s.Step("\0alice@example.com\0secret"s), ErrorCode::kInvalid);
}

// ------------------------------------------------------------ registry

TEST_F(SaslTest, MechanismsAndNames) {
  EXPECT_EQ(SaslMechanisms(false), std::vector<std::string>{"SCRAM-SHA-256"});
  EXPECT_EQ(SaslMechanisms(true),
            (std::vector<std::string>{"SCRAM-SHA-256", "PLAIN", "LOGIN"}));
  EXPECT_EQ(SaslMechanisms(false, true),
            (std::vector<std::string>{"SCRAM-SHA-256", "PLAIN", "LOGIN"}));
  for (std::string_view m : {"PLAIN", "plain", "Login", "scram-sha-256"}) {
    auto s = New(m);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->Mechanism(), AsciiUppercase(m));
  }
  for (std::string_view m : {"CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256-PLUS",
                             "", "PLAIN ", "XOAUTH2"}) {
    Result<std::unique_ptr<SaslServer>> s =
        NewSaslServer(m, accounts_.Lookup());
    ASSERT_FALSE(s.has_value()) << m;
    EXPECT_EQ(s.error().code(), ErrorCode::kNotFound);
  }
  EXPECT_EQ(NewSaslServer("PLAIN", nullptr).error().code(),
            ErrorCode::kInternal);
}

TEST_F(SaslTest, DummyHashIsStableArgon2id) {
  const std::string& a = DummyPasswordHash();
  EXPECT_TRUE(a.starts_with("$argon2id$")) << a;
  EXPECT_EQ(&a, &DummyPasswordHash());
  EXPECT_FALSE(VerifyPassword("secret", a));
  EXPECT_FALSE(VerifyPassword("", a));
}

// ---------------------------------------------------------------- PLAIN

TEST_F(SaslTest, PlainGood) {
  auto s = New("PLAIN");
  SaslStep step = s->Step("\0alice@example.com\0secret"s);
  ASSERT_EQ(step.state, SaslStep::kSuccess) << step.reason;
  EXPECT_EQ(step.identity, "alice@example.com");
  EXPECT_EQ(step.account.id, 1);
  EXPECT_FALSE(step.final_data.has_value());
  ExpectFinished(*s);
}

TEST_F(SaslTest, PlainWithoutInitialResponse) {
  auto s = New("PLAIN");
  SaslStep first = s->Step(std::nullopt);
  ASSERT_EQ(first.state, SaslStep::kChallenge);
  EXPECT_EQ(first.challenge, "");
  SaslStep step = s->Step("\0Alice@Example.COM\0secret"s);
  ASSERT_EQ(step.state, SaslStep::kSuccess) << step.reason;
  EXPECT_EQ(step.identity, "alice@example.com");
}

TEST_F(SaslTest, PlainAuthzidMustBeEmptyOrSelf) {
  // RFC 4616 §2: authzid equal to authcid (case aside) is acting as oneself.
  {
    auto s = New("PLAIN");
    SaslStep step = s->Step("alice@example.com\0alice@example.com\0secret"s);
    EXPECT_EQ(step.state, SaslStep::kSuccess) << step.reason;
  }
  {
    auto s = New("PLAIN");
    SaslStep step = s->Step("ALICE@example.com\0alice@example.com\0secret"s);
    EXPECT_EQ(step.state, SaslStep::kSuccess) << step.reason;
  }
  {
    // Proxy authorisation is refused, even with the right password, and
    // before the store is asked.
    auto s = New("PLAIN");
    int before = accounts_.lookups();
    SaslStep step = s->Step("user\0alice@example.com\0secret"s);
    ExpectFailure(step, ErrorCode::kPerm);
    EXPECT_EQ(accounts_.lookups(), before);
    ExpectFinished(*s);
  }
  {
    auto s = New("PLAIN");
    ExpectFailure(s->Step(std::string(kMaxSaslIdentity + 1, 'a') +
                          "\0alice@example.com\0secret"s),
                  ErrorCode::kInvalid);
  }
}

TEST_F(SaslTest, PlainWrongPasswordAndUnknownUserLookTheSame) {
  auto wrong = New("PLAIN");
  SaslStep a = wrong->Step("\0alice@example.com\0secreT"s);
  auto unknown = New("PLAIN");
  SaslStep b = unknown->Step("\0mallory@example.com\0secret"s);
  auto nopass = New("PLAIN");
  SaslStep c = nopass->Step("\0nopass@example.com\0secret"s);
  for (const SaslStep* s : {&a, &b, &c}) {
    ExpectFailure(*s, ErrorCode::kPerm);
    EXPECT_TRUE(s->challenge.empty());
    EXPECT_TRUE(s->identity.empty());
    EXPECT_FALSE(s->final_data.has_value());
  }
  EXPECT_EQ(accounts_.last(), "nopass@example.com");
}

TEST_F(SaslTest, PlainImportedHash) {
  auto s = New("PLAIN");
  SaslStep step = s->Step("\0imported@example.com\0correct horse"s);
  ASSERT_EQ(step.state, SaslStep::kSuccess) << step.reason;
  EXPECT_EQ(step.identity, "imported@example.com");
}

TEST_F(SaslTest, PlainMalformed) {
  const std::vector<std::string> bad = {
      "",
      "alice@example.com",               // no NUL
      "alice@example.com secret",        // no NUL
      "\0alice@example.comsecret"s,      // one NUL
      "\0\0secret"s,                     // empty authcid
      "\0alice@example.com\0"s,          // empty password
      "\0alice@example.com\0sec\0ret"s,  // NUL in password
      "\0\0"s,
      "\0"s,
      "\0alice\n@example.com\0secret"s,  // control character in authcid
      "\0"s + std::string(kMaxSaslIdentity + 1, 'a') + "\0secret"s,
      "\0alice@example.com\0"s + std::string(kMaxPasswordLength + 1, 'p'),
      std::string(1 << 20, '\0'),
      std::string(1 << 20, 'A'),
  };
  for (const std::string& msg : bad) {
    SCOPED_TRACE(testing::PrintToString(msg.substr(0, 40)));
    auto s = New("PLAIN");
    int before = accounts_.lookups();
    ExpectFailure(s->Step(msg), ErrorCode::kInvalid);
    EXPECT_EQ(accounts_.lookups(), before) << "store asked for junk";
    ExpectFinished(*s);
  }
}

TEST_F(SaslTest, PlainStoreErrorPassesThrough) {
  accounts_.FailWith(ErrorCode::kTemp);
  auto s = New("PLAIN");
  ExpectFailure(s->Step("\0alice@example.com\0secret"s), ErrorCode::kTemp);
}

TEST_F(SaslTest, PlainMissingResponseEndsExchange) {
  auto s = New("PLAIN");
  ASSERT_EQ(s->Step(std::nullopt).state, SaslStep::kChallenge);
  ExpectFailure(s->Step(std::nullopt), ErrorCode::kInvalid);
  ExpectFinished(*s);
}

// ---------------------------------------------------------------- LOGIN

TEST_F(SaslTest, LoginTwoSteps) {
  auto s = New("LOGIN");
  SaslStep u = s->Step(std::nullopt);
  ASSERT_EQ(u.state, SaslStep::kChallenge);
  EXPECT_EQ(u.challenge, "Username:");
  SaslStep p = s->Step("alice@example.com");
  ASSERT_EQ(p.state, SaslStep::kChallenge);
  EXPECT_EQ(p.challenge, "Password:");
  EXPECT_EQ(accounts_.lookups(), 0);  // nothing revealed before the password
  SaslStep done = s->Step("secret");
  ASSERT_EQ(done.state, SaslStep::kSuccess) << done.reason;
  EXPECT_EQ(done.identity, "alice@example.com");
  ExpectFinished(*s);
}

TEST_F(SaslTest, LoginInitialResponseIsTheUser) {
  auto s = New("LOGIN");
  SaslStep p = s->Step("alice@example.com");
  ASSERT_EQ(p.state, SaslStep::kChallenge);
  EXPECT_EQ(p.challenge, "Password:");
  EXPECT_EQ(s->Step("secret").state, SaslStep::kSuccess);
}

TEST_F(SaslTest, LoginFailures) {
  {
    auto s = New("LOGIN");
    s->Step("alice@example.com");
    ExpectFailure(s->Step("wrong"), ErrorCode::kPerm);
    ExpectFinished(*s);
  }
  {
    auto s = New("LOGIN");
    s->Step("nobody@example.com");
    ExpectFailure(s->Step("secret"), ErrorCode::kPerm);
  }
  {
    auto s = New("LOGIN");
    ExpectFailure(s->Step(""), ErrorCode::kInvalid);  // empty user
    ExpectFinished(*s);
  }
  {
    auto s = New("LOGIN");
    s->Step(std::nullopt);
    ExpectFailure(s->Step(std::nullopt), ErrorCode::kInvalid);
    ExpectFinished(*s);
  }
  {
    auto s = New("LOGIN");
    s->Step("alice@example.com");
    ExpectFailure(s->Step(std::nullopt), ErrorCode::kInvalid);
    ExpectFinished(*s);
  }
  {
    auto s = New("LOGIN");
    s->Step("alice@example.com");
    ExpectFailure(s->Step(""), ErrorCode::kInvalid);  // empty password
  }
  {
    auto s = New("LOGIN");
    ExpectFailure(s->Step(std::string(kMaxSaslIdentity + 1, 'u')),
                  ErrorCode::kInvalid);
  }
  {
    auto s = New("LOGIN");
    s->Step("alice@example.com");
    int before = accounts_.lookups();
    ExpectFailure(s->Step(std::string(kMaxPasswordLength + 1, 'p')),
                  ErrorCode::kInvalid);
    EXPECT_EQ(accounts_.lookups(), before);
  }
  {
    auto s = New("LOGIN");
    ExpectFailure(s->Step("al\rice"), ErrorCode::kInvalid);
  }
}

// -------------------------------------------------------- SCRAM-SHA-256

// The client side of RFC 5802, for tests.
struct ScramClient {
  std::string user;
  std::string password;
  std::string nonce;
  std::string gs2 = "n,,";

  std::string Bare() const { return "n=" + user + ",r=" + nonce; }
  std::string First() const { return gs2 + Bare(); }

  // The client-final message for `server_first`, and the server signature
  // to expect. Empty on a malformed server-first.
  struct Final {
    std::string message;
    std::string expected_v;
  };
  Final Respond(const std::string& server_first) const {
    std::vector<std::string_view> parts = SplitString(server_first, ',');
    if (parts.size() != 3) return {};
    std::string r(parts[0].substr(2));
    std::optional<std::string> salt = Base64Decode(parts[1].substr(2));
    std::optional<uint64_t> i = ParseUint64(parts[2].substr(2));
    if (!salt || !i) return {};
    std::string salted = internal::Pbkdf2Sha256(password, *salt, *i);
    std::string client_key = internal::HmacSha256(salted, "Client Key");
    std::string stored_key = internal::Sha256(client_key);
    std::string server_key = internal::HmacSha256(salted, "Server Key");
    std::string without_proof = "c=" + Base64Encode(gs2) + ",r=" + r;
    std::string auth = Bare() + "," + server_first + "," + without_proof;
    std::string sig = internal::HmacSha256(stored_key, auth);
    std::string proof(32, '\0');
    for (size_t k = 0; k < 32; ++k) proof[k] = client_key[k] ^ sig[k];
    return {without_proof + ",p=" + Base64Encode(proof),
            "v=" + Base64Encode(internal::HmacSha256(server_key, auth))};
  }
};

TEST_F(SaslTest, ScramRfc7677Example) {
  // RFC 7677 §3, byte for byte.
  auto s = internal::NewScramSha256ServerWithNonce(
      accounts_.Lookup(), std::string(kRfcServerNonce));
  EXPECT_EQ(s->Mechanism(), "SCRAM-SHA-256");
  SaslStep first = s->Step("n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  ASSERT_EQ(first.state, SaslStep::kChallenge) << first.reason;
  EXPECT_EQ(first.challenge,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  SaslStep final = s->Step(
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  ASSERT_EQ(final.state, SaslStep::kSuccess) << final.reason;
  EXPECT_EQ(final.identity, "user");
  ASSERT_TRUE(final.final_data.has_value());
  EXPECT_EQ(*final.final_data,
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  ExpectFinished(*s);
}

TEST_F(SaslTest, ScramRfc7677WrongProofFails) {
  auto s = internal::NewScramSha256ServerWithNonce(
      accounts_.Lookup(), std::string(kRfcServerNonce));
  ASSERT_EQ(s->Step("n,,n=user,r=rOprNGfwEbeRWgbNEkqO").state,
            SaslStep::kChallenge);
  // Last proof byte changed.
  SaslStep final = s->Step(
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVU=");
  ExpectFailure(final, ErrorCode::kPerm);
  EXPECT_FALSE(final.final_data.has_value());
  ExpectFinished(*s);
}

TEST_F(SaslTest, ScramFullExchangeWithRandomNonce) {
  ScramClient c{"alice@example.com", "secret", "clientnonce123"};
  std::string server_nonces[2];
  for (std::string& server_nonce : server_nonces) {
    auto s = New("SCRAM-SHA-256");
    SaslStep first = s->Step(c.First());
    ASSERT_EQ(first.state, SaslStep::kChallenge) << first.reason;
    ASSERT_TRUE(first.challenge.starts_with("r=clientnonce123"));
    server_nonce = first.challenge.substr(16, first.challenge.find(',') - 16);
    EXPECT_GE(server_nonce.size(), 16u);
    ScramClient::Final f = c.Respond(first.challenge);
    SaslStep done = s->Step(f.message);
    ASSERT_EQ(done.state, SaslStep::kSuccess) << done.reason;
    EXPECT_EQ(done.identity, "alice@example.com");
    EXPECT_EQ(done.final_data, f.expected_v);
  }
  EXPECT_NE(server_nonces[0], server_nonces[1]);
}

TEST_F(SaslTest, ScramNoInitialResponse) {
  ScramClient c{"alice@example.com", "secret", "abc"};
  auto s = New("SCRAM-SHA-256");
  SaslStep empty = s->Step(std::nullopt);
  ASSERT_EQ(empty.state, SaslStep::kChallenge);
  EXPECT_EQ(empty.challenge, "");
  SaslStep first = s->Step(c.First());
  ASSERT_EQ(first.state, SaslStep::kChallenge);
  EXPECT_EQ(s->Step(c.Respond(first.challenge).message).state,
            SaslStep::kSuccess);
}

TEST_F(SaslTest, ScramGs2HeaderVariants) {
  // "y,,": the client supports channel binding but thinks we do not. Fine.
  {
    ScramClient c{"alice@example.com", "secret", "n1", "y,,"};
    auto s = New("SCRAM-SHA-256");
    SaslStep first = s->Step(c.First());
    ASSERT_EQ(first.state, SaslStep::kChallenge);
    EXPECT_EQ(s->Step(c.Respond(first.challenge).message).state,
              SaslStep::kSuccess);
  }
  // authzid equal to the user is acting as oneself.
  {
    ScramClient c{"alice@example.com", "secret", "n2",
                  "n,a=alice@example.com,"};
    auto s = New("SCRAM-SHA-256");
    SaslStep first = s->Step(c.First());
    ASSERT_EQ(first.state, SaslStep::kChallenge) << first.reason;
    EXPECT_EQ(s->Step(c.Respond(first.challenge).message).state,
              SaslStep::kSuccess);
  }
  // Another authzid: refused before the store is asked.
  {
    ScramClient c{"alice@example.com", "secret", "n3", "n,a=user,"};
    auto s = New("SCRAM-SHA-256");
    int before = accounts_.lookups();
    ExpectFailure(s->Step(c.First()), ErrorCode::kPerm);
    EXPECT_EQ(accounts_.lookups(), before);
  }
  // "p=": channel binding, which we do not offer (no -PLUS): failure.
  {
    auto s = New("SCRAM-SHA-256");
    ExpectFailure(s->Step("p=tls-server-end-point,,n=user,r=abc"),
                  ErrorCode::kInvalid);
    ExpectFinished(*s);
  }
  // "y" header but the final message claims "n": the binding check fails.
  {
    ScramClient c{"alice@example.com", "secret", "n4", "y,,"};
    auto s = New("SCRAM-SHA-256");
    SaslStep first = s->Step(c.First());
    ASSERT_EQ(first.state, SaslStep::kChallenge);
    ScramClient liar = c;
    liar.gs2 = "n,,";
    // The proof is computed over c=biws, the header sent was y,,.
    std::string msg = liar.Respond(first.challenge).message;
    ExpectFailure(s->Step(msg), ErrorCode::kInvalid);
  }
}

TEST_F(SaslTest, ScramEscapedUserName) {
  // RFC 5802 §5.1: "," is sent as "=2C" and "=" as "=3D".
  store::Account odd;
  odd.id = 9;
  odd.address = "a,b=c@example.com";
  odd.scram = *DeriveScram("pw");
  accounts_.Add(odd);
  ScramClient c{"a=2Cb=3Dc@example.com", "pw", "n5"};
  auto s = New("SCRAM-SHA-256");
  SaslStep first = s->Step(c.First());
  ASSERT_EQ(first.state, SaslStep::kChallenge) << first.reason;
  EXPECT_EQ(accounts_.last(), "a,b=c@example.com");
  EXPECT_EQ(s->Step(c.Respond(first.challenge).message).state,
            SaslStep::kSuccess);

  for (std::string_view bad : {"n,,n=a=2cb,r=x", "n,,n=a=41,r=x", "n,,n=a=,r=x",
                               "n,,n=a=2,r=x", "n,,n=,r=x"}) {
    auto t = New("SCRAM-SHA-256");
    ExpectFailure(t->Step(bad), ErrorCode::kInvalid);
  }
}

TEST_F(SaslTest, ScramWrongPassword) {
  ScramClient c{"alice@example.com", "Secret", "n6"};
  auto s = New("SCRAM-SHA-256");
  SaslStep first = s->Step(c.First());
  ASSERT_EQ(first.state, SaslStep::kChallenge);
  SaslStep done = s->Step(c.Respond(first.challenge).message);
  ExpectFailure(done, ErrorCode::kPerm);
  EXPECT_FALSE(done.final_data.has_value());
  ExpectFinished(*s);
}

// Server-first parts: nonce, salt bytes, iterations.
struct ServerFirst {
  std::string nonce;
  std::string salt;
  std::string iterations;
};
ServerFirst ParseServerFirst(const std::string& msg) {
  std::vector<std::string_view> p = SplitString(msg, ',');
  EXPECT_EQ(p.size(), 3u) << msg;
  if (p.size() != 3) return {};
  EXPECT_TRUE(p[0].starts_with("r=") && p[1].starts_with("s=") &&
              p[2].starts_with("i="))
      << msg;
  std::optional<std::string> salt = Base64Decode(p[1].substr(2));
  EXPECT_TRUE(salt) << msg;
  return {std::string(p[0].substr(2)), salt.value_or(""),
          std::string(p[2].substr(2))};
}

TEST_F(SaslTest, ScramUnknownUserGetsPlausibleChallenge) {
  // Every run fails: wrong password for alice, no such user, no SCRAM keys.
  auto run = [&](std::string user, std::string nonce) {
    auto s = New("SCRAM-SHA-256");
    ScramClient c{user, "not the password", nonce};
    SaslStep first = s->Step(c.First());
    EXPECT_EQ(first.state, SaslStep::kChallenge) << first.reason;
    ServerFirst sf = ParseServerFirst(first.challenge);
    SaslStep done = s->Step(c.Respond(first.challenge).message);
    ExpectFailure(done, ErrorCode::kPerm);
    ExpectFinished(*s);
    return sf;
  };
  ServerFirst real = run("alice@example.com", "nA");
  ServerFirst a1 = run("ghost@example.com", "nB");
  ServerFirst a2 = run("GHOST@example.com", "nC");
  ServerFirst b = run("phantom@example.com", "nD");
  ServerFirst imported = run("imported@example.com", "nE");
  // Shaped like a real answer: client nonce + fresh server nonce, a 16-byte
  // salt (what DeriveScram makes), the default iteration count.
  for (const ServerFirst* sf : {&a1, &a2, &b, &imported}) {
    EXPECT_EQ(sf->salt.size(), real.salt.size());
    EXPECT_EQ(sf->iterations, real.iterations);
    EXPECT_EQ(sf->nonce.size(), real.nonce.size());
  }
  EXPECT_TRUE(a1.nonce.starts_with("nB"));
  // Stable per user (asking twice reveals nothing), distinct across users.
  EXPECT_EQ(a1.salt, a2.salt);
  EXPECT_NE(a1.salt, b.salt);
  EXPECT_NE(a1.salt, real.salt);
  EXPECT_EQ(a1.salt, internal::FakeScramSalt("ghost@example.com"));
  EXPECT_NE(imported.salt, a1.salt);
}

TEST_F(SaslTest, SaslSecretMakesFakeSaltsPersistent) {
  EXPECT_EQ(SetSaslSecret("too short").error().code(), ErrorCode::kInvalid);
  const std::string s1(32, 'a');
  const std::string s2(40, 'b');
  ASSERT_TRUE(SetSaslSecret(s1));
  std::string a = internal::FakeScramSalt("ghost@example.com");
  EXPECT_EQ(a.size(), 16u);
  ASSERT_TRUE(SetSaslSecret(s2));
  std::string b = internal::FakeScramSalt("ghost@example.com");
  EXPECT_NE(a, b);
  // The same secret after a "restart": the same fake salt.
  ASSERT_TRUE(SetSaslSecret(s1));
  EXPECT_EQ(internal::FakeScramSalt("ghost@example.com"), a);
  // And the exchange presents it.
  auto s = New("SCRAM-SHA-256");
  SaslStep first = s->Step("n,,n=ghost@example.com,r=abc");
  ASSERT_EQ(first.state, SaslStep::kChallenge);
  EXPECT_EQ(ParseServerFirst(first.challenge).salt, a);
}

TEST_F(SaslTest, ScramStoreErrorPassesThrough) {
  accounts_.FailWith(ErrorCode::kInternal);
  auto s = New("SCRAM-SHA-256");
  ExpectFailure(s->Step("n,,n=alice@example.com,r=abc"), ErrorCode::kInternal);
  ExpectFinished(*s);
}

TEST_F(SaslTest, ScramMalformedClientFirst) {
  const std::vector<std::string> bad = {
      "",
      "n",
      "n,",
      "n,,",
      "n,,n=user",
      "n,,r=abc,n=user",        // wrong order
      "n,,n=user,r=",           // empty nonce
      "n,,n=user,r=a b",        // space in nonce
      "n,,n=user,r=abc,x",      // extension without '='
      "n,,m=ext,n=user,r=abc",  // mandatory extension
      "x,,n=user,r=abc",        // unknown cbind flag
      "N,,n=user,r=abc",
      "n,b=user,n=user,r=abc",  // authzid must be a=
      "n,a=,n=user,r=abc",      // empty authzid
      "n,,n=us\x01er,r=abc",
      "n,,n=user,r=abc\x7f",
      "\0"s,
      "n,,n=user\0,r=abc"s,
      "n,,n=" + std::string(kMaxSaslIdentity + 1, 'u') + ",r=abc",
      "n,,n=user,r=" + std::string(kMaxSaslMessage, 'r'),
      std::string(1 << 20, ','),
  };
  for (const std::string& msg : bad) {
    SCOPED_TRACE(testing::PrintToString(msg.substr(0, 40)));
    auto s = New("SCRAM-SHA-256");
    int before = accounts_.lookups();
    ExpectFailure(s->Step(msg), ErrorCode::kInvalid);
    EXPECT_EQ(accounts_.lookups(), before);
    ExpectFinished(*s);
  }
}

TEST_F(SaslTest, ScramMalformedClientFinal) {
  ScramClient c{"alice@example.com", "secret", "fin"};
  auto start = [&](std::string* challenge) {
    auto s = New("SCRAM-SHA-256");
    SaslStep first = s->Step(c.First());
    EXPECT_EQ(first.state, SaslStep::kChallenge);
    *challenge = first.challenge;
    return s;
  };
  std::string sf;
  {
    auto s = start(&sf);
    std::string good = c.Respond(sf).message;
    ASSERT_FALSE(good.empty());
  }
  std::string nonce = ParseServerFirst(sf).nonce;
  const std::vector<std::string> bad = {
      "",
      "c=biws",
      "c=biws,r=" + nonce,                                  // no proof
      "c=biws,r=" + nonce + ",p=",                          // empty proof
      "c=biws,r=" + nonce + ",p=!!!!",                      // not base64
      "c=biws,r=" + nonce + ",p=AAAA",                      // 3 bytes
      "c=biws,r=" + nonce + "x,p=" + std::string(44, 'A'),  // nonce changed
      "c=biws,r=fin,p=" + std::string(43, 'A') + "=",       // client nonce only
      "c=eSws,r=" + nonce + ",p=" + std::string(43, 'A') + "=",  // "y,,"
      "c=cD10bHMtdW5pcXVlLCw=,r=" + nonce + ",p=" + std::string(43, 'A') + "=",
      "r=" + nonce + ",c=biws,p=" + std::string(43, 'A') + "=",  // order
      "c=biws,r=" + nonce + ",x,p=" + std::string(43, 'A') + "=",
      "c=biws,r=" + nonce + ",p=x,p=" + std::string(43, 'A') + "=",
      std::string(kMaxSaslMessage + 1, 'c'),
      std::string(1 << 20, '='),
  };
  for (const std::string& msg : bad) {
    SCOPED_TRACE(msg.substr(0, 60));
    std::string ignored;
    auto s = start(&ignored);
    SaslStep step = s->Step(msg);
    EXPECT_EQ(step.state, SaslStep::kFailure);
    EXPECT_TRUE(step.error == ErrorCode::kInvalid ||
                step.error == ErrorCode::kPerm)
        << ErrorCodeName(step.error);
    ExpectFinished(*s);
  }
  // Replaying a proof for another exchange (other server nonce) fails.
  std::string sf2;
  auto s2 = start(&sf2);
  ExpectFailure(s2->Step(c.Respond(sf).message), ErrorCode::kInvalid);
}

// --------------------------------------------------- every mechanism, junk

TEST_F(SaslTest, GarbageNeverSucceeds) {
  std::mt19937 rng(4242);
  const std::string alphabet = "\0\0,,==nrcpa@usertx1 \xff\x80=2C=3D"s;
  auto random_msg = [&]() {
    std::string m;
    size_t len = rng() % 3 == 0 ? rng() % 9000 : rng() % 60;
    for (size_t i = 0; i < len; ++i)
      m.push_back(alphabet[rng() % alphabet.size()]);
    return m;
  };
  const std::vector<std::string> fixed = {"",
                                          "\0"s,
                                          "\0\0"s,
                                          "\0\0\0"s,
                                          "=",
                                          "*",
                                          ",",
                                          std::string(1 << 20, 'x'),
                                          std::string(1 << 20, '\0'),
                                          "n,,",
                                          "n,,n=alice@example.com,r=",
                                          "\xff\xfe\xfd"};
  for (std::string_view mech : {"PLAIN", "LOGIN", "SCRAM-SHA-256"}) {
    SCOPED_TRACE(mech);
    std::vector<std::vector<std::optional<std::string>>> runs;
    for (const std::string& f : fixed) {
      runs.push_back({f, f, f});
      runs.push_back({std::nullopt, f, f});
    }
    for (int i = 0; i < 400; ++i) {
      runs.push_back({random_msg(), random_msg(), random_msg(), random_msg()});
    }
    for (const auto& run : runs) {
      auto s = New(mech);
      bool finished = false;
      for (const std::optional<std::string>& in : run) {
        std::optional<std::string_view> arg;
        if (in) arg = *in;
        SaslStep step = s->Step(arg);
        ASSERT_NE(step.state, SaslStep::kSuccess);
        if (finished) {
          ASSERT_EQ(step.state, SaslStep::kFailure);
          ASSERT_EQ(step.error, ErrorCode::kInvalid);
        }
        if (step.state == SaslStep::kFailure) {
          finished = true;
          ASSERT_TRUE(step.error == ErrorCode::kInvalid ||
                      step.error == ErrorCode::kPerm)
              << ErrorCodeName(step.error);
        }
        ASSERT_LE(step.challenge.size(), 256u);
      }
    }
  }
}

}  // namespace
}  // namespace correio::auth
