// Shared by the whole-session targets (smtp_session, pop3_session,
// imap_session): the fuzzer's bytes are what a client sends, driven through
// the real session coroutine (src/<proto>/server) on a fresh memory store
// with one account, over a real net::Connection.
//
// Transport: no in-memory stream seam exists in net::Connection (it owns a
// tcp::socket and reads, waits and does TLS on its descriptor), so the
// server end is one half of an AF_UNIX socketpair assigned to a
// tcp::socket: reads, writes, readiness waits and SSL_set_fd all work on
// it; remote_ip() is "::" (getpeername gives no address) and TCP_NODELAY
// fails quietly. A socketpair, unlike loopback TCP, leaves no TIME_WAIT
// behind and delivers each write to the peer before send() returns.
//
// Chunking: the input is written in pieces of `chunk` bytes (0: all at
// once), and the next piece only once the server has taken the previous
// one off the socket (SIOCOUTQ on the client end is 0: nothing sent is
// left unread; the server's descriptor belongs to the Connection and may
// be closed by it at any time), so every read the session
// makes sees at most one piece: the splits really reach the session's
// line, literal and DATA code. At the end of the input the client end is
// shut down for writing, so the session sees EOF; the run is over when
// the session coroutine has returned (checked: it must, within
// kRunDeadline of wall time, which is the "always makes progress" check at
// session level). Then the connection is closed (cancels its watchdog
// timer) and the io_context must run dry.
//
// No real time: the login throttle runs on a ManualClock with more free
// failures than block_after, so it blocks (kTemp) but never delays;
// per-run state (store, throttle, authenticator) is fresh each time, so an
// input's outcome does not depend on the inputs before it. Timeouts stay
// at production values: input always ends in EOF long before them.
//
// Cost: the account's Argon2id hash is made once at the libsodium minimum
// cost (SetArgon2CostForTesting(1, 8192), as the session unit tests do), so
// a LOGIN costs one cheap verification and never a rehash. SCRAM keys are
// made once too.
//
// Replies go to a reader on the client end and are returned whole to the
// target, which checks their framing.
#pragma once

#include <linux/sockios.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <future>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/authenticator.h"
#include "auth/password.h"
#include "auth/throttle.h"
#include "base/clock.h"
#include "config/config.h"
#include "fuzz_util.h"
#include "mail/deliver.h"
#include "mail/env.h"
#include "net/blocking.h"
#include "net/connection.h"
#include "net/tls.h"
#include "store/change_hub.h"
#include "store/memory/memory_store.h"

// libFuzzer's -rss_limit_mb=512 counts ASan's quarantine of freed memory
// (256 MB by default). Every run frees a whole store and session, so the
// quarantine fills and a session target sat at about 470 MB after a few
// minutes. 64 MB still holds far more than one session frees, so a
// use-after-free within a run is still caught. ASAN_OPTIONS overrides it.
// Not inline: the sanitizer runtime finds it by its symbol, so it must be
// emitted; each binary has exactly one *_session_fuzz.cc including this.
extern "C" const char* __asan_default_options() {
  return "quarantine_size_mb=64";
}

namespace correio::fuzz {

// Larger inputs are cut here: each is run several times (chunked replays)
// and one byte per read at this size is still a few milliseconds.
inline constexpr size_t kMaxSessionInput = 8192;
// A session that has not returned this long after its input ended is hung.
inline constexpr std::chrono::seconds kRunDeadline{20};

// The test account the seeds log in as.
inline constexpr char kUser[] = "alice@example.org";
inline constexpr char kPassword[] = "secret";

// Messages in the account's INBOX at the start of every POP3/IMAP run
// (CRLF only, so POP3 output must be CRLF only).
inline const char* const kInboxMessages[] = {
    "From: Bob <bob@example.net>\r\n"
    "To: alice@example.org\r\n"
    "Subject: hello\r\n"
    "Date: Thu, 01 Jan 2026 10:00:00 +0000\r\n"
    "Message-ID: <1@example.net>\r\n"
    "\r\n"
    "Hi Alice,\r\n"
    ".a line with a leading dot\r\n"
    "\r\n"
    "Bob\r\n",
    "From: =?UTF-8?B?Q2Fyb2w=?= <carol@example.net>\r\n"
    "To: alice@example.org, dave@example.net\r\n"
    "Subject: =?ISO-8859-1?Q?r=E9union?=\r\n"
    "Date: Fri, 02 Jan 2026 11:30:00 +0100\r\n"
    "Message-ID: <2@example.net>\r\n"
    "In-Reply-To: <1@example.net>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Caf=C3=A9 at noon?\r\n"
    "--b1\r\n"
    "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
    "Content-Disposition: attachment; filename=\"a.bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAECAwQFBgcICQ==\r\n"
    "--b1--\r\n",
    "From: list@example.com\r\n"
    "To: alice@example.org\r\n"
    "Subject: digest\r\n"
    "Date: Sat, 03 Jan 2026 08:00:00 -0500\r\n"
    "\r\n"
    "..\r\n"
    ".\r\n"
    "end\r\n",
};

// Process-wide, made once: the blocking pool (one thread), the TLS context
// (self-signed, so STARTTLS/STLS is offered and its discard path runs) and
// the account's credentials.
struct SessionStatics {
  net::BlockingPool* pool = nullptr;
  std::shared_ptr<net::TlsContext> tls;
  std::string password_hash;
  store::ScramCredentials scram;
  std::vector<store::NewBlob> inbox;
};

inline const SessionStatics& Statics() {
  static const SessionStatics* statics = [] {
    // Quiet unless asked (CORREIO_FUZZ_LOG=info): sessions log every login.
    const char* level = std::getenv("CORREIO_FUZZ_LOG");
    spdlog::set_level(spdlog::level::from_str(level ? level : "off"));
    // Before the first hash (and the dummy hash), see auth/password.h.
    auth::SetArgon2CostForTesting(1, 8192);
    auto* s = new SessionStatics;
    s->pool = new net::BlockingPool(1, "fuzz-pool");
    auto hash = auth::HashPassword(kPassword);
    FUZZ_CHECK(hash.has_value());
    s->password_hash = *hash;
    auto scram = auth::DeriveScram(kPassword);
    FUZZ_CHECK(scram.has_value());
    s->scram = *scram;
    for (const char* m : kInboxMessages) {
      auto blob = mail::PrepareBlob(m);
      FUZZ_CHECK(blob.has_value());
      s->inbox.push_back(std::move(*blob));
    }
    std::error_code ec;
    auto dir = std::filesystem::temp_directory_path(ec) /
               ("correio-fuzz-tls-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir, ec);
    std::string cert = (dir / "cert.pem").string();
    std::string key = (dir / "key.pem").string();
    FUZZ_CHECK(net::GenerateSelfSigned(cert, key, "mail.example.org"));
    auto tls = net::TlsContext::Load(cert, key);
    FUZZ_CHECK(tls.has_value());
    s->tls = *tls;
    std::filesystem::remove_all(dir, ec);
    return s;
  }();
  return *statics;
}

// Everything one run needs, fresh each time.
struct SessionWorld {
  // with_messages: kInboxMessages in the INBOX. keep_apop_secret: the
  // authenticator of a server with pop3.apop on (auth/authenticator.h).
  explicit SessionWorld(bool with_messages, bool keep_apop_secret = false)
      : authenticator(*store, throttle, keep_apop_secret) {
    const SessionStatics& s = Statics();
    config.auth.allow_plaintext = true;  // LOGIN/USER/AUTH without TLS
    // Small limits, so inputs of a few KB reach the size paths.
    config.limits.max_message_size = 4096;
    config.limits.max_line_length = 1000;  // the smallest allowed
    config.limits.max_literal_before_auth = 1024;
    config.limits.max_recipients = 5;
    env.config = &config;
    env.hostname = "mail.example.org";
    env.store = store.get();
    env.hub = &hub;
    env.auth = &authenticator;
    env.throttle = &throttle;
    env.pool = s.pool;
    env.tls = s.tls;
    FUZZ_CHECK(store->AddDomain("example.org"));
    store::Account a;
    a.address = kUser;
    a.password_hash = s.password_hash;
    a.scram = s.scram;
    auto made = store->CreateAccount(a);
    FUZZ_CHECK(made.has_value());
    account = *made;
    FUZZ_CHECK(store->AddAlias({"postmaster@example.org", {kUser}}));
    if (with_messages) {
      int64_t date = 1767261600;  // 2026-01-01, fixed
      for (const auto& blob : s.inbox) {
        FUZZ_CHECK(mail::DeliverToInboxes(*store, blob, {account.id}, date++));
      }
    }
  }

  static auth::ThrottleOptions Throttle() {
    auth::ThrottleOptions o;
    o.block_after = 8;       // reachable: the 8th failure blocks
    o.free_failures = 1000;  // never a delay (that would be a real timer)
    return o;
  }

  config::Config config;
  store::LocalChangeHub hub;
  std::unique_ptr<store::Store> store = store::NewMemoryStore(&hub);
  ManualClock clock{1767261600};
  auth::LoginThrottle throttle{clock, Throttle()};
  auth::Authenticator authenticator;
  mail::Env env;
  store::Account account;
};

using SessionFn =
    std::function<net::awaitable<void>(std::shared_ptr<net::Connection>)>;

// Runs one session over `input` cut into `chunk`-byte pieces (0: whole)
// and returns every byte the server wrote.
inline std::string RunSession(std::string_view input, size_t chunk,
                              const SessionFn& session) {
  namespace asio = boost::asio;
  using Clock = std::chrono::steady_clock;
  int fds[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  const int client_fd = fds[1];

  std::string out;
  {
    asio::io_context ctx;
    asio::ip::tcp::socket server_sock(ctx);
    boost::system::error_code ec;
    server_sock.assign(asio::ip::tcp::v4(), fds[0], ec);
    FUZZ_CHECK(!ec);
    auto conn =
        std::make_shared<net::Connection>(std::move(server_sock), 1, "fuzz");

    // Reader: everything the server writes, until it closes.
    asio::local::stream_protocol::socket client(ctx);
    client.assign(asio::local::stream_protocol(), client_fd, ec);
    FUZZ_CHECK(!ec);
    bool eof = false;
    std::vector<char> buf(16384);
    std::function<void()> read_more = [&] {
      client.async_read_some(asio::buffer(buf),
                             [&](boost::system::error_code e, size_t n) {
                               out.append(buf.data(), n);
                               if (e) {
                                 eof = true;
                                 return;
                               }
                               read_more();
                             });
    };
    read_more();

    bool done = false;
    asio::co_spawn(ctx, session(conn), [&](std::exception_ptr e) {
      // Sessions report errors as values; an exception escaping one is a
      // bug (RunSession in net/server.cc would only log it).
      FUZZ_CHECK(!e);
      done = true;
    });

    size_t sent = 0;
    bool shut = false;
    const size_t piece = chunk == 0 ? input.size() : chunk;
    Clock::time_point deadline = Clock::now() + kRunDeadline;
    while (!done) {
      int unread = 0;
      if (!shut && ::ioctl(client_fd, SIOCOUTQ, &unread) == 0 && unread == 0) {
        if (sent < input.size()) {
          size_t n = std::min(piece, input.size() - sent);
          ssize_t w = ::send(client_fd, input.data() + sent, n,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
          if (w > 0) {
            sent += static_cast<size_t>(w);
          } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            sent = input.size();  // the server closed: nobody to send to
          }
        }
        if (sent == input.size()) {
          ::shutdown(client_fd, SHUT_WR);
          shut = true;
        }
      }
      ctx.run_one_for(std::chrono::milliseconds(10));
      if (Clock::now() > deadline) {
        std::fprintf(stderr, "session hung: chunk %zu, %zu of %zu sent\n",
                     chunk, sent, input.size());
        FUZZ_CHECK(!"session returned after end of input");
      }
    }
    // The session is over: closing cancels the watchdog; the reader sees
    // EOF; nothing else may be left to run.
    conn->Close();
    conn.reset();
    while (!ctx.stopped()) {
      ctx.run_for(std::chrono::milliseconds(100));
      if (Clock::now() > deadline) {
        FUZZ_CHECK(!"io_context ran dry after the session");
      }
    }
    FUZZ_CHECK(eof);
  }
  // CORREIO_FUZZ_TRANSCRIPT=1: print what the server said (writing seeds).
  static const bool print = std::getenv("CORREIO_FUZZ_TRANSCRIPT") != nullptr;
  if (print) {
    std::fprintf(stderr, "---- chunk %zu: %zu bytes in, %zu out\n%.*s", chunk,
                 input.size(), out.size(), static_cast<int>(out.size()),
                 out.data());
  }
  // A pool job's function object is destroyed on the pool thread after
  // its result was posted back; let that finish before the caller tears
  // down the store and the rest of the world it may refer to.
  std::promise<void> idle;
  boost::asio::post(Statics().pool->pool(), [&idle] { idle.set_value(); });
  idle.get_future().wait();
  return out;
}

// Each line of `out` ends in CRLF and has no other CR or LF (STYLE 10:
// only CRLF goes out). Returns the lines without CRLF.
inline std::vector<std::string_view> CrlfLines(std::string_view out) {
  std::vector<std::string_view> lines;
  while (!out.empty()) {
    size_t lf = out.find('\n');
    FUZZ_CHECK(lf != out.npos);                 // ends with a complete line
    FUZZ_CHECK(lf > 0 && out[lf - 1] == '\r');  // no bare LF
    std::string_view line = out.substr(0, lf - 1);
    FUZZ_CHECK(line.find('\r') == line.npos);  // no bare CR
    lines.push_back(line);
    out.remove_prefix(lf + 1);
  }
  return lines;
}

// `out` up to and including the first line that ends with one of
// `markers` (the reply after which the session speaks TLS or DEFLATE, so
// what follows is not text), or all of it.
inline std::string_view UpToSwitch(
    std::string_view out, std::initializer_list<std::string_view> markers) {
  size_t at = 0;
  while (at < out.size()) {
    size_t lf = out.find('\n', at);
    if (lf == out.npos) break;
    std::string_view line = out.substr(at, lf + 1 - at);
    for (std::string_view m : markers) {
      if (line.ends_with(m)) return out.substr(0, lf + 1);
    }
    at = lf + 1;
  }
  return out;
}

inline std::string_view Capped(const uint8_t* data, size_t size) {
  return AsView(data, std::min(size, kMaxSessionInput));
}

}  // namespace correio::fuzz
