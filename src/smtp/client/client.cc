#include "smtp/client/client.h"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <variant>

#include "base/strings.h"

namespace correio::smtp::client {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kReadChunk = 4096;
constexpr size_t kWriteChunk = 64 * 1024;

bool IsIpLiteral(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

Error ReplyError(const Reply& r, std::string_view during) {
  return Error(r.permanent() ? ErrorCode::kPerm : ErrorCode::kTemp,
               fmt::format("{} (in reply to {})", r.ToString(), during));
}

}  // namespace

Capabilities ParseCapabilities(const Reply& ehlo) {
  Capabilities caps;
  caps.esmtp = true;
  // RFC 5321 §4.1.1.1: the first line is the greeting, then one
  // ehlo-keyword [params] per line; keywords are case-insensitive.
  for (size_t i = 1; i < ehlo.lines.size(); ++i) {
    auto words = SplitString(TrimWhitespace(ehlo.lines[i]), ' ');
    if (words.empty()) continue;
    std::string key = AsciiUppercase(words[0]);
    if (key == "PIPELINING") {
      caps.pipelining = true;
    } else if (key == "STARTTLS") {
      caps.starttls = true;
    } else if (key == "8BITMIME") {
      caps.eight_bit_mime = true;
    } else if (key == "SMTPUTF8") {
      caps.smtputf8 = true;
    } else if (key == "DSN") {
      caps.dsn = true;
    } else if (key == "REQUIRETLS") {
      caps.requiretls = true;
    } else if (key == "ENHANCEDSTATUSCODES") {
      caps.enhanced_status_codes = true;
    } else if (key == "SIZE") {
      caps.size_advertised = true;
      if (words.size() > 1) {
        caps.size_limit = ParseUint64(words[1]).value_or(0);
      }
    } else if (key == "AUTH") {
      for (size_t w = 1; w < words.size(); ++w) {
        if (!words[w].empty()) caps.auth.push_back(AsciiUppercase(words[w]));
      }
    }
  }
  return caps;
}

Result<std::shared_ptr<ssl::context>> MakeClientTlsContext(
    bool verify, const std::string& ca_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // CAs are loaded either way: with verify_none OpenSSL still checks the
  // chain and records the result, which tells REQUIRETLS (RFC 8689) whether
  // this connection may carry such a message.
  boost::system::error_code ec;
  if (ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
  } else {
    ctx->load_verify_file(ca_file, ec);
  }
  if (ec && verify) {
    return Fail(ErrorCode::kInternal,
                "cannot load CA certificates: " + ec.message());
  }
  // Opportunistic TLS (RFC 7435) does not verify: encrypting without
  // authentication beats sending in clear, and most MX certificates could
  // not be checked against the MX host name anyway.
  ctx->set_verify_mode(verify ? ssl::verify_peer : ssl::verify_none);
  return ctx;
}

Client::Client(asio::any_io_executor ex, ClientTimeouts timeouts)
    : ex_(ex), timeouts_(timeouts), socket_(ex), timer_(ex) {}

Client::~Client() { Close(); }

void Client::Close() {
  broken_ = true;
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

awaitable<Result<Reply>> Client::Connect(tcp::endpoint endpoint) {
  remote_ =
      fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
  broken_ = false;
  timer_.expires_after(timeouts_.connect);
  auto r = co_await (socket_.async_connect(endpoint, kTuple) ||
                     timer_.async_wait(kTuple));
  if (r.index() == 1) {
    Close();
    co_return Fail(ErrorCode::kTemp, "connect to " + remote_ + ": timeout");
  }
  auto [ec] = std::get<0>(r);
  if (ec) {
    Close();
    co_return Fail(ErrorCode::kTemp,
                   "connect to " + remote_ + ": " + ec.message());
  }
  co_return co_await Read(timeouts_.greeting);
}

awaitable<Status> Client::Write(std::string_view data,
                                std::chrono::milliseconds timeout) {
  if (broken_) co_return Fail(ErrorCode::kTemp, "connection closed");
  while (!data.empty()) {
    // Each block gets its own deadline (RFC 5321 §4.5.3.2.5: per send).
    std::string_view block = data.substr(0, kWriteChunk);
    data.remove_prefix(block.size());
    timer_.expires_after(timeout);
    std::variant<std::tuple<boost::system::error_code, size_t>,
                 std::tuple<boost::system::error_code>>
        r;
    if (tls_) {
      r = co_await (asio::async_write(*tls_, asio::buffer(block), kTuple) ||
                    timer_.async_wait(kTuple));
    } else {
      r = co_await (asio::async_write(socket_, asio::buffer(block), kTuple) ||
                    timer_.async_wait(kTuple));
    }
    if (r.index() == 1) {
      Close();
      co_return Fail(ErrorCode::kTemp, "write to " + remote_ + ": timeout");
    }
    auto [ec, n] = std::get<0>(r);
    if (ec) {
      Close();
      co_return Fail(ErrorCode::kTemp,
                     "write to " + remote_ + ": " + ec.message());
    }
  }
  co_return Status{};
}

awaitable<Result<Reply>> Client::Read(std::chrono::milliseconds timeout) {
  char buf[kReadChunk];
  // One deadline for the whole reply: a server trickling a byte at a time
  // must not stretch it (RFC 5321 §4.5.3.2 timeouts are per reply).
  timer_.expires_after(timeout);
  for (;;) {
    Reply reply;
    if (parser_.Next(&reply)) co_return reply;
    if (broken_) co_return Fail(ErrorCode::kTemp, "connection closed");
    std::variant<std::tuple<boost::system::error_code, size_t>,
                 std::tuple<boost::system::error_code>>
        r;
    if (tls_) {
      r = co_await (tls_->async_read_some(asio::buffer(buf), kTuple) ||
                    timer_.async_wait(kTuple));
    } else {
      r = co_await (socket_.async_read_some(asio::buffer(buf), kTuple) ||
                    timer_.async_wait(kTuple));
    }
    if (r.index() == 1) {
      Close();
      co_return Fail(ErrorCode::kTemp, "read from " + remote_ + ": timeout");
    }
    auto [ec, n] = std::get<0>(r);
    if (ec) {
      Close();
      co_return Fail(ErrorCode::kTemp,
                     "read from " + remote_ + ": " + ec.message());
    }
    if (auto st = parser_.Feed(std::string_view(buf, n)); !st) {
      Close();
      co_return Fail(ErrorCode::kTemp,
                     "bad reply from " + remote_ + ": " + st.error().message());
    }
  }
}

awaitable<Result<Reply>> Client::Command(std::string line,
                                         std::chrono::milliseconds timeout) {
  line += "\r\n";
  if (auto st = co_await Write(line, timeout); !st) co_return Fail(st.error());
  co_return co_await Read(timeout);
}

awaitable<Result<Capabilities>> Client::Hello(std::string helo_name) {
  auto ehlo = co_await Command("EHLO " + helo_name, timeouts_.command);
  if (!ehlo) co_return Fail(ehlo.error());
  if (ehlo->positive()) co_return ParseCapabilities(*ehlo);
  if (!ehlo->permanent()) co_return Fail(ReplyError(*ehlo, "EHLO"));
  auto helo = co_await Command("HELO " + helo_name, timeouts_.command);
  if (!helo) co_return Fail(helo.error());
  if (!helo->positive()) co_return Fail(ReplyError(*helo, "HELO"));
  co_return Capabilities{};
}

awaitable<Result<Capabilities>> Client::StartTls(
    std::shared_ptr<ssl::context> ctx, std::string server_name,
    std::string helo_name) {
  auto reply = co_await Command("STARTTLS", timeouts_.command);
  if (!reply) co_return Fail(reply.error());
  if (reply->code != 220) {
    // Refused: the plaintext connection is still usable.
    co_return Fail(ErrorCode::kPerm,
                   reply->ToString() + " (in reply to STARTTLS)");
  }
  // RFC 3207 §4 / CVE-2011-0411 class: anything after the 220 would be
  // read as if it came over TLS; a server that does this is broken.
  if (parser_.HasPartialData() || parser_.HasReply()) {
    Close();
    co_return Fail(ErrorCode::kTemp,
                   "data after 220 to STARTTLS from " + remote_);
  }
  tls_ctx_ = ctx;
  tls_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, *ctx);
  SSL* ssl = tls_->native_handle();
  if (!server_name.empty() && !IsIpLiteral(server_name)) {
    SSL_set_tlsext_host_name(ssl, server_name.c_str());
  }
  if (!server_name.empty()) {
    if (IsIpLiteral(server_name)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name.c_str());
    } else {
      SSL_set1_host(ssl, server_name.c_str());
    }
  }
  // Without a reachable socket the handshake check below is pointless.
  size_t available = socket_.available();
  if (available > 0) {
    Close();
    co_return Fail(ErrorCode::kTemp,
                   "data after 220 to STARTTLS from " + remote_);
  }
  timer_.expires_after(timeouts_.command);
  auto r = co_await (tls_->async_handshake(ssl::stream_base::client, kTuple) ||
                     timer_.async_wait(kTuple));
  if (r.index() == 1) {
    Close();
    co_return Fail(ErrorCode::kTemp,
                   "TLS handshake with " + remote_ + ": timeout");
  }
  auto [ec] = std::get<0>(r);
  if (ec) {
    Close();
    co_return Fail(ErrorCode::kTemp,
                   "TLS handshake with " + remote_ + ": " + ec.message());
  }
  X509* peer = SSL_get1_peer_certificate(ssl);
  tls_verified_ = peer != nullptr && SSL_get_verify_result(ssl) == X509_V_OK;
  X509_free(peer);
  parser_.Reset();
  // RFC 3207 §4.2: discard knowledge from before TLS; EHLO again.
  co_return co_await Hello(std::move(helo_name));
}

awaitable<Result<Reply>> Client::AuthPlain(std::string user,
                                           std::string password) {
  std::string token;
  token.push_back('\0');
  token += user;
  token.push_back('\0');
  token += password;
  co_return co_await Command("AUTH PLAIN " + Base64Encode(token),
                             timeouts_.command);
}

std::string Client::MailLine(const MailRequest& r, const Capabilities& caps) {
  std::string line = "MAIL FROM:<" + r.mail_from + ">";
  if (caps.size_advertised) line += fmt::format(" SIZE={}", r.data.size());
  if (r.eight_bit && caps.eight_bit_mime) line += " BODY=8BITMIME";
  if (r.smtputf8 && caps.smtputf8) line += " SMTPUTF8";
  if (caps.dsn) {
    if (!r.ret.empty()) line += " RET=" + r.ret;
    if (!r.envid.empty()) line += " ENVID=" + XtextEncode(r.envid);
  }
  if (r.require_tls && caps.requiretls) line += " REQUIRETLS";
  return line;
}

std::string Client::RcptLine(const RecipientRequest& r,
                             const Capabilities& caps) {
  std::string line = "RCPT TO:<" + r.address + ">";
  if (caps.dsn) {
    if (!r.notify.empty()) line += " NOTIFY=" + r.notify;
    if (!r.orcpt.empty()) {
      // "rfc822;addr": the type stays, the address is xtext (RFC 3461 §4.2).
      size_t semi = r.orcpt.find(';');
      if (semi != std::string::npos) {
        line += " ORCPT=" + r.orcpt.substr(0, semi + 1) +
                XtextEncode(r.orcpt.substr(semi + 1));
      }
    }
  }
  return line;
}

std::string Client::DotStuff(std::string_view data) {
  std::string out;
  out.reserve(data.size() + data.size() / 64 + 8);
  bool line_start = true;
  for (char c : data) {
    if (line_start && c == '.') out.push_back('.');
    out.push_back(c);
    line_start = c == '\n';
  }
  if (!data.empty() && !(data.size() >= 2 && data.substr(data.size() - 2) ==
                                                 std::string_view("\r\n"))) {
    out += "\r\n";
  }
  out += ".\r\n";
  return out;
}

awaitable<Result<MailResult>> Client::Send(const MailRequest& request,
                                           const Capabilities& caps) {
  MailResult result;
  std::string mail_line = MailLine(request, caps) + "\r\n";
  std::vector<std::string> rcpt_lines;
  for (const auto& rcpt : request.recipients) {
    rcpt_lines.push_back(RcptLine(rcpt, caps) + "\r\n");
  }
  size_t accepted = 0;
  std::vector<bool> ok(request.recipients.size(), false);
  Reply data_reply;
  if (caps.pipelining) {
    // RFC 2920 §3.1: MAIL, RCPT... and DATA may go in one write; the
    // replies come back in order.
    std::string batch = mail_line;
    for (auto& l : rcpt_lines) batch += l;
    batch += "DATA\r\n";
    if (auto st = co_await Write(batch, timeouts_.command); !st) {
      co_return Fail(st.error());
    }
    auto mail = co_await Read(timeouts_.command);
    if (!mail) co_return Fail(mail.error());
    result.mail = *mail;
    for (size_t i = 0; i < rcpt_lines.size(); ++i) {
      auto rcpt = co_await Read(timeouts_.command);
      if (!rcpt) co_return Fail(rcpt.error());
      // A refused MAIL makes every RCPT fail with the MAIL reply's cause.
      result.recipients.push_back(mail->positive() ? *rcpt : *mail);
      ok[i] = mail->positive() && rcpt->positive();
      if (ok[i]) ++accepted;
    }
    auto data = co_await Read(timeouts_.data_init);
    if (!data) co_return Fail(data.error());
    data_reply = *data;
    if (data->intermediate() && accepted == 0) {
      // RFC 2920 §3.1: DATA accepted although no recipient was; send an
      // empty message end so the server returns to its ready state.
      if (auto st = co_await Write(".\r\n", timeouts_.data_block); !st) {
        co_return Fail(st.error());
      }
      auto end = co_await Read(timeouts_.data_term);
      if (!end) co_return Fail(end.error());
      co_return result;
    }
  } else {
    auto mail = co_await Command(mail_line.substr(0, mail_line.size() - 2),
                                 timeouts_.command);
    if (!mail) co_return Fail(mail.error());
    result.mail = *mail;
    if (!mail->positive()) {
      result.recipients.assign(request.recipients.size(), *mail);
      co_return result;
    }
    for (size_t i = 0; i < rcpt_lines.size(); ++i) {
      auto rcpt = co_await Command(
          rcpt_lines[i].substr(0, rcpt_lines[i].size() - 2), timeouts_.command);
      if (!rcpt) co_return Fail(rcpt.error());
      result.recipients.push_back(*rcpt);
      ok[i] = rcpt->positive();
      if (ok[i]) ++accepted;
    }
    if (accepted == 0) co_return result;
    auto data = co_await Command("DATA", timeouts_.data_init);
    if (!data) co_return Fail(data.error());
    data_reply = *data;
  }
  if (accepted == 0) co_return result;
  if (!data_reply.intermediate()) {
    for (size_t i = 0; i < ok.size(); ++i) {
      if (ok[i]) result.recipients[i] = data_reply;
    }
    co_return result;
  }
  if (auto st = co_await Write(DotStuff(request.data), timeouts_.data_block);
      !st) {
    co_return Fail(st.error());
  }
  result.data_sent = true;
  auto final_reply = co_await Read(timeouts_.data_term);
  if (!final_reply) co_return Fail(final_reply.error());
  for (size_t i = 0; i < ok.size(); ++i) {
    if (ok[i]) result.recipients[i] = *final_reply;
  }
  co_return result;
}

awaitable<Result<Reply>> Client::Rset() {
  co_return co_await Command("RSET", timeouts_.command);
}

awaitable<void> Client::Quit() {
  if (!broken_) {
    auto short_timeout = std::min<std::chrono::milliseconds>(
        timeouts_.command, std::chrono::seconds(10));
    auto r = co_await Command("QUIT", short_timeout);
    (void)r;
  }
  Close();
}

}  // namespace correio::smtp::client
