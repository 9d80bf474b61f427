// Connection: one client socket, plain or TLS, with a bounded line reader
// and a deadline on every read and write.
//
// Owned by its session coroutine (through a shared_ptr the server also
// watches for shutdown). Lives on one io_context for life: no locks, and
// every method must be called on that io_context's thread, except
// RequestStop(), which the server posts there.
//
// Reads are buffered here so that the protocols parse from one place and so
// STARTTLS can discard whatever plaintext a client pipelined behind the
// command (STYLE 17; the CVE-2011-0411 class of bugs).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "net/deflate.h"

namespace correio::net {

using boost::asio::awaitable;
using tcp = boost::asio::ip::tcp;

struct Line {
  std::string_view text;  // without the line end; valid until the next read
  bool bare_lf = false;   // ended by LF alone, not CRLF
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `remote`: the peer's address when the caller has it already (the accept
  // loop does); otherwise the constructor asks the socket.
  Connection(tcp::socket socket, uint64_t id, std::string listener_name,
             std::optional<tcp::endpoint> remote = std::nullopt);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // An address as sessions see it: IPv4-mapped IPv6 as plain IPv4.
  static std::string IpText(const tcp::endpoint& endpoint);

  uint64_t id() const { return id_; }
  const std::string& remote_ip() const { return remote_ip_; }
  uint16_t remote_port() const { return remote_port_; }
  const std::string& local_ip() const { return local_ip_; }
  uint16_t local_port() const { return local_port_; }
  const std::string& listener_name() const { return listener_name_; }
  // The ALPN protocol id a TLS handshake on this connection must accept
  // (net/tls.h AlpnExDataIndex); null or empty: any. Must outlive the
  // connection (the listener's options hold it).
  void SetAlpn(const std::string* protocol) { alpn_ = protocol; }
  bool tls_active() const { return ssl_ != nullptr; }
  std::string tls_description() const;  // "TLSv1.3 TLS_AES_256_GCM_SHA384"

  // The deadline applied to every following read and write, until changed.
  // A connection whose deadline passes is closed; the pending operation
  // fails with kTemp "timeout" and timed_out() becomes true.
  void SetTimeout(std::chrono::milliseconds timeout);
  bool timed_out() const { return timed_out_; }
  // How many times a watchdog timer has woken by expiring, in all
  // connections of the process (diagnostics, tests): each is a wake-up of
  // an otherwise idle worker.
  static uint64_t WatchdogFirings() { return watchdog_firings_.load(); }

  // A deadline for a whole command's input, not each read: a client that
  // trickles a byte every few seconds (slowloris) would otherwise keep the
  // per-read deadline moving forever. ReadLine sets one for every line it
  // has to wait for; sessions that split lines themselves (POP3) hold a
  // CommandDeadline while they read one.
  class CommandDeadline {
   public:
    explicit CommandDeadline(Connection& c) : c_(c) {
      c_.hard_deadline_ = std::chrono::steady_clock::now() + c_.timeout_;
    }
    ~CommandDeadline() { c_.hard_deadline_.reset(); }
    CommandDeadline(const CommandDeadline&) = delete;
    CommandDeadline& operator=(const CommandDeadline&) = delete;

   private:
    Connection& c_;
  };

  // Reads one line of at most max_length octets including its line end.
  // Errors: kTooBig when the line is longer (the rest of it, up to and
  //   including the next LF, is consumed and thrown away so the session can
  //   answer and go on; a line with no LF at all is consumed until the
  //   deadline or the client's next LF); kNotFound at end of stream;
  //   kTemp on timeout, reset or stop.
  awaitable<Result<Line>> ReadLine(size_t max_length);
  // After kTooBig from ReadLine: the first octets (at most kTooLongHead)
  // of the line that was thrown away.
  static constexpr size_t kTooLongHead = 128;
  const std::string& too_long_head() const { return too_long_head_; }
  // Returns between 1 and max buffered-or-newly-read octets.
  awaitable<Result<std::string_view>> ReadSome(size_t max);
  // Gives back the last n octets the previous ReadSome returned: they are
  // what the next read sees (a reader that found its end inside a chunk).
  void Unread(size_t n);
  // Octets already received and not yet consumed (pipelined input).
  size_t buffered() const { return end_ - begin_; }
  void DiscardBuffered();

  awaitable<Status> Write(std::string_view data);

  // Server-side TLS handshake on the live socket. Throws away any plaintext
  // received before it. kPerm when the handshake fails.
  awaitable<Status> StartTls(std::shared_ptr<boost::asio::ssl::context> ctx);

  // RFC 4978 COMPRESS=DEFLATE from now on, both ways: received octets are
  // inflated before any read sees them (those already buffered included)
  // and every Write is deflated and sync-flushed. kPerm when already on.
  Status StartCompression();
  bool compressed() const { return deflate_ != nullptr; }

  // Asks the session to finish: pending reads fail with kTemp and
  // stopping() is true, so the session can say goodbye and return.
  void RequestStop();
  bool stopping() const { return stopping_; }

  // Closes the socket (TLS close_notify is not awaited).
  void Close();

 private:
  awaitable<Result<size_t>> FillBuffer();
  // One read from the socket (TLS or not) into [into, into+n).
  awaitable<Result<size_t>> ReadRaw(char* into, size_t n);
  // now + timeout_, but never past a CommandDeadline.
  std::chrono::steady_clock::time_point NextDeadline() const;
  void ArmWatchdog();
  awaitable<void> Watchdog();
  // Plain reads and writes are tried at once, and TLS ones always are; a
  // session whose I/O keeps completing without a wait (a client streaming
  // a large message) would never let the worker's other sessions run. So
  // every kInlineRun such operations in a row, it steps aside once.
  static constexpr uint8_t kInlineRun = 16;
  bool InlineRunOver() { return ++inline_run_ >= kInlineRun; }
  awaitable<void> StepAside();
  void Compact();

  tcp::socket socket_;
  // TLS is OpenSSL on the socket's descriptor (non-blocking), driven by
  // waits for readiness, not asio::ssl::stream: the stream keeps two 17 KB
  // buffers (and a 2x17 KB BIO pair) per connection for its whole life,
  // while OpenSSL with SSL_MODE_RELEASE_BUFFERS frees its record buffers
  // whenever the connection is idle. An idle IMAPS session went from about
  // 85 KB to about 25 KB (docs/benchmarks.md).
  struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  std::shared_ptr<boost::asio::ssl::context> tls_ctx_;  // keeps ssl_ valid
  std::unique_ptr<SSL, SslFree> ssl_;
  // Why no I/O can start (closed, stopping), if so.
  std::optional<Error> Unusable() const;
  // The error a failed read or wait reports: timeout, stopping, end of
  // stream (kNotFound) or the socket's own error.
  Error ReadError(const boost::system::error_code& ec) const;
  // Waits until the socket is readable or writable (deadline applies).
  awaitable<Status> WaitReady(tcp::socket::wait_type what);
  // Whether a read would find something at once: TLS data OpenSSL already
  // holds, or octets (or an error) waiting on the socket.
  bool ReadableNow();
  // After an SSL_* call returned `rc`: waits as OpenSSL asks (true: call
  // again) or says why not.
  awaitable<Result<bool>> SslRetry(int rc, const char* what);
  uint64_t id_;
  std::string listener_name_;
  const std::string* alpn_ = nullptr;
  std::string remote_ip_, local_ip_;
  uint16_t remote_port_ = 0, local_port_ = 0;

  std::string buf_;  // received octets live in [begin_, end_)
  size_t begin_ = 0, end_ = 0;

  std::chrono::milliseconds timeout_{std::chrono::minutes(5)};
  std::chrono::steady_clock::time_point deadline_;
  // While set (CommandDeadline), no read may move deadline_ past it.
  std::optional<std::chrono::steady_clock::time_point> hard_deadline_;
  boost::asio::steady_timer timer_;
  bool watchdog_running_ = false;
  static inline std::atomic<uint64_t> watchdog_firings_ = 0;
  // Reads and writes under way (the deadline applies while any is). A
  // count, not a flag: an IMAP IDLE session writes while its read waits,
  // and the finished write must not exempt the read from the deadline.
  int pending_ = 0;
  std::string too_long_head_;
  std::unique_ptr<DeflateStream> deflate_;
  uint8_t inline_run_ = 0;  // I/O completed without a wait, in a row
  bool timed_out_ = false;
  bool stopping_ = false;
  bool closed_ = false;
};

}  // namespace correio::net
