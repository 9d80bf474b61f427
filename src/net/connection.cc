#include "net/connection.h"

#include <openssl/err.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <climits>
#include <cstring>

#include "net/tls.h"

namespace correio::net {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {
constexpr size_t kReadChunk = 4096;
}

std::string Connection::IpText(const tcp::endpoint& endpoint) {
  auto addr = endpoint.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  }
  return addr.to_string();
}

Connection::Connection(tcp::socket socket, uint64_t id,
                       std::string listener_name,
                       std::optional<tcp::endpoint> remote)
    : socket_(std::move(socket)),
      id_(id),
      listener_name_(std::move(listener_name)),
      timer_(socket_.get_executor()) {
  boost::system::error_code ec;
  if (!remote) {
    auto asked = socket_.remote_endpoint(ec);
    if (!ec) remote = asked;
  }
  if (remote) {
    remote_ip_ = IpText(*remote);
    remote_port_ = remote->port();
  }
  auto local = socket_.local_endpoint(ec);
  if (!ec) {
    local_ip_ = local.address().to_string();
    local_port_ = local.port();
  }
  socket_.set_option(tcp::no_delay(true), ec);
  // Reads and writes are tried at once before they wait (FillBuffer,
  // Write): a synchronous call must return would_block, not block.
  socket_.non_blocking(true, ec);
}

Connection::~Connection() { Close(); }

std::string Connection::tls_description() const {
  if (!ssl_) return "";
  SSL* s = ssl_.get();
  return std::string(SSL_get_version(s)) + " " + SSL_get_cipher_name(s);
}

void Connection::SetTimeout(std::chrono::milliseconds timeout) {
  bool grew = timeout > 4 * timeout_;
  timeout_ = timeout;
  if (grew && watchdog_running_ && !closed_) {
    // Much longer now (the TLS handshake's 30 s, then IMAP's 30 minutes):
    // move the timer at once, while this thread is awake anyway. Left to
    // the lazy re-arm below, every new idle session woke its worker once,
    // 30 s after connecting: 10,000 IDLE sessions cost ~2 ms/s of CPU for
    // half a minute after the last had connected (bench idle scenario).
    // Smaller changes (SMTP's command and DATA timeouts) stay lazy.
    deadline_ = NextDeadline();
    timer_.expires_at(deadline_);  // the aborted wait re-arms to deadline_
  }
}

std::chrono::steady_clock::time_point Connection::NextDeadline() const {
  auto d = std::chrono::steady_clock::now() + timeout_;
  return hard_deadline_ && *hard_deadline_ < d ? *hard_deadline_ : d;
}

void Connection::ArmWatchdog() {
  deadline_ = NextDeadline();
  ++pending_;
  if (watchdog_running_ && deadline_ < timer_.expiry()) {
    // A shorter timeout than the one the timer sleeps on (SetTimeout while
    // idle): wake it now so it re-arms to the new deadline. expires_at
    // cancels the pending wait; the loop in Watchdog() sets it again.
    timer_.expires_at(deadline_);
  }
  if (!watchdog_running_ && !closed_) {
    watchdog_running_ = true;
    asio::co_spawn(
        socket_.get_executor(),
        [self = shared_from_this()]() { return self->Watchdog(); },
        asio::detached);
  }
}

awaitable<void> Connection::Watchdog() {
  // One timer per connection, re-armed lazily: I/O only moves deadline_,
  // the timer notices when it wakes. Idle sessions cost no wake-ups beyond
  // one per timeout period.
  auto self = shared_from_this();
  while (!closed_) {
    timer_.expires_at(deadline_);
    auto [ec] = co_await timer_.async_wait(kTuple);
    if (!ec) ++watchdog_firings_;
    if (closed_) break;
    auto now = std::chrono::steady_clock::now();
    if (pending_ > 0 && now >= deadline_) {
      timed_out_ = true;
      Close();
      break;
    }
    if (pending_ == 0 && now >= deadline_) deadline_ = now + timeout_;
  }
  watchdog_running_ = false;
}

void Connection::Compact() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    // Give memory back after a large literal or line. (FillBuffer also
    // drops the buffer whenever it is about to wait with nothing unread.)
    if (buf_.capacity() > 4 * kReadChunk) std::string().swap(buf_);
  } else if (begin_ > 0 && begin_ >= buf_.size() / 2) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
}

std::optional<Error> Connection::Unusable() const {
  if (closed_) return Error(ErrorCode::kTemp, "connection closed");
  if (stopping_) return Error(ErrorCode::kTemp, "server stopping");
  return std::nullopt;
}

Error Connection::ReadError(const boost::system::error_code& ec) const {
  if (timed_out_) return Error(ErrorCode::kTemp, "timeout");
  if (stopping_) return Error(ErrorCode::kTemp, "server stopping");
  if (ec == asio::error::eof) return Error(ErrorCode::kNotFound, "end of stream");
  return Error(ErrorCode::kTemp, ec.message());
}

awaitable<void> Connection::StepAside() {
  inline_run_ = 0;
  co_await asio::post(socket_.get_executor(), asio::use_awaitable);
}

awaitable<Status> Connection::WaitReady(tcp::socket::wait_type what) {
  if (auto e = Unusable()) co_return Fail(*e);
  ArmWatchdog();
  auto [ec] = co_await socket_.async_wait(what, kTuple);
  inline_run_ = 0;
  --pending_;
  if (ec) co_return Fail(ReadError(ec));
  co_return Status{};
}

awaitable<Result<bool>> Connection::SslRetry(int rc, const char* what) {
  int err = SSL_get_error(ssl_.get(), rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    auto st = co_await WaitReady(err == SSL_ERROR_WANT_READ
                                     ? tcp::socket::wait_read
                                     : tcp::socket::wait_write);
    if (!st) co_return Fail(st.error());
    co_return true;
  }
  unsigned long e = ERR_peek_error();
  if (err == SSL_ERROR_ZERO_RETURN ||
      (err == SSL_ERROR_SYSCALL && e == 0)) {
    // close_notify, or the peer just closed the socket.
    co_return Fail(ErrorCode::kNotFound, "end of stream");
  }
  char reason[256] = "";
  if (e != 0) ERR_error_string_n(e, reason, sizeof reason);
  ERR_clear_error();
  co_return Fail(ErrorCode::kTemp,
                 std::string(what) + ": " + (e ? reason : "I/O error"));
}

awaitable<Result<size_t>> Connection::ReadRaw(char* into, size_t n) {
  if (auto e = Unusable()) co_return Fail(*e);
  if (ssl_) {
    for (;;) {
      ERR_clear_error();
      int rc = SSL_read(ssl_.get(), into,
                        static_cast<int>(std::min<size_t>(n, INT_MAX)));
      if (rc > 0) {
        if (InlineRunOver()) co_await StepAside();
        co_return static_cast<size_t>(rc);
      }
      auto again = co_await SslRetry(rc, "TLS read");
      if (!again) co_return Fail(again.error());
    }
  }
  ArmWatchdog();
  auto buffer = asio::buffer(into, n);
  auto [ec, got] = co_await socket_.async_read_some(buffer, kTuple);
  inline_run_ = 0;  // completed through the reactor: others had a turn
  --pending_;
  if (ec) co_return Fail(ReadError(ec));
  co_return got;
}

bool Connection::ReadableNow() {
  if (ssl_ && SSL_has_pending(ssl_.get())) return true;
  boost::system::error_code ec;
  return socket_.available(ec) > 0 || ec;  // an error: let the read say it
}

// No array in this frame: an idle session keeps it (and ReadLine's) alive
// while it waits; a 4 KB local made every idle connection 4 KB bigger.
awaitable<Result<size_t>> Connection::FillBuffer() {
  Compact();
  bool wait;
  if (!ssl_ && !deflate_ && !buf_.empty()) {
    // Plain, and data came lately (the buffer is held): read at once,
    // without a trip through the reactor. Under load the client has
    // usually answered while other sessions were served, and this recv is
    // the only system call; when nothing is here it says so, as the
    // FIONREAD of ReadableNow would have.
    if (auto e = Unusable()) co_return Fail(*e);
    if (buf_.size() < end_ + kReadChunk) buf_.resize(end_ + kReadChunk);
    boost::system::error_code ec;
    size_t n = socket_.read_some(
        asio::buffer(buf_.data() + end_, buf_.size() - end_), ec);
    if (!ec) {
      end_ += n;
      if (InlineRunOver()) co_await StepAside();
      co_return n;
    }
    if (ec != asio::error::would_block) co_return Fail(ReadError(ec));
    wait = begin_ == end_;
  } else {
    wait = begin_ == end_ && !(deflate_ && deflate_->has_input()) &&
           !ReadableNow();
  }
  if (wait) {
    // About to wait with nothing unread (a session between commands, IDLE
    // for hours): hold no buffer meanwhile. While data keeps coming the
    // buffer is kept and the read goes straight ahead.
    std::string().swap(buf_);
    auto ready = co_await WaitReady(tcp::socket::wait_read);
    if (!ready) co_return Fail(ready.error());
  }
  if (buf_.size() < end_ + kReadChunk) buf_.resize(end_ + kReadChunk);
  if (!deflate_) {
    auto n = co_await ReadRaw(buf_.data() + end_, buf_.size() - end_);
    if (n) end_ += *n;
    co_return n;
  }
  // Compressed: inflate what we have; read more only when it yields
  // nothing (a sync-flush marker alone, or a block cut by the network).
  std::string raw;
  for (;;) {
    if (!deflate_->has_input()) {
      raw.resize(kReadChunk);
      auto n = co_await ReadRaw(raw.data(), raw.size());
      if (!n) co_return n;
      deflate_->Feed(std::string_view(raw.data(), *n));
    }
    auto n = deflate_->Inflate(buf_.data() + end_, buf_.size() - end_);
    if (!n) {
      Close();
      co_return Fail(n.error());
    }
    if (*n > 0) {
      end_ += *n;
      co_return n;
    }
  }
}

awaitable<Result<Line>> Connection::ReadLine(size_t max_length) {
  // The whole line within one timeout, however it trickles in.
  CommandDeadline deadline(*this);
  size_t scanned = 0;  // octets of [begin_, end_) known to hold no LF
  for (;;) {
    const char* start = buf_.data() + begin_;
    size_t avail = end_ - begin_;
    const void* lf = std::memchr(start + scanned, '\n', avail - scanned);
    if (lf) {
      size_t len = static_cast<const char*>(lf) - start + 1;  // incl. LF
      begin_ += len;
      if (len > max_length) {
        too_long_head_.assign(start, std::min<size_t>(len, kTooLongHead));
        co_return Fail(ErrorCode::kTooBig, "line too long");
      }
      Line line;
      line.bare_lf = !(len >= 2 && start[len - 2] == '\r');
      line.text = std::string_view(start, len - (line.bare_lf ? 1 : 2));
      co_return line;
    }
    scanned = avail;
    if (avail > max_length) {
      // Too long already: drop what we have, keep reading until the LF so
      // the session can answer once and carry on (bounded memory). The
      // head is kept so that a protocol can still name the command (an
      // IMAP tag) in its error reply.
      too_long_head_.assign(start, std::min<size_t>(avail, kTooLongHead));
      begin_ = end_ = 0;
      for (;;) {
        auto n = co_await FillBuffer();
        if (!n) co_return Fail(n.error());
        const void* lf2 = std::memchr(buf_.data(), '\n', end_);
        if (lf2) {
          begin_ = static_cast<const char*>(lf2) - buf_.data() + 1;
          co_return Fail(ErrorCode::kTooBig, "line too long");
        }
        begin_ = end_ = 0;
      }
    }
    // FillBuffer may move the unread octets to the front; `scanned` is
    // relative to begin_ and stays valid.
    auto n = co_await FillBuffer();
    if (!n) co_return Fail(n.error());
  }
}

awaitable<Result<std::string_view>> Connection::ReadSome(size_t max) {
  if (begin_ == end_) {
    auto n = co_await FillBuffer();
    if (!n) co_return Fail(n.error());
  }
  size_t take = std::min(max, end_ - begin_);
  std::string_view out(buf_.data() + begin_, take);
  begin_ += take;
  co_return out;
}

void Connection::Unread(size_t n) {
  assert(n <= begin_);
  begin_ -= n;
}

void Connection::DiscardBuffered() {
  begin_ = end_ = 0;
  std::string().swap(buf_);
}

awaitable<Status> Connection::Write(std::string_view data) {
  if (closed_) co_return Fail(ErrorCode::kTemp, "connection closed");
  std::string packed;
  if (deflate_) {
    auto st = deflate_->Compress(data, packed);
    if (!st) co_return st;
    data = packed;
  }
  if (ssl_) {
    size_t done = 0;
    while (done < data.size()) {
      if (closed_) co_return Fail(ErrorCode::kTemp, "connection closed");
      ERR_clear_error();
      int rc = SSL_write(
          ssl_.get(), data.data() + done,
          static_cast<int>(std::min<size_t>(data.size() - done, INT_MAX)));
      if (rc > 0) {
        done += static_cast<size_t>(rc);
        continue;
      }
      auto again = co_await SslRetry(rc, "TLS write");
      if (!again) {
        co_return Fail(ErrorCode::kTemp, timed_out_ ? "timeout"
                                                    : again.error().message());
      }
    }
    if (InlineRunOver()) co_await StepAside();
    co_return Status{};
  }
  // Plain: send at once; a reply nearly always fits the socket buffer,
  // and then there is no trip through the reactor. The rest, if any, is
  // written as the socket drains.
  boost::system::error_code now_ec;
  size_t sent = socket_.write_some(asio::buffer(data), now_ec);
  if (now_ec == asio::error::would_block) {
    sent = 0;
  } else if (now_ec) {
    co_return Fail(ErrorCode::kTemp, now_ec.message());
  }
  if (sent == data.size()) {
    if (InlineRunOver()) co_await StepAside();
    co_return Status{};
  }
  ArmWatchdog();
  auto [ec, written] = co_await asio::async_write(
      socket_, asio::buffer(data.substr(sent)), kTuple);
  inline_run_ = 0;
  (void)written;
  --pending_;
  if (ec) {
    co_return Fail(ErrorCode::kTemp, timed_out_ ? "timeout" : ec.message());
  }
  co_return Status{};
}

Status Connection::StartCompression() {
  if (deflate_) return Fail(ErrorCode::kPerm, "compression already active");
  auto d = DeflateStream::Create();
  if (!d) return Fail(d.error());
  deflate_ = std::move(*d);
  // Whatever the peer sent after the command is already compressed.
  if (end_ > begin_) {
    deflate_->Feed(std::string_view(buf_.data() + begin_, end_ - begin_));
    begin_ = end_ = 0;
  }
  return Status{};
}

awaitable<Status> Connection::StartTls(std::shared_ptr<ssl::context> ctx) {
  if (ssl_) co_return Fail(ErrorCode::kPerm, "TLS already active");
  // STYLE 17: nothing received in plaintext may be read after the upgrade.
  DiscardBuffered();
  tls_ctx_ = std::move(ctx);
  SSL* s = SSL_new(tls_ctx_->native_handle());
  if (s == nullptr) co_return Fail(ErrorCode::kPerm, "TLS: SSL_new failed");
  ssl_.reset(s);
  boost::system::error_code ec;
  socket_.native_non_blocking(true, ec);
  if (ec || SSL_set_fd(s, socket_.native_handle()) != 1) {
    co_return Fail(ErrorCode::kPerm, "TLS: cannot attach to the socket");
  }
  // Partial writes so a large reply goes out as the socket drains; record
  // buffers are freed whenever they are empty (idle connections).
  SSL_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE |
                      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                      SSL_MODE_RELEASE_BUFFERS);
  if (alpn_ != nullptr) {
    SSL_set_ex_data(s, AlpnExDataIndex(), const_cast<std::string*>(alpn_));
  }
  SSL_set_accept_state(s);
  for (;;) {
    ERR_clear_error();
    int rc = SSL_do_handshake(s);
    if (rc == 1) break;
    auto again = co_await SslRetry(rc, "TLS handshake failed");
    if (!again) {
      co_return Fail(ErrorCode::kPerm, again.error().message());
    }
  }
  co_return Status{};
}

void Connection::RequestStop() {
  stopping_ = true;
  if (pending_ > 0) {
    boost::system::error_code ec;
    socket_.cancel(ec);
  }
}

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  if (ssl_ && !timed_out_) {
    // One non-blocking try at close_notify; never waited for.
    ERR_clear_error();
    SSL_shutdown(ssl_.get());
    ERR_clear_error();
  }
  timer_.cancel();
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

}  // namespace correio::net
