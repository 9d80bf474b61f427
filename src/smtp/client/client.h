// Outbound SMTP client (RFC 5321 as a client): one connection to one
// server, carrying any number of mail transactions (connection reuse).
//
// What it speaks: EHLO with HELO fallback (§4.1.1.1), STARTTLS (RFC 3207)
// with or without certificate verification, AUTH PLAIN (RFC 4954),
// PIPELINING (RFC 2920) of MAIL/RCPT/DATA, SIZE (RFC 1870), BODY=8BITMIME
// (RFC 6152), SMTPUTF8 (RFC 6531), DSN parameters (RFC 3461) and
// REQUIRETLS (RFC 8689) when the server offers them. Every read and write
// has the deadline of RFC 5321 §4.5.3.2 (ClientTimeouts).
//
// Errors: SMTP replies, even 4xx/5xx, are values (Reply). An Error means
// the connection is unusable: kTemp for timeouts, resets, malformed or
// oversized replies (the message is deferred, nothing more); the caller
// then closes the client.
//
// Thread-safety: none. A Client lives on one executor; call it from
// coroutines running there, one call at a time.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "smtp/client/reply.h"

namespace correio::smtp::client {

using boost::asio::awaitable;
using tcp = boost::asio::ip::tcp;

// RFC 5321 §4.5.3.2 minimum timeouts, in seconds.
struct ClientTimeouts {
  std::chrono::milliseconds connect{std::chrono::seconds(30)};
  std::chrono::milliseconds greeting{std::chrono::minutes(5)};    // §4.5.3.2.1
  std::chrono::milliseconds command{std::chrono::minutes(5)};     // MAIL, RCPT
  std::chrono::milliseconds data_init{std::chrono::minutes(2)};   // §4.5.3.2.4
  std::chrono::milliseconds data_block{std::chrono::minutes(3)};  // §4.5.3.2.5
  std::chrono::milliseconds data_term{std::chrono::minutes(10)};  // §4.5.3.2.6
};

struct Capabilities {
  bool esmtp = false;  // EHLO answered 250 (else HELO was used)
  bool pipelining = false;
  bool starttls = false;
  bool eight_bit_mime = false;
  bool smtputf8 = false;
  bool dsn = false;
  bool requiretls = false;
  bool enhanced_status_codes = false;
  bool size_advertised = false;
  uint64_t size_limit = 0;        // 0 with size_advertised: no fixed limit
  std::vector<std::string> auth;  // uppercase mechanism names
};
// Parses the lines of a 250 EHLO reply (the first is the greeting text).
Capabilities ParseCapabilities(const Reply& ehlo);

// One client TLS context: TLS 1.2+, with or without verification of the
// server's certificate chain (system CAs, or ca_file when given). Host name
// checking is set per connection (SNI and SSL_set1_host).
Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientTlsContext(
    bool verify, const std::string& ca_file = "");

struct RecipientRequest {
  std::string address;
  std::string notify;  // RFC 3461 "SUCCESS,FAILURE" or "NEVER"; "" omitted
  std::string orcpt;   // "rfc822;addr" (decoded); "" omitted
};

struct MailRequest {
  std::string mail_from;  // "" is <>
  std::vector<RecipientRequest> recipients;
  std::string_view data;  // exact octets, CRLF, not dot-stuffed
  bool eight_bit = false;
  bool smtputf8 = false;
  bool require_tls = false;
  std::string ret;    // "FULL", "HDRS" or ""
  std::string envid;  // decoded, or ""
};

struct MailResult {
  Reply mail;                     // the MAIL reply
  std::vector<Reply> recipients;  // the final word per recipient, in order
  bool data_sent = false;         // the message went out (354 then final)
};

class Client {
 public:
  Client(boost::asio::any_io_executor ex, ClientTimeouts timeouts);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // TCP connect, then reads the greeting. A non-2xx greeting is returned
  // as a Reply (the caller moves on to the next host or defers).
  awaitable<Result<Reply>> Connect(tcp::endpoint endpoint);
  // EHLO, or HELO when EHLO is refused with 5xx (RFC 5321 §4.1.1.1).
  // A non-2xx answer to both: kTemp/kPerm Error with the reply text.
  awaitable<Result<Capabilities>> Hello(std::string helo_name);
  // STARTTLS then a fresh EHLO (RFC 3207 §4.2: forget what was learned).
  // Octets the server sent after its 220 are a protocol error (kTemp).
  // `server_name` is sent as SNI and checked when ctx verifies.
  awaitable<Result<Capabilities>> StartTls(
      std::shared_ptr<boost::asio::ssl::context> ctx, std::string server_name,
      std::string helo_name);
  // AUTH PLAIN (RFC 4954, RFC 4616) with an initial response.
  awaitable<Result<Reply>> AuthPlain(std::string user, std::string password);
  // One transaction. Uses PIPELINING when offered. Parameters are added
  // only where `caps` says the server supports them; the caller checks the
  // hard requirements (SMTPUTF8, REQUIRETLS) before calling.
  awaitable<Result<MailResult>> Send(const MailRequest& request,
                                     const Capabilities& caps);
  // RSET, to reuse the connection after an aborted transaction.
  awaitable<Result<Reply>> Rset();
  // QUIT and close; errors ignored.
  awaitable<void> Quit();
  void Close();

  bool tls_active() const { return tls_ != nullptr; }
  // The server's certificate chain and name checked out (whether or not
  // the context demanded it).
  bool tls_verified() const { return tls_verified_; }
  const std::string& remote() const { return remote_; }

  // Builds the MAIL FROM / RCPT TO lines (without CRLF), exposed for tests.
  static std::string MailLine(const MailRequest& r, const Capabilities& caps);
  static std::string RcptLine(const RecipientRequest& r,
                              const Capabilities& caps);
  // RFC 5321 §4.5.2 dot-stuffing plus the final ".\r\n"; appends CRLF to
  // data that does not end with one.
  static std::string DotStuff(std::string_view data);

 private:
  awaitable<Status> Write(std::string_view data,
                          std::chrono::milliseconds timeout);
  awaitable<Result<Reply>> Read(std::chrono::milliseconds timeout);
  awaitable<Result<Reply>> Command(std::string line,
                                   std::chrono::milliseconds timeout);

  boost::asio::any_io_executor ex_;
  ClientTimeouts timeouts_;
  tcp::socket socket_;
  std::shared_ptr<boost::asio::ssl::context> tls_ctx_;
  std::unique_ptr<boost::asio::ssl::stream<tcp::socket&>> tls_;
  bool tls_verified_ = false;
  boost::asio::steady_timer timer_;
  ReplyParser parser_;
  std::string remote_;
  bool broken_ = false;
};

}  // namespace correio::smtp::client
