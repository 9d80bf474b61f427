#include "auth/authenticator.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <functional>
#include <string>
#include <utility>

#include "auth/crypto_internal.h"
#include "auth/password.h"
#include "auth/sasl_internal.h"
#include "base/strings.h"

namespace correio::auth {
namespace {

constexpr std::string_view kAuthFailed = "authentication failed";

// After a password verified: stores an Argon2id hash in place of an imported
// or outdated one (NeedsRehash), and SCRAM keys if the account has none, so
// imported accounts converge on our formats and gain SCRAM. Best effort: a
// failure here (store busy, a password HashPassword refuses) leaves the
// account as it was and never fails the login.
void UpgradeCredentials(store::Store& store, store::Account& account,
                        std::string_view password, bool keep_apop_secret) {
  // APOP's secret follows the password while pop3.apop is on and is wiped
  // at the first login after it was turned off (docs/pop3.md).
  if (keep_apop_secret ? account.apop_secret != password
                       : !account.apop_secret.empty()) {
    std::string secret(keep_apop_secret ? password : std::string_view());
    if (store.SetApopSecret(account.id, secret)) {
      account.apop_secret = std::move(secret);
    }
  }
  bool rehash = NeedsRehash(account.password_hash);
  if (!rehash && !account.scram.empty()) return;
  std::string hash = account.password_hash;
  if (rehash) {
    Result<std::string> h = HashPassword(password);
    if (!h) return;
    hash = std::move(*h);
  }
  store::ScramCredentials scram = account.scram;
  if (scram.empty()) {
    Result<store::ScramCredentials> sc = DeriveScram(password);
    if (!sc) return;
    scram = std::move(*sc);
  }
  if (store.SetCredentials(account.id, hash, scram)) {
    account.password_hash = std::move(hash);
    account.scram = std::move(scram);
  }
}
// Failures reached block_after, or as many logins are in flight from the
// address as it has attempts left (throttle.h).
constexpr std::string_view kBlocked = "too many login attempts, try later";

// Wraps a mechanism: checks the throttle when the user becomes known (in
// the lookup), and records the outcome and the delay on the final step.
class ThrottledSasl final : public SaslServer {
 public:
  struct Shared {
    std::string ip;
    std::string account;  // normalised authcid, once the mechanism has one
    bool blocked = false;
    bool reserved = false;  // Begin() allowed; an outcome is still owed
    ThrottleDecision decision;
  };

  ThrottledSasl(std::unique_ptr<SaslServer> inner,
                std::shared_ptr<Shared> shared, LoginThrottle& throttle)
      : inner_(std::move(inner)),
        shared_(std::move(shared)),
        throttle_(throttle) {}

  // An exchange abandoned after the lookup (client sent "*" or went away
  // between SCRAM steps) ends its reservation without an outcome.
  ~ThrottledSasl() override {
    if (shared_->reserved) throttle_.Release(shared_->ip);
  }

  std::string_view Mechanism() const override { return inner_->Mechanism(); }

  SaslStep Step(std::optional<std::string_view> response) override {
    SaslStep step = inner_->Step(response);
    if (step.state == SaslStep::kChallenge || finished_) return step;
    finished_ = true;
    if (step.state == SaslStep::kSuccess) {
      shared_->reserved = false;
      throttle_.RecordSuccess(shared_->ip, shared_->account);
      step.delay = shared_->decision.delay;
      return step;
    }
    if (shared_->blocked) {
      step.error = ErrorCode::kTemp;
      step.reason = "throttled: " + step.reason;
      return step;
    }
    // Wrong password, unknown user, malformed exchange: all count against
    // the IP. Store trouble (kTemp/kInternal) does not.
    if (step.error == ErrorCode::kPerm || step.error == ErrorCode::kInvalid) {
      if (!shared_->reserved) {
        // Malformed before the mechanism named a user: no lookup ran, so
        // nothing was reserved yet. A blocked IP stays blocked.
        ThrottleDecision begin = throttle_.Begin(shared_->ip, shared_->account);
        if (!begin.allowed) {
          step.error = ErrorCode::kTemp;
          step.reason = std::string(kBlocked);
          return step;
        }
      }
      shared_->reserved = false;
      ThrottleDecision d =
          throttle_.RecordFailure(shared_->ip, shared_->account);
      step.delay = d.delay;
    } else if (shared_->reserved) {
      shared_->reserved = false;
      throttle_.Release(shared_->ip);
    }
    return step;
  }

 private:
  std::unique_ptr<SaslServer> inner_;
  std::shared_ptr<Shared> shared_;
  LoginThrottle& throttle_;
  bool finished_ = false;
};

}  // namespace

namespace {

// A login name is an address as the user typed it: no spaces or control
// characters anywhere. NormalizeAddress trims whitespace (CR and LF
// included) for lookups, so without this check "alice@example.org\r\n"
// sent as an IMAP literal would log in as alice.
bool PlausibleLoginName(std::string_view name) {
  return std::none_of(name.begin(), name.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c == 0x7f;
  });
}

}  // namespace

Authenticator::Authenticator(store::Store& store, LoginThrottle& throttle,
                             bool keep_apop_secret,
                             std::chrono::seconds verified_ttl)
    : store_(store),
      throttle_(throttle),
      verified_(SystemClock(), verified_ttl),
      keep_apop_secret_(keep_apop_secret) {}

CredentialLookup Authenticator::StoreLookup() {
  return [&store = store_](std::string_view authcid) -> Result<store::Account> {
    if (!PlausibleLoginName(authcid)) {
      return Fail(ErrorCode::kNotFound, "no such account");
    }
    return store.GetAccount(NormalizeAddress(authcid));
  };
}

namespace {

// The frame of every one-step login (USER/PASS, IMAP LOGIN, APOP): the
// throttle check, the name checks, `verify` (kPerm: wrong credentials,
// counted as a failure; any other error passes through uncounted), then
// the throttle's outcome.
LoginResult ThrottledLogin(
    LoginThrottle& throttle, std::string_view ip, std::string_view address,
    const std::function<Result<store::Account>(const std::string& user)>&
        verify) {
  std::string user = NormalizeAddress(address);
  ThrottleDecision check = throttle.Begin(ip, user);
  if (!check.allowed) {
    return LoginResult{Fail(ErrorCode::kTemp, std::string(kBlocked)),
                       std::chrono::seconds(0), check.blocked_until};
  }
  Result<store::Account> account = Fail(ErrorCode::kInternal, "not verified");
  try {
    account = user.empty() || !PlausibleLoginName(address) ||
                      user.size() > kMaxSaslIdentity
                  ? Fail(ErrorCode::kPerm, std::string(kAuthFailed))
                  : verify(user);
  } catch (...) {
    throttle.Release(ip);  // a leaked reservation would shrink the IP's budget
    throw;
  }
  if (!account) {
    if (account.error().code() != ErrorCode::kPerm) {
      throttle.Release(ip);
      return LoginResult{Fail(account.error()), std::chrono::seconds(0), 0};
    }
    ThrottleDecision d = throttle.RecordFailure(ip, user);
    return LoginResult{Fail(ErrorCode::kPerm, std::string(kAuthFailed)),
                       d.delay, 0};
  }
  throttle.RecordSuccess(ip, user);
  return LoginResult{std::move(*account), check.delay, 0};
}

Error WrongCredentials() {
  return Error(ErrorCode::kPerm, std::string(kAuthFailed));
}

}  // namespace

LoginResult Authenticator::Login(std::string_view ip, std::string_view address,
                                 std::string_view password) {
  auto verify = [&](const std::string& user) -> Result<store::Account> {
    if (password.empty() || password.size() > kMaxPasswordLength) {
      return Fail(WrongCredentials());
    }
    Result<store::Account> account = store_.GetAccount(user);
    if (!account) {
      if (account.error().code() != ErrorCode::kNotFound) return account;
      // Cost what a wrong password costs (sasl.h DummyPasswordHash).
      (void)VerifyPassword(password, DummyPasswordHash());
      return Fail(WrongCredentials());
    }
    const std::string& hash = account->password_hash;
    if (hash.empty()) {
      (void)VerifyPassword(password, DummyPasswordHash());
      return Fail(WrongCredentials());
    }
    if (!verified_.Verify(password, hash)) {
      return Fail(WrongCredentials());
    }
    UpgradeCredentials(store_, *account, password, keep_apop_secret_);
    return account;
  };
  return ThrottledLogin(throttle_, ip, address, verify);
}

std::string ApopDigest(std::string_view timestamp, std::string_view secret) {
  std::string input(timestamp);
  input += secret;
  return HexEncode(internal::Md5(input));
}

LoginResult Authenticator::LoginApop(std::string_view ip,
                                     std::string_view address,
                                     std::string_view timestamp,
                                     std::string_view digest) {
  auto verify = [&](const std::string& user) -> Result<store::Account> {
    if (!keep_apop_secret_ || digest.size() != 32) {
      return Fail(WrongCredentials());
    }
    Result<store::Account> account = store_.GetAccount(user);
    if (!account && account.error().code() != ErrorCode::kNotFound) {
      return account;
    }
    // An unknown user, or one who has not logged in with the password
    // since APOP was turned on (no secret yet), fails like a wrong digest.
    std::string secret = account ? account->apop_secret : std::string();
    std::string expected = ApopDigest(timestamp, secret);
    bool match = CRYPTO_memcmp(expected.data(), digest.data(), 32) == 0;
    if (!account || secret.empty() || !match) return Fail(WrongCredentials());
    return account;
  };
  return ThrottledLogin(throttle_, ip, address, verify);
}

Result<std::unique_ptr<SaslServer>> Authenticator::NewSasl(
    std::string_view ip, std::string_view mechanism) {
  auto shared = std::make_shared<ThrottledSasl::Shared>();
  shared->ip = std::string(ip);
  CredentialLookup lookup =
      [shared, &store = store_, &throttle = throttle_](
          std::string_view authcid) -> Result<store::Account> {
    shared->account = NormalizeAddress(authcid);
    if (!shared->reserved) {  // every mechanism looks up once; be sure
      shared->decision = throttle.Begin(shared->ip, shared->account);
      if (!shared->decision.allowed) {
        shared->blocked = true;
        return Fail(ErrorCode::kTemp, std::string(kBlocked));
      }
      shared->reserved = true;
    }
    if (!PlausibleLoginName(authcid)) {
      return Fail(ErrorCode::kNotFound, "no such account");
    }
    return store.GetAccount(shared->account);
  };
  internal::PasswordVerified upgrade =
      [&store = store_, keep = keep_apop_secret_](store::Account& account,
                                                  std::string_view password) {
        UpgradeCredentials(store, account, password, keep);
      };
  internal::PasswordCheck check = [this](std::string_view password,
                                        std::string_view stored) {
    return verified_.Verify(password, stored);
  };
  Result<std::unique_ptr<SaslServer>> inner = internal::NewSaslServerWithHook(
      mechanism, std::move(lookup), std::move(upgrade), std::move(check));
  if (!inner) return Fail(inner.error());
  return std::make_unique<ThrottledSasl>(std::move(*inner), std::move(shared),
                                         throttle_);
}

}  // namespace correio::auth
