#include "auth/sasl.h"

#include <sodium.h>

#include <mutex>

#include "auth/crypto_internal.h"
#include "auth/password.h"
#include "auth/sasl_internal.h"
#include "base/strings.h"

namespace correio::auth {
namespace {

// A hash of a random password no one knows; see DummyPasswordHash(). Used
// only if hashing at run time fails (out of memory), so that unknown users
// still cost an Argon2id verification. Parameters m=65536 KiB, t=2, p=1.
constexpr std::string_view kFallbackDummyHash =
    "$argon2id$v=19$m=65536,t=2,p=1$sljZd9UYUu+Fo4H5SvefvA$"
    "XEtSSPUs7fh4wcDc/aFTUZdgO1qZziOR4lal9rR/y28";

SaslStep Failure(ErrorCode code, std::string reason) {
  SaslStep step;
  step.state = SaslStep::kFailure;
  step.error = code;
  step.reason = std::move(reason);
  return step;
}

SaslStep Challenge(std::string data) {
  SaslStep step;
  step.state = SaslStep::kChallenge;
  step.challenge = std::move(data);
  return step;
}

SaslStep Success(store::Account account) {
  SaslStep step;
  step.state = SaslStep::kSuccess;
  step.identity = account.address;
  step.account = std::move(account);
  return step;
}

bool HasControl(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

// The password check PLAIN and LOGIN share. Unknown users and accounts
// without a password hash are verified against the dummy hash so that they
// cost what a wrong password costs, and fail the same way.
SaslStep VerifyUserPassword(const CredentialLookup& lookup,
                            const internal::PasswordVerified& on_verified,
                            const internal::PasswordCheck& check,
                            std::string_view authcid,
                            std::string_view password) {
  Result<store::Account> account = lookup(authcid);
  if (!account) {
    if (account.error().code() != ErrorCode::kNotFound) {
      return Failure(account.error().code(),
                     "account lookup: " + account.error().message());
    }
    (void)VerifyPassword(password, DummyPasswordHash());
    return Failure(ErrorCode::kPerm, "unknown user");
  }
  if (account->password_hash.empty()) {
    (void)VerifyPassword(password, DummyPasswordHash());
    return Failure(ErrorCode::kPerm, "account has no password");
  }
  bool ok = check ? check(password, account->password_hash)
                  : VerifyPassword(password, account->password_hash);
  if (!ok) return Failure(ErrorCode::kPerm, "wrong password");
  if (on_verified) on_verified(*account, password);
  return Success(std::move(*account));
}

// Checks the shape of an identity before it reaches the store.
std::optional<SaslStep> CheckIdentity(std::string_view id) {
  if (id.empty()) return Failure(ErrorCode::kInvalid, "empty identity");
  if (id.size() > kMaxSaslIdentity) {
    return Failure(ErrorCode::kInvalid, "identity too long");
  }
  if (HasControl(id)) {
    return Failure(ErrorCode::kInvalid, "control character in identity");
  }
  return std::nullopt;
}

std::optional<SaslStep> CheckPassword(std::string_view password) {
  if (password.empty()) return Failure(ErrorCode::kInvalid, "empty password");
  if (password.size() > kMaxPasswordLength) {
    return Failure(ErrorCode::kInvalid, "password too long");
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- PLAIN

// RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd
class PlainServer final : public SaslServer {
 public:
  PlainServer(CredentialLookup lookup, internal::PasswordVerified on_verified,
              internal::PasswordCheck check)
      : lookup_(std::move(lookup)),
        on_verified_(std::move(on_verified)),
        check_(std::move(check)) {}
  std::string_view Mechanism() const override { return "PLAIN"; }

  SaslStep Step(std::optional<std::string_view> response) override {
    if (done_) return Failure(ErrorCode::kInvalid, "exchange finished");
    if (!response) {
      if (started_) {
        done_ = true;
        return Failure(ErrorCode::kInvalid, "response missing");
      }
      // No initial response: an empty challenge asks for the message.
      started_ = true;
      return Challenge("");
    }
    started_ = true;
    done_ = true;
    return Process(*response);
  }

 private:
  SaslStep Process(std::string_view msg) {
    if (msg.size() > 2 * kMaxSaslIdentity + kMaxPasswordLength + 2) {
      return Failure(ErrorCode::kInvalid, "PLAIN message too long");
    }
    size_t nul1 = msg.find('\0');
    if (nul1 == std::string_view::npos) {
      return Failure(ErrorCode::kInvalid, "PLAIN: missing NUL");
    }
    size_t nul2 = msg.find('\0', nul1 + 1);
    if (nul2 == std::string_view::npos) {
      return Failure(ErrorCode::kInvalid, "PLAIN: missing second NUL");
    }
    std::string_view authzid = msg.substr(0, nul1);
    std::string_view authcid = msg.substr(nul1 + 1, nul2 - nul1 - 1);
    std::string_view password = msg.substr(nul2 + 1);
    if (password.find('\0') != std::string_view::npos) {
      return Failure(ErrorCode::kInvalid, "PLAIN: NUL in password");
    }
    if (auto bad = CheckIdentity(authcid)) return *bad;
    if (auto bad = CheckPassword(password)) return *bad;
    if (!authzid.empty()) {
      if (authzid.size() > kMaxSaslIdentity) {
        return Failure(ErrorCode::kInvalid, "authzid too long");
      }
      // RFC 4616 §2: the server may refuse any authzid; we allow acting only
      // as oneself (no proxy authorisation / master users).
      if (NormalizeAddress(authzid) != NormalizeAddress(authcid)) {
        return Failure(ErrorCode::kPerm, "authzid differs from authcid");
      }
    }
    return VerifyUserPassword(lookup_, on_verified_, check_, authcid,
                              password);
  }

  CredentialLookup lookup_;
  internal::PasswordVerified on_verified_;
  internal::PasswordCheck check_;
  bool started_ = false;
  bool done_ = false;
};

// ---------------------------------------------------------------- LOGIN

// draft-murchison-sasl-login: challenges "Username:" and "Password:". An
// initial response, if any, is the user name.
class LoginServer final : public SaslServer {
 public:
  LoginServer(CredentialLookup lookup, internal::PasswordVerified on_verified,
              internal::PasswordCheck check)
      : lookup_(std::move(lookup)),
        on_verified_(std::move(on_verified)),
        check_(std::move(check)) {}
  std::string_view Mechanism() const override { return "LOGIN"; }

  SaslStep Step(std::optional<std::string_view> response) override {
    switch (state_) {
      case kStart:
        if (!response) {
          state_ = kWantUser;
          return Challenge("Username:");
        }
        return TakeUser(*response);
      case kWantUser:
        if (!response) return Fail("response missing");
        return TakeUser(*response);
      case kWantPassword: {
        if (!response) return Fail("response missing");
        state_ = kDone;
        if (auto bad = CheckPassword(*response)) return *bad;
        return VerifyUserPassword(lookup_, on_verified_, check_, user_,
                                  *response);
      }
      case kDone:
        break;
    }
    return Failure(ErrorCode::kInvalid, "exchange finished");
  }

 private:
  SaslStep Fail(std::string reason) {
    state_ = kDone;
    return Failure(ErrorCode::kInvalid, std::move(reason));
  }
  SaslStep TakeUser(std::string_view user) {
    if (auto bad = CheckIdentity(user)) {
      state_ = kDone;
      return *bad;
    }
    user_ = std::string(user);
    state_ = kWantPassword;
    return Challenge("Password:");
  }

  enum State { kStart, kWantUser, kWantPassword, kDone };
  CredentialLookup lookup_;
  internal::PasswordVerified on_verified_;
  internal::PasswordCheck check_;
  State state_ = kStart;
  std::string user_;
};

// -------------------------------------------------------- SCRAM-SHA-256

std::mutex g_secret_mu;

// Random until SetSaslSecret replaces it. Call with g_secret_mu held.
std::string& SecretLocked() {
  static std::string secret = internal::RandomBytes(32);
  return secret;
}

// A copy, so SetSaslSecret may run while exchanges are in flight.
std::string ProcessSecret() {
  std::lock_guard<std::mutex> lock(g_secret_mu);
  return SecretLocked();
}

// RFC 5802 §5.1: saslname escapes ',' as "=2C" and '=' as "=3D"; any other
// '=' is invalid.
std::optional<std::string> DecodeSaslName(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out.push_back(s[i]);
      continue;
    }
    std::string_view esc = s.substr(i + 1, 2);
    if (esc == "2C") {
      out.push_back(',');
    } else if (esc == "3D") {
      out.push_back('=');
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  if (out.empty() || out.size() > kMaxSaslIdentity || HasControl(out)) {
    return std::nullopt;
  }
  return out;
}

// RFC 5802 §7: printable = %x21-2B / %x2D-7E (no ',').
bool IsValidNonce(std::string_view nonce) {
  if (nonce.empty()) return false;
  for (char c : nonce) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

// "x=value" with the given attribute letter.
std::optional<std::string_view> Attr(std::string_view part, char name) {
  if (part.size() < 2 || part[0] != name || part[1] != '=') {
    return std::nullopt;
  }
  return part.substr(2);
}

class ScramSha256Server final : public SaslServer {
 public:
  ScramSha256Server(CredentialLookup lookup, std::string forced_nonce)
      : lookup_(std::move(lookup)), forced_nonce_(std::move(forced_nonce)) {}
  std::string_view Mechanism() const override { return "SCRAM-SHA-256"; }

  SaslStep Step(std::optional<std::string_view> response) override {
    switch (state_) {
      case kStart:
        if (!response) {
          // No initial response: an empty challenge asks for client-first.
          state_ = kWantClientFirst;
          return Challenge("");
        }
        return ClientFirst(*response);
      case kWantClientFirst:
        if (!response) return Fail(ErrorCode::kInvalid, "response missing");
        return ClientFirst(*response);
      case kWantClientFinal:
        if (!response) return Fail(ErrorCode::kInvalid, "response missing");
        return ClientFinal(*response);
      case kDone:
        break;
    }
    return Failure(ErrorCode::kInvalid, "exchange finished");
  }

 private:
  SaslStep Fail(ErrorCode code, std::string reason) {
    state_ = kDone;
    return Failure(code, std::move(reason));
  }

  // client-first-message = gs2-header client-first-message-bare
  // gs2-header = gs2-cbind-flag "," [ authzid ] ","
  // client-first-message-bare = [reserved-mext ","] username "," nonce
  //                             ["," extensions]
  SaslStep ClientFirst(std::string_view msg) {
    if (msg.size() > kMaxSaslMessage) {
      return Fail(ErrorCode::kInvalid, "SCRAM client-first too long");
    }
    // gs2-cbind-flag. We offer no -PLUS variant: "n" (client has no channel
    // binding) and "y" (client could, but believes we cannot: true) are
    // fine; "p=" asks for binding we do not do (RFC 5802 §6).
    if (msg.starts_with("p=")) {
      return Fail(ErrorCode::kInvalid, "SCRAM channel binding not supported");
    }
    if (!msg.starts_with("n,") && !msg.starts_with("y,")) {
      return Fail(ErrorCode::kInvalid, "SCRAM: bad gs2 header");
    }
    size_t authz_end = msg.find(',', 2);
    if (authz_end == std::string_view::npos) {
      return Fail(ErrorCode::kInvalid, "SCRAM: bad gs2 header");
    }
    std::string_view authz_part = msg.substr(2, authz_end - 2);
    std::optional<std::string> authzid;
    if (!authz_part.empty()) {
      std::optional<std::string_view> a = Attr(authz_part, 'a');
      if (!a) return Fail(ErrorCode::kInvalid, "SCRAM: bad authzid");
      authzid = DecodeSaslName(*a);
      if (!authzid) return Fail(ErrorCode::kInvalid, "SCRAM: bad authzid");
    }
    gs2_header_ = std::string(msg.substr(0, authz_end + 1));
    client_first_bare_ = std::string(msg.substr(authz_end + 1));

    std::vector<std::string_view> parts = SplitString(client_first_bare_, ',');
    // RFC 5802 §5.1 "m": a mandatory extension we do not know: fail.
    if (!parts.empty() && parts[0].starts_with("m=")) {
      return Fail(ErrorCode::kInvalid, "SCRAM: mandatory extension");
    }
    if (parts.size() < 2) {
      return Fail(ErrorCode::kInvalid, "SCRAM: client-first too short");
    }
    std::optional<std::string_view> n = Attr(parts[0], 'n');
    std::optional<std::string_view> r = Attr(parts[1], 'r');
    if (!n || !r) {
      return Fail(ErrorCode::kInvalid, "SCRAM: expected n= then r=");
    }
    std::optional<std::string> user = DecodeSaslName(*n);
    if (!user) return Fail(ErrorCode::kInvalid, "SCRAM: bad username");
    if (!IsValidNonce(*r)) return Fail(ErrorCode::kInvalid, "SCRAM: bad nonce");
    // Later parts are extensions, which we ignore (RFC 5802 §5.1), but they
    // must at least look like attributes.
    for (size_t i = 2; i < parts.size(); ++i) {
      if (parts[i].size() < 2 || parts[i][1] != '=') {
        return Fail(ErrorCode::kInvalid, "SCRAM: bad extension");
      }
    }
    if (authzid && NormalizeAddress(*authzid) != NormalizeAddress(*user)) {
      return Fail(ErrorCode::kPerm, "SCRAM: authzid differs from username");
    }
    user_ = std::move(*user);

    Result<store::Account> account = lookup_(user_);
    std::string salt;
    uint32_t iterations = kScramDefaultIterations;
    if (account && !account->scram.empty() &&
        account->scram.stored_key.size() == 32 &&
        account->scram.server_key.size() == 32) {
      salt = account->scram.salt;
      iterations = account->scram.iterations;
      account_ = std::move(*account);
    } else if (!account && account.error().code() != ErrorCode::kNotFound) {
      return Fail(account.error().code(),
                  "account lookup: " + account.error().message());
    } else {
      // Unknown user, or no SCRAM credentials (imported hash): carry on with
      // a fake but stable salt so the answer looks like any other; the
      // proof is then refused.
      fake_ = true;
      fake_reason_ =
          account ? "account has no SCRAM credentials" : "unknown user";
      salt = internal::FakeScramSalt(user_);
    }

    std::string server_part = forced_nonce_.empty()
                                  ? Base64Encode(internal::RandomBytes(18))
                                  : forced_nonce_;
    nonce_ = std::string(*r) + server_part;
    server_first_ = "r=" + nonce_ + ",s=" + Base64Encode(salt) +
                    ",i=" + std::to_string(iterations);
    state_ = kWantClientFinal;
    return Challenge(server_first_);
  }

  // client-final-message = channel-binding "," nonce ["," extensions] ","
  //                        proof
  SaslStep ClientFinal(std::string_view msg) {
    state_ = kDone;
    if (msg.size() > kMaxSaslMessage) {
      return Failure(ErrorCode::kInvalid, "SCRAM client-final too long");
    }
    size_t proof_at = msg.rfind(",p=");
    if (proof_at == std::string_view::npos) {
      return Failure(ErrorCode::kInvalid, "SCRAM: no proof");
    }
    std::string_view without_proof = msg.substr(0, proof_at);
    std::string_view proof_b64 = msg.substr(proof_at + 3);
    std::vector<std::string_view> parts = SplitString(without_proof, ',');
    if (parts.size() < 2) {
      return Failure(ErrorCode::kInvalid, "SCRAM: client-final too short");
    }
    std::optional<std::string_view> c = Attr(parts[0], 'c');
    std::optional<std::string_view> r = Attr(parts[1], 'r');
    if (!c || !r) {
      return Failure(ErrorCode::kInvalid, "SCRAM: expected c= then r=");
    }
    for (size_t i = 2; i < parts.size(); ++i) {
      if (parts[i].size() < 2 || parts[i][1] != '=' || parts[i][0] == 'p') {
        return Failure(ErrorCode::kInvalid, "SCRAM: bad extension");
      }
    }
    // RFC 5802 §7: without channel binding, c= is base64 of the gs2 header
    // exactly as sent in client-first.
    std::optional<std::string> cbind = Base64Decode(*c);
    if (!cbind || *cbind != gs2_header_) {
      return Failure(ErrorCode::kInvalid, "SCRAM: channel binding mismatch");
    }
    // RFC 5802 §5.1: the nonce must be exactly client nonce + server nonce.
    if (*r != nonce_) return Failure(ErrorCode::kInvalid, "SCRAM: bad nonce");
    std::optional<std::string> proof = Base64Decode(proof_b64);
    if (!proof || proof->size() != 32) {
      return Failure(ErrorCode::kInvalid, "SCRAM: bad proof encoding");
    }

    // RFC 5802 §3:
    //   AuthMessage     := client-first-message-bare + "," +
    //                      server-first-message + "," +
    //                      client-final-message-without-proof
    //   ClientSignature := HMAC(StoredKey, AuthMessage)
    //   ClientKey       := ClientProof XOR ClientSignature
    //   verify: H(ClientKey) == StoredKey
    std::string auth_message = client_first_bare_ + "," + server_first_ + "," +
                               std::string(without_proof);
    if (fake_) {
      // Same work as a real check against a key no proof can match.
      std::string key = internal::HmacSha256(ProcessSecret(), user_);
      std::string sig = internal::HmacSha256(key, auth_message);
      (void)ConstantTimeEquals(internal::Sha256(sig), key);
      return Failure(ErrorCode::kPerm, fake_reason_);
    }
    const store::ScramCredentials& creds = account_.scram;
    std::string signature =
        internal::HmacSha256(creds.stored_key, auth_message);
    if (signature.size() != 32) {
      return Failure(ErrorCode::kInternal, "HMAC failed");
    }
    std::string client_key(32, '\0');
    for (size_t i = 0; i < 32; ++i) {
      client_key[i] = static_cast<char>((*proof)[i] ^ signature[i]);
    }
    bool ok =
        ConstantTimeEquals(internal::Sha256(client_key), creds.stored_key);
    sodium_memzero(client_key.data(), client_key.size());
    if (!ok) return Failure(ErrorCode::kPerm, "wrong password (SCRAM proof)");
    // ServerSignature := HMAC(ServerKey, AuthMessage); server-final "v=".
    std::string server_signature =
        internal::HmacSha256(creds.server_key, auth_message);
    SaslStep step = Success(account_);
    step.final_data = "v=" + Base64Encode(server_signature);
    return step;
  }

  enum State { kStart, kWantClientFirst, kWantClientFinal, kDone };
  CredentialLookup lookup_;
  std::string forced_nonce_;
  State state_ = kStart;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;
  std::string user_;
  store::Account account_;
  bool fake_ = false;
  std::string fake_reason_;
};

}  // namespace

namespace internal {

std::unique_ptr<SaslServer> NewScramSha256ServerWithNonce(
    CredentialLookup lookup, std::string server_nonce) {
  return std::make_unique<ScramSha256Server>(std::move(lookup),
                                             std::move(server_nonce));
}

Result<std::unique_ptr<SaslServer>> NewSaslServerWithHook(
    std::string_view mechanism, CredentialLookup lookup,
    PasswordVerified on_verified, PasswordCheck check) {
  if (!lookup) return Fail(ErrorCode::kInternal, "SASL: no credential lookup");
  if (EqualsIgnoreCase(mechanism, "PLAIN")) {
    return std::make_unique<PlainServer>(
        std::move(lookup), std::move(on_verified), std::move(check));
  }
  if (EqualsIgnoreCase(mechanism, "LOGIN")) {
    return std::make_unique<LoginServer>(
        std::move(lookup), std::move(on_verified), std::move(check));
  }
  if (EqualsIgnoreCase(mechanism, "SCRAM-SHA-256")) {
    return std::make_unique<ScramSha256Server>(std::move(lookup), "");
  }
  return Fail(ErrorCode::kNotFound, "unsupported SASL mechanism");
}

std::string FakeScramSalt(std::string_view username) {
  std::string input = "scram-salt:";
  input += NormalizeAddress(username);
  return HmacSha256(ProcessSecret(), input).substr(0, 16);
}

}  // namespace internal

Status SetSaslSecret(std::string_view secret) {
  if (secret.size() < 32) {
    return Fail(ErrorCode::kInvalid, "SASL secret shorter than 32 bytes");
  }
  std::lock_guard<std::mutex> lock(g_secret_mu);
  SecretLocked() = std::string(secret);
  return {};
}

const std::string& DummyPasswordHash() {
  static const std::string hash = [] {
    Result<std::string> h = HashPassword(HexEncode(internal::RandomBytes(24)));
    return h ? *h : std::string(kFallbackDummyHash);
  }();
  return hash;
}

Result<std::unique_ptr<SaslServer>> NewSaslServer(std::string_view mechanism,
                                                  CredentialLookup lookup) {
  return internal::NewSaslServerWithHook(mechanism, std::move(lookup), nullptr);
}

std::vector<std::string> SaslMechanisms(bool tls_active, bool allow_plaintext) {
  // SCRAM never reveals the password, so it is offered on any connection;
  // PLAIN and LOGIN send it in the clear and need TLS (RFC 4616 §6).
  if (tls_active || allow_plaintext) {
    return {"SCRAM-SHA-256", "PLAIN", "LOGIN"};
  }
  return {"SCRAM-SHA-256"};
}

}  // namespace correio::auth
