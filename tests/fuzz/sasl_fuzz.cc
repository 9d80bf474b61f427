// SASL server mechanisms (src/auth/sasl.h): PLAIN, LOGIN, SCRAM-SHA-256,
// and whatever mechanism name the input asks for.
//
// Input format (text, so seeds are easy to write by hand):
//   line 1         mechanism name, optionally followed by " IR" when the
//                  first response is an initial response (SASL-IR)
//   then           client responses separated by "\n--\n"
// The lookup knows two accounts: "user" (the RFC 7677 §3 SCRAM keys,
// password "pencil" stored as {PLAIN}) and "alice@example.com" (Argon2id
// of "secret" at the libsodium minimum cost), answers kTemp for "temp" and
// kNotFound otherwise. SCRAM uses a fixed server nonce so runs are
// deterministic and the RFC 7677 exchange in the corpus reaches success.
//
// Invariants: the exchange ends in success or failure within the steps
// given or keeps challenging; success names one of the two accounts; once
// finished, every further step fails with kInvalid; challenges stay small.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/password.h"
#include "auth/sasl.h"
#include "auth/sasl_internal.h"
#include "base/strings.h"
#include "fuzz_util.h"

namespace {

namespace auth = correio::auth;
using correio::ErrorCode;
using correio::Result;
using correio::store::Account;

constexpr std::string_view kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

struct Accounts {
  Account user;
  Account alice;
};

const Accounts& GetAccounts() {
  static const Accounts* accounts = [] {
    // Before the dummy hash is made (see password.h).
    auth::SetArgon2CostForTesting(1, 8192);
    auto* a = new Accounts;
    a->user.id = 2;
    a->user.address = "user";
    a->user.password_hash = "{PLAIN}pencil";
    auto salt = correio::Base64Decode("W22ZaJ0SNY7soEsUEjb6gQ==");
    FUZZ_CHECK(salt.has_value());
    auto scram = auth::DeriveScramWithSalt("pencil", *salt, 4096);
    FUZZ_CHECK(scram.has_value());
    a->user.scram = *scram;
    a->alice.id = 1;
    a->alice.address = "alice@example.com";
    auto hash = auth::HashPassword("secret");
    FUZZ_CHECK(hash.has_value());
    a->alice.password_hash = *hash;
    (void)auth::DummyPasswordHash();
    return a;
  }();
  return *accounts;
}

Result<Account> Lookup(std::string_view authcid) {
  const Accounts& a = GetAccounts();
  if (authcid == "user") return a.user;
  if (authcid == "alice@example.com") return a.alice;
  if (authcid == "temp") return correio::Fail(ErrorCode::kTemp, "store down");
  return correio::Fail(ErrorCode::kNotFound, "no such user");
}

std::vector<std::string_view> Split(std::string_view s, std::string_view sep) {
  std::vector<std::string_view> out;
  for (;;) {
    size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == s.npos) return out;
    s.remove_prefix(at + sep.size());
  }
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 32);
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 32);
    if (x != y) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = correio::fuzz::AsView(data, size);
  (void)GetAccounts();

  size_t nl = in.find('\n');
  std::string_view mech = in.substr(0, nl);
  std::string_view rest =
      nl == in.npos ? std::string_view() : in.substr(nl + 1);
  bool ir = mech.ends_with(" IR");
  if (ir) mech.remove_suffix(3);

  std::unique_ptr<auth::SaslServer> server;
  if (IEquals(mech, "SCRAM-SHA-256")) {
    server = auth::internal::NewScramSha256ServerWithNonce(
        Lookup, std::string(kServerNonce));
  } else {
    auto s = auth::NewSaslServer(mech, Lookup);
    if (!s) {
      FUZZ_CHECK(s.error().code() == ErrorCode::kNotFound);
      return 0;
    }
    server = std::move(*s);
  }
  FUZZ_CHECK(server != nullptr);
  FUZZ_CHECK(IEquals(server->Mechanism(), mech));

  std::vector<std::string_view> responses;
  if (!rest.empty() || ir) responses = Split(rest, "\n--\n");
  size_t next = 0;
  std::optional<std::string_view> response;
  if (ir && next < responses.size()) response = responses[next++];

  bool finished = false;
  for (int round = 0; round < 64; ++round) {
    auth::SaslStep step = server->Step(response);
    FUZZ_CHECK(step.delay.count() == 0);
    if (step.state == auth::SaslStep::kChallenge) {
      FUZZ_CHECK(step.challenge.size() <= 2 * auth::kMaxSaslMessage);
      if (next >= responses.size()) break;
      response = responses[next++];
      continue;
    }
    if (step.state == auth::SaslStep::kSuccess) {
      FUZZ_CHECK(step.identity == "user" ||
                 step.identity == "alice@example.com");
      FUZZ_CHECK(step.account.address == step.identity);
    } else {
      FUZZ_CHECK(!step.final_data.has_value());
    }
    finished = true;
    break;
  }
  if (finished) {
    auth::SaslStep after = server->Step(std::string_view("x"));
    FUZZ_CHECK(after.state == auth::SaslStep::kFailure &&
               after.error == ErrorCode::kInvalid);
  }
  return 0;
}
