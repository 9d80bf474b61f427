// Runs the real Server on loopback with an echo session and drives it with
// blocking client sockets: line limits, STARTTLS buffer discarding,
// deadlines, per-IP limits and ordered shutdown.
#include "net/server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/temp_dir.h"

namespace correio::net {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

class EchoServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    std::string cert = dir_.path() + "/cert.pem";
    std::string key = dir_.path() + "/key.pem";
    ASSERT_TRUE(GenerateSelfSigned(cert, key, "test.local"));
    auto tls = TlsContext::Load(cert, key);
    ASSERT_TRUE(tls) << tls.error().message();
    tls_ = *tls;
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(500));
    server_.reset();
  }

  // Echo protocol: "STARTTLS" upgrades, "SLOW" sets a 200 ms deadline
  // ("LONG" one of 60 s), "TICK" sets it too and writes "TICK" three
  // times, 50 ms apart, while the next read waits (as IMAP IDLE does);
  // anything else comes back as "ECHO <line>" or "TOOLONG <first 4 octets
  // of the line>".
  static awaitable<void> Ticker(std::shared_ptr<Connection> conn) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    for (int i = 0; i < 3; ++i) {
      t.expires_after(std::chrono::milliseconds(50));
      co_await t.async_wait(asio::use_awaitable);
      auto st = co_await conn->Write("TICK\r\n");
      if (!st) co_return;
    }
  }

  static awaitable<void> Echo(std::shared_ptr<Connection> conn,
                              std::shared_ptr<TlsContext> tls) {
    if (!co_await conn->Write("HELLO\r\n")) co_return;
    for (;;) {
      auto line = co_await conn->ReadLine(64);
      if (!line) {
        if (line.error().code() == ErrorCode::kTooBig) {
          std::string head = conn->too_long_head().substr(0, 4);
          auto st = co_await conn->Write("TOOLONG " + head + "\r\n");
          if (!st) co_return;
          continue;
        }
        if (conn->stopping()) co_await conn->Write("BYE\r\n");
        co_return;
      }
      std::string text(line->text);
      if (text == "STARTTLS") {
        if (!co_await conn->Write("GO\r\n")) co_return;
        if (!co_await conn->StartTls(tls->Current())) co_return;
        continue;
      }
      if (text == "TICK") {
        conn->SetTimeout(std::chrono::milliseconds(200));
        asio::co_spawn(co_await asio::this_coro::executor, Ticker(conn),
                       asio::detached);
        continue;
      }
      if (text == "HOLD") {
        // Keeps the worker thread for 200 ms, as a long computation would,
        // after saying so: input for every session piles up meanwhile.
        if (!co_await conn->Write("HELD\r\n")) co_return;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      if (text == "WHEN") {
        // How many echoes the server has written so far, in all sessions.
        if (!co_await conn->Write("WHEN " + std::to_string(echoes_.load()) +
                                  "\r\n")) {
          co_return;
        }
        continue;
      }
      if (text == "SLOW") {
        conn->SetTimeout(std::chrono::milliseconds(200));
        if (!co_await conn->Write("OK\r\n")) co_return;
        continue;
      }
      if (text == "LONG") {  // as IMAP after the TLS handshake's timeout
        conn->SetTimeout(std::chrono::seconds(60));
        if (!co_await conn->Write("OK\r\n")) co_return;
        continue;
      }
      std::string reply = "ECHO " + text + (line->bare_lf ? " LF" : "") +
                          (conn->tls_active() ? " TLS" : "") + "\r\n";
      if (!co_await conn->Write(reply)) co_return;
      ++echoes_;
    }
  }
  static inline std::atomic<int> echoes_ = 0;

  // Workers poll before they sleep, as with the default configuration
  // (idle_poll_us = 50), unless a test says otherwise.
  static ServerLimits Polling(
      std::chrono::microseconds poll = std::chrono::microseconds(50)) {
    ServerLimits limits;
    limits.idle_poll = poll;
    return limits;
  }
  // The longest poll the configuration allows (idle_poll_us = 1000).
  static constexpr std::chrono::microseconds kLongestPoll{1000};

  uint16_t Start(ServerLimits limits = Polling(), bool implicit = false,
                 size_t workers = 2) {
    echoes_ = 0;
    server_ = std::make_unique<Server>(workers, limits, tls_);
    ListenOptions lo;
    lo.name = "echo";
    lo.address = "127.0.0.1";
    lo.implicit_tls = implicit;
    lo.refusal = "FULL\r\n";
    auto tls = tls_;
    lo.handler = [tls](std::shared_ptr<Connection> c) {
      return Echo(std::move(c), tls);
    };
    auto port = server_->Listen(std::move(lo));
    EXPECT_TRUE(port);
    server_->Start();
    return *port;
  }

  TempDir dir_{"correio-net"};
  std::shared_ptr<TlsContext> tls_;
  std::unique_ptr<Server> server_;
};

struct Client {
  asio::io_context ctx;
  asio::ip::tcp::socket sock{ctx};
  asio::streambuf buf;
  explicit Client(uint16_t port) {
    sock.connect({asio::ip::make_address("127.0.0.1"), port});
  }
  std::string ReadLine() {
    boost::system::error_code ec;
    asio::read_until(sock, buf, "\r\n", ec);
    if (ec) return "<" + ec.message() + ">";
    std::istream is(&buf);
    std::string line;
    std::getline(is, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  void Send(std::string_view s) { asio::write(sock, asio::buffer(s)); }
};

TEST_F(EchoServerTest, LinesAcrossWritesAndBareLf) {
  Client c(Start());
  EXPECT_EQ(c.ReadLine(), "HELLO");
  c.Send("he");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  c.Send("llo\r\nbare\nx\r\n");
  EXPECT_EQ(c.ReadLine(), "ECHO hello");
  EXPECT_EQ(c.ReadLine(), "ECHO bare LF");
  EXPECT_EQ(c.ReadLine(), "ECHO x");
}

TEST_F(EchoServerTest, OverlongLineIsRefusedAndSessionGoesOn) {
  Client c(Start());
  EXPECT_EQ(c.ReadLine(), "HELLO");
  // Longer than the limit and longer than one read: sent in pieces.
  std::string big(10000, 'a');
  c.Send(big);
  c.Send(big + "\r\nafter\r\n");
  EXPECT_EQ(c.ReadLine(), "TOOLONG aaaa");
  EXPECT_EQ(c.ReadLine(), "ECHO after");
  // Exactly at the limit (62 + CRLF = 64) passes; one more does not.
  c.Send(std::string(62, 'b') + "\r\n" + std::string(63, 'c') + "\r\n");
  EXPECT_EQ(c.ReadLine(), "ECHO " + std::string(62, 'b'));
  EXPECT_EQ(c.ReadLine(), "TOOLONG cccc");
}

TEST_F(EchoServerTest, StartTlsDiscardsPipelinedPlaintext) {
  Client c(Start());
  EXPECT_EQ(c.ReadLine(), "HELLO");
  // The injected command rides in the same packet as STARTTLS.
  c.Send("STARTTLS\r\nINJECTED\r\n");
  EXPECT_EQ(c.ReadLine(), "GO");
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_none);
  ssl::stream<asio::ip::tcp::socket&> tls(c.sock, ctx);
  tls.handshake(ssl::stream_base::client);
  asio::write(tls, asio::buffer(std::string("inside\r\n")));
  asio::streambuf b;
  asio::read_until(tls, b, "\r\n");
  std::string line((std::istreambuf_iterator<char>(&b)), {});
  EXPECT_EQ(line, "ECHO inside TLS\r\n");  // not "ECHO INJECTED"
}

TEST_F(EchoServerTest, ImplicitTlsRejectsOldProtocols) {
  uint16_t port = Start({}, /*implicit=*/true);
  {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_verify_mode(ssl::verify_none);
    SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_1_VERSION);
    SSL_CTX_set_security_level(ctx.native_handle(), 0);
    ssl::stream<asio::ip::tcp::socket&> tls(s, ctx);
    boost::system::error_code ec;
    tls.handshake(ssl::stream_base::client, ec);
    EXPECT_TRUE(ec) << "TLS 1.1 handshake must fail";
  }
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_none);
  ssl::stream<asio::ip::tcp::socket&> tls(s, ctx);
  tls.handshake(ssl::stream_base::client);
  asio::streambuf b;
  asio::read_until(tls, b, "\r\n");
  std::string line((std::istreambuf_iterator<char>(&b)), {});
  EXPECT_EQ(line, "HELLO\r\n");
  std::string version = SSL_get_version(tls.native_handle());
  EXPECT_TRUE(version == "TLSv1.3" || version == "TLSv1.2") << version;
}

// Reads and writes that complete at once do not suspend the session (the
// read is tried before any wait, and TLS always works so); a client that
// always has more input must still let the other sessions of its worker
// run. Both clients' input is there when the worker comes back from HOLD.
TEST_F(EchoServerTest, ASessionThatAlwaysHasInputLetsOthersRun) {
  uint16_t port = Start(Polling(), /*implicit=*/false, /*workers=*/1);
  Client a(port), b(port);
  ASSERT_EQ(a.ReadLine(), "HELLO");
  ASSERT_EQ(b.ReadLine(), "HELLO");
  constexpr int kLines = 4000;
  std::string flood = "HOLD\r\n";
  for (int i = 0; i < kLines; ++i) flood += "a\r\n";
  a.Send(flood);
  ASSERT_EQ(a.ReadLine(), "HELD");
  b.Send("WHEN\r\n");
  std::string when = b.ReadLine();
  ASSERT_EQ(when.rfind("WHEN ", 0), 0u) << when;
  // A turn for b within a few dozen of a's echoes, not after all of them.
  EXPECT_LT(std::stoi(when.substr(5)), kLines / 10);
  for (int i = 0; i < kLines; ++i) ASSERT_EQ(a.ReadLine(), "ECHO a") << i;
}

TEST_F(EchoServerTest, DeadlineClosesSilentClient) {
  Client c(Start());
  EXPECT_EQ(c.ReadLine(), "HELLO");
  c.Send("SLOW\r\n");
  EXPECT_EQ(c.ReadLine(), "OK");
  // Say nothing: the server closes after its 200 ms deadline.
  EXPECT_EQ(c.ReadLine().substr(0, 1), "<");
}

TEST_F(EchoServerTest, AMuchLongerTimeoutDoesNotWakeTheIdleWorkerAtTheOldOne) {
  Client c(Start());
  EXPECT_EQ(c.ReadLine(), "HELLO");
  c.Send("SLOW\r\n");
  EXPECT_EQ(c.ReadLine(), "OK");  // the next read's timer: 200 ms
  c.Send("LONG\r\n");
  EXPECT_EQ(c.ReadLine(), "OK");
  // Idle past the old deadline: the timer was moved when the timeout grew,
  // so it does not fire (a wake-up per idle session otherwise).
  uint64_t before = Connection::WatchdogFirings();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(Connection::WatchdogFirings(), before);
  c.Send("still\r\n");
  EXPECT_EQ(c.ReadLine(), "ECHO still");
  // And a short timeout still takes effect at once.
  c.Send("SLOW\r\n");
  EXPECT_EQ(c.ReadLine(), "OK");
  EXPECT_EQ(c.ReadLine().substr(0, 1), "<");
  EXPECT_GT(Connection::WatchdogFirings(), before);
}

TEST_F(EchoServerTest, WritesDuringAPendingReadDoNotLiftItsDeadline) {
  Client c(Start());
  EXPECT_EQ(c.ReadLine(), "HELLO");
  c.Send("TICK\r\n");
  EXPECT_EQ(c.ReadLine(), "TICK");
  EXPECT_EQ(c.ReadLine(), "TICK");
  EXPECT_EQ(c.ReadLine(), "TICK");
  // The read still waits; its deadline passes and the server closes
  // (bounded on our side so that a server which never closes fails the
  // test instead of hanging it).
  pollfd pfd{.fd = c.sock.native_handle(), .events = POLLIN, .revents = 0};
  ASSERT_EQ(c.buf.size(), 0u);
  ASSERT_EQ(poll(&pfd, 1, 5000), 1) << "still open after 5 s";
  EXPECT_EQ(c.ReadLine().substr(0, 1), "<");
}

TEST_F(EchoServerTest, PerIpLimitRefusesExtraConnections) {
  ServerLimits limits = Polling();
  limits.max_connections_per_ip = 2;
  uint16_t port = Start(limits);
  Client a(port), b(port);
  EXPECT_EQ(a.ReadLine(), "HELLO");
  EXPECT_EQ(b.ReadLine(), "HELLO");
  Client c(port);
  EXPECT_EQ(c.ReadLine(), "FULL");
  EXPECT_EQ(c.ReadLine().substr(0, 1), "<");  // then closed
  // Freed slots are reusable.
  a.sock.close();
  for (int i = 0; i < 100 && server_->connection_count() > 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Client d(port);
  EXPECT_EQ(d.ReadLine(), "HELLO");
}

TEST_F(EchoServerTest, ShutdownTellsSessionsThenStops) {
  uint16_t port = Start();
  Client a(port);
  EXPECT_EQ(a.ReadLine(), "HELLO");
  server_->Shutdown(std::chrono::seconds(5));
  EXPECT_EQ(a.ReadLine(), "BYE");
  EXPECT_EQ(a.ReadLine().substr(0, 1), "<");
  server_->Wait();
  EXPECT_EQ(server_->connection_count(), 0u);
  // No longer accepting.
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  boost::system::error_code ec;
  s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  EXPECT_TRUE(ec);
}

// Sends `count` PINGs, each `gap` after the last echo, and checks the
// echoes.
void PingPong(Client& client, int count,
              std::chrono::milliseconds gap = std::chrono::milliseconds(0)) {
  for (int i = 0; i < count; ++i) {
    std::this_thread::sleep_for(gap);
    client.Send("PING " + std::to_string(i) + "\r\n");
    ASSERT_EQ(client.ReadLine(), "ECHO PING " + std::to_string(i));
  }
}

// CPU seconds used so far by this process's threads named `name`.
double ThreadCpuSeconds(const std::string& name) {
  double total = 0;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    if (stat.substr(open + 1, close - open - 1) != name) continue;
    std::istringstream fields(stat.substr(close + 2));
    // After the name come fields 3 to 13, then utime and stime (14, 15).
    std::string skipped;
    for (int i = 3; i <= 13; ++i) fields >> skipped;
    uint64_t utime = 0, stime = 0;
    fields >> utime >> stime;
    total += static_cast<double>(utime + stime) / ::sysconf(_SC_CLK_TCK);
  }
  return total;
}

// Polling before sleeping follows work only: once the traffic stops, the
// workers sleep, even with the longest poll the configuration allows. A
// worker that kept polling would use the whole window on its core.
TEST_F(EchoServerTest, WorkersStopPollingWhenTheTrafficStops) {
  Client a(Start(Polling(kLongestPoll)));
  EXPECT_EQ(a.ReadLine(), "HELLO");
  ASSERT_NO_FATAL_FAILURE(PingPong(a, 200));
  const double before = ThreadCpuSeconds("io");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double used = ThreadCpuSeconds("io") - before;
  // Two workers over 0.5 s: polling without end would be about 1 s. Idle
  // workers use nothing; the bound leaves room for a few clock ticks.
  EXPECT_LT(used, 0.1);
  // And they wake for the next command.
  a.Send("AGAIN\r\n");
  EXPECT_EQ(a.ReadLine(), "ECHO AGAIN");
}

// A client slower than the poll (here every 4 ms against a 1 ms poll)
// would have each idle period polled in vain; the worker backs off
// instead, polling at most once in 64 idle periods after a few misses.
TEST_F(EchoServerTest, WorkersBackOffWhenPollsFindNothing) {
  // The io threads' CPU for the same exchange, first without polling and
  // then with the longest poll. Serving the pings costs what it costs on
  // this machine under its present load (a busy machine once took a
  // fixed 0.1 s bound); polling may add to it only the few polls that
  // follow a miss.
  auto io_seconds = [&](std::chrono::microseconds poll) {
    Client a(Start(Polling(poll)));
    EXPECT_EQ(a.ReadLine(), "HELLO");
    const double before = ThreadCpuSeconds("io");
    PingPong(a, 300, std::chrono::milliseconds(4));
    const double used = ThreadCpuSeconds("io") - before;
    server_->Shutdown(std::chrono::milliseconds(500));
    return used;
  };
  const double plain = io_seconds(std::chrono::microseconds(0));
  if (HasFatalFailure()) return;
  const double polling = io_seconds(kLongestPoll);
  if (HasFatalFailure()) return;
  // Polling after every reply would add 300 x 1 ms = 0.3 s.
  EXPECT_LT(polling - plain, 0.1)
      << "without polling: " << plain << " s, with: " << polling << " s";
}

}  // namespace
}  // namespace correio::net
