// STARTTLS (RFC 9051 §6.2.1), LOGIN (§6.2.3), AUTHENTICATE (§6.2.2) with
// SASL-IR (RFC 4959).
#include <spdlog/spdlog.h>

#include "auth/authenticator.h"
#include "auth/sasl.h"
#include "base/strings.h"
#include "imap/server/session_internal.h"

namespace correio::imap {

awaitable<Reply> Session::CmdStartTls(Command cmd) {
  if (!options_.offer_starttls || !options_.tls || conn_->tls_active()) {
    co_return Reply::Bad("STARTTLS not available");
  }
  Send(cmd.tag + " OK Begin TLS negotiation now\r\n");
  if (!co_await Flush()) {
    state_ = SessionState::kLogout;
    co_return Reply{"", ""};
  }
  // STYLE 17: StartTls throws away anything pipelined in plaintext.
  auto st = co_await conn_->StartTls(options_.tls->Current());
  if (!st) {
    spdlog::info("{} {}", log_, st.error().message());
    state_ = SessionState::kLogout;
  }
  co_return Reply{"", ""};
}

awaitable<Reply> Session::CmdLogin(Command cmd) {
  if (TlsRequiredForLogin()) {
    co_return Reply::No("[PRIVACYREQUIRED] Use STARTTLS first");
  }
  auto& a = std::get<LoginArgs>(cmd.args);
  auto* authn = env_.auth;
  std::string ip = conn_->remote_ip();
  auto result = co_await net::RunBlocking(env_.AuthPool(), [&] {
    return authn->Login(ip, a.user, a.password);
  });
  // Throttle: wait before either answer, asynchronously.
  co_await Delay(result.delay);
  if (!result.account) {
    const Error& e = result.account.error();
    if (e.code() == ErrorCode::kPerm) {
      co_return Reply::No("[AUTHENTICATIONFAILED] Authentication failed");
    }
    if (e.code() == ErrorCode::kTemp) {
      spdlog::info("{} login refused: {}", log_, e.message());
      co_return Reply::No("[UNAVAILABLE] Try again later");
    }
    co_return ErrorReply(e, "LOGIN");
  }
  LoggedIn(*result.account);
  co_return Reply::Ok("[CAPABILITY " + Capabilities() + "] Logged in");
}

awaitable<Reply> Session::CmdAuthenticate(Command cmd) {
  if (TlsRequiredForLogin()) {
    co_return Reply::No("[PRIVACYREQUIRED] Use STARTTLS first");
  }
  auto& a = std::get<AuthenticateArgs>(cmd.args);
  bool offered = false;
  for (const auto& m :
       auth::SaslMechanisms(conn_->tls_active(), cfg_.auth.allow_plaintext)) {
    if (m == a.mechanism) offered = true;
  }
  if (!offered) co_return Reply::No("[CANNOT] Unsupported mechanism");
  auto sasl = env_.auth->NewSasl(conn_->remote_ip(), a.mechanism);
  if (!sasl) co_return Reply::No("[CANNOT] Unsupported mechanism");
  std::shared_ptr<auth::SaslServer> server = std::move(*sasl);

  std::optional<std::string> response;
  if (a.initial_response) {
    // RFC 4959 §3: "=" is an empty initial response.
    if (*a.initial_response == "=") {
      response = std::string();
    } else {
      auto d = Base64Decode(*a.initial_response);
      if (!d) co_return Reply::Bad("Invalid base64 in initial response");
      response = std::move(*d);
    }
  }
  for (int round = 0;; ++round) {
    if (round > 10) co_return Reply::Bad("Too many SASL rounds");
    auto step = co_await net::RunBlocking(env_.AuthPool(), [&] {
      return server->Step(response ? std::optional<std::string_view>(*response)
                                   : std::nullopt);
    });
    if (step.state == auth::SaslStep::kChallenge || 
        (step.state == auth::SaslStep::kSuccess && step.final_data)) {
      std::string data = step.state == auth::SaslStep::kChallenge
                             ? step.challenge
                             : *step.final_data;
      if (step.state == auth::SaslStep::kSuccess) co_await Delay(step.delay);
      Send("+ " + Base64Encode(data) + "\r\n");
      if (!co_await Flush()) {
        state_ = SessionState::kLogout;
        co_return Reply{"", ""};
      }
      auto line = co_await conn_->ReadLine(
          std::min<size_t>(options_.max_line_length, 16384));
      if (!line) {
        if (line.error().code() == ErrorCode::kTooBig) {
          co_return Reply::Bad("SASL response too long");
        }
        state_ = SessionState::kLogout;
        co_return Reply{"", ""};
      }
      // RFC 9051 §6.2.2: "*" cancels.
      if (line->text == "*") co_return Reply::Bad("Authentication cancelled");
      if (step.state == auth::SaslStep::kSuccess) {
        // The client acknowledges the server's final data with an empty
        // response.
        if (!line->text.empty()) co_return Reply::Bad("Expected empty response");
        LoggedIn(step.account);
        co_return Reply::Ok("[CAPABILITY " + Capabilities() +
                            "] Authenticated");
      }
      auto d = Base64Decode(line->text);
      if (!d) co_return Reply::Bad("Invalid base64 in SASL response");
      response = std::move(*d);
      continue;
    }
    co_await Delay(step.delay);
    if (step.state == auth::SaslStep::kSuccess) {
      LoggedIn(step.account);
      co_return Reply::Ok("[CAPABILITY " + Capabilities() + "] Authenticated");
    }
    switch (step.error) {
      case ErrorCode::kPerm:
        co_return Reply::No("[AUTHENTICATIONFAILED] Authentication failed");
      case ErrorCode::kInvalid:
        co_return Reply::Bad("Malformed SASL exchange");
      case ErrorCode::kTemp:
      case ErrorCode::kNoSpace:
        spdlog::info("{} authenticate refused: {}", log_, step.reason);
        co_return Reply::No("[UNAVAILABLE] Try again later");
      default:
        spdlog::error("{} authenticate: {}", log_, step.reason);
        co_return Reply::No("[SERVERBUG] Internal error");
    }
  }
}

}  // namespace correio::imap
