#include "smtp/client/client.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>

#include "smtp/client/fake_smtp_server.h"

namespace correio::smtp::client {
namespace {

namespace asio = boost::asio;
using testing::FakeSmtpServer;

// Runs `body` as a coroutine on a fresh io_context until it finishes.
void RunCoro(std::function<awaitable<void>(asio::any_io_executor)> body) {
  asio::io_context io;
  bool done = false;
  asio::co_spawn(io, body(io.get_executor()), [&](std::exception_ptr e) {
    done = true;
    if (e) std::rethrow_exception(e);
  });
  io.run();
  ASSERT_TRUE(done);
}

ClientTimeouts ShortTimeouts() {
  ClientTimeouts t;
  t.connect = t.greeting = t.command = t.data_init = t.data_block =
      t.data_term = std::chrono::seconds(5);
  return t;
}

tcp::endpoint Loopback(uint16_t port) {
  return {asio::ip::make_address("127.0.0.1"), port};
}

TEST(ClientTest, DeliversPipelinedWithParameters) {
  FakeSmtpServer server;
  server.rcpt_replies["bad@example.net"] = "550 5.1.1 no such user";
  server.Start();
  std::string data = "Subject: hi\r\n\r\n.leading dot\r\nbody\r\n";
  RunCoro([&](asio::any_io_executor ex) -> awaitable<void> {
    Client c(ex, ShortTimeouts());
    auto greet = co_await c.Connect(Loopback(server.port()));
    EXPECT_TRUE(greet && greet->code == 220);
    auto caps = co_await c.Hello("me.test");
    EXPECT_TRUE(caps);
    if (!caps) co_return;
    EXPECT_TRUE(caps->pipelining);
    EXPECT_TRUE(caps->dsn);
    EXPECT_EQ(caps->size_limit, 10000000u);
    MailRequest req;
    req.mail_from = "a@example.org";
    req.recipients = {{"b@example.net", "FAILURE", "rfc822;b+x@example.net"},
                      {"bad@example.net", "", ""}};
    req.data = data;
    req.eight_bit = true;
    req.ret = "HDRS";
    req.envid = "id 1";
    auto res = co_await c.Send(req, *caps);
    EXPECT_TRUE(res);
    if (!res) co_return;
    EXPECT_TRUE(res->data_sent);
    EXPECT_EQ(res->recipients.size(), 2u);
    if (res->recipients.size() != 2) co_return;
    EXPECT_EQ(res->recipients[0].code, 250);
    EXPECT_EQ(res->recipients[1].code, 550);
    // Reuse: a second transaction on the same connection.
    req.recipients = {{"c@example.net", "", ""}};
    auto res2 = co_await c.Send(req, *caps);
    EXPECT_TRUE(res2 && res2->recipients[0].code == 250);
    co_await c.Quit();
  });
  server.Stop();
  auto msgs = server.messages();
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].data, data);
  EXPECT_EQ(msgs[0].mail_line,
            "MAIL FROM:<a@example.org> SIZE=35 BODY=8BITMIME RET=HDRS "
            "ENVID=id+201");
  ASSERT_EQ(msgs[0].rcpt_lines.size(), 1u);
  EXPECT_EQ(msgs[0].rcpt_lines[0],
            "RCPT TO:<b@example.net> NOTIFY=FAILURE "
            "ORCPT=rfc822;b+2Bx@example.net");
  EXPECT_EQ(server.connections(), 1);
}

TEST(ClientTest, HeloFallbackAndNoParametersWithoutExtensions) {
  FakeSmtpServer server;
  server.refuse_ehlo = true;
  server.Start();
  RunCoro([&](asio::any_io_executor ex) -> awaitable<void> {
    Client c(ex, ShortTimeouts());
    auto greet = co_await c.Connect(Loopback(server.port()));
    EXPECT_TRUE(greet);
    auto caps = co_await c.Hello("me.test");
    EXPECT_TRUE(caps);
    if (!caps) co_return;
    EXPECT_FALSE(caps->esmtp);
    MailRequest req;
    req.mail_from = "";
    req.recipients = {{"b@example.net", "NEVER", ""}};
    req.data = "X: y\r\n\r\nno final newline";
    req.eight_bit = true;
    req.envid = "e";
    auto res = co_await c.Send(req, *caps);
    EXPECT_TRUE(res && res->recipients[0].code == 250);
    co_await c.Quit();
  });
  server.Stop();
  auto msgs = server.messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].mail_line, "MAIL FROM:<>");
  EXPECT_EQ(msgs[0].rcpt_lines[0], "RCPT TO:<b@example.net>");
  EXPECT_EQ(msgs[0].data, "X: y\r\n\r\nno final newline\r\n");
}

TEST(ClientTest, DataRejectionAppliesToAcceptedRecipients) {
  FakeSmtpServer server;
  server.data_replies = {"452 4.3.1 try later"};
  server.Start();
  RunCoro([&](asio::any_io_executor ex) -> awaitable<void> {
    Client c(ex, ShortTimeouts());
    (void)co_await c.Connect(Loopback(server.port()));
    auto caps = co_await c.Hello("me.test");
    MailRequest req;
    req.mail_from = "a@example.org";
    req.recipients = {{"b@example.net", "", ""}, {"c@example.net", "", ""}};
    req.data = "X: y\r\n\r\nz\r\n";
    auto res = co_await c.Send(req, *caps);
    EXPECT_TRUE(res);
    if (!res) co_return;
    EXPECT_EQ(res->recipients[0].code, 452);
    EXPECT_EQ(res->recipients[1].code, 452);
    EXPECT_EQ(res->recipients[1].enhanced, "4.3.1");
  });
}

TEST(ClientTest, DropMidDataIsTemporaryError) {
  FakeSmtpServer server;
  server.drop_in_data = true;
  server.Start();
  RunCoro([&](asio::any_io_executor ex) -> awaitable<void> {
    Client c(ex, ShortTimeouts());
    (void)co_await c.Connect(Loopback(server.port()));
    auto caps = co_await c.Hello("me.test");
    MailRequest req;
    req.mail_from = "a@example.org";
    req.recipients = {{"b@example.net", "", ""}};
    req.data = "X: y\r\n\r\nz\r\n";
    auto res = co_await c.Send(req, *caps);
    EXPECT_FALSE(res);
    if (!res) {
      EXPECT_EQ(res.error().code(), ErrorCode::kTemp);
    }
  });
}

TEST(ClientTest, EndlessReplyIsBoundedTemporaryError) {
  FakeSmtpServer server;
  server.endless_reply = true;
  server.Start();
  RunCoro([&](asio::any_io_executor ex) -> awaitable<void> {
    Client c(ex, ShortTimeouts());
    (void)co_await c.Connect(Loopback(server.port()));
    auto caps = co_await c.Hello("me.test");
    EXPECT_FALSE(caps);
    if (!caps) {
      EXPECT_EQ(caps.error().code(), ErrorCode::kTemp);
      EXPECT_NE(caps.error().message().find("too many"), std::string::npos)
          << caps.error().message();
    }
  });
}

TEST(ClientTest, ConnectRefusedIsTemporary) {
  uint16_t port;
  {
    FakeSmtpServer gone;
    port = gone.port();
  }
  RunCoro([&](asio::any_io_executor ex) -> awaitable<void> {
    Client c(ex, ShortTimeouts());
    auto r = co_await c.Connect(Loopback(port));
    EXPECT_FALSE(r);
    if (!r) {
      EXPECT_EQ(r.error().code(), ErrorCode::kTemp);
    }
  });
}

TEST(ClientTest, DotStuffing) {
  EXPECT_EQ(Client::DotStuff(".a\r\nb\r\n..c\r\n"),
            "..a\r\nb\r\n...c\r\n.\r\n");
  EXPECT_EQ(Client::DotStuff("a"), "a\r\n.\r\n");
  EXPECT_EQ(Client::DotStuff(""), ".\r\n");
}

TEST(ClientTest, CapabilitiesParse) {
  Reply r;
  r.code = 250;
  r.lines = {"mx hi",    "pipelining", "SIZE",      "AUTH plain LOGIN",
             "SMTPUTF8", "STARTTLS",   "REQUIRETLS"};
  auto c = ParseCapabilities(r);
  EXPECT_TRUE(c.pipelining);
  EXPECT_TRUE(c.size_advertised);
  EXPECT_EQ(c.size_limit, 0u);
  EXPECT_EQ(c.auth, (std::vector<std::string>{"PLAIN", "LOGIN"}));
  EXPECT_TRUE(c.smtputf8 && c.starttls && c.requiretls);
  EXPECT_FALSE(c.dsn);
}

}  // namespace
}  // namespace correio::smtp::client
