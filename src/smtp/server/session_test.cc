// The SMTP session over real loopback sockets (net::Server on port 0) with
// the memory store and a recording queue: transcripts checked reply by
// reply, outcomes checked in the store.
#include "smtp/server/session.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <mutex>

#include "auth/authenticator.h"
#include "auth/password.h"
#include "auth/throttle.h"
#include "base/clock.h"
#include "base/strings.h"
#include "net/server.h"
#include "store/memory/memory_store.h"

namespace correio::smtp {
namespace {

namespace asio = boost::asio;

class RecordingQueue : public queue::Queue {
 public:
  Result<uint64_t> Enqueue(const queue::Envelope& envelope,
                           std::string_view data) override {
    std::lock_guard lock(mu_);
    envelopes_.push_back(envelope);
    data_.emplace_back(data);
    return envelopes_.size();
  }
  Status ReportDelivered(const queue::Envelope& envelope,
                         std::string_view message,
                         std::string_view action) override {
    std::lock_guard lock(mu_);
    reports_.push_back(envelope);
    report_actions_.emplace_back(action);
    report_data_.emplace_back(message);
    return {};
  }
  std::vector<queue::Envelope> reports() {
    std::lock_guard lock(mu_);
    return reports_;
  }
  std::vector<std::string> report_data() {
    std::lock_guard lock(mu_);
    return report_data_;
  }
  std::vector<std::string> report_actions() {
    std::lock_guard lock(mu_);
    return report_actions_;
  }
  std::vector<queue::Envelope> envelopes() {
    std::lock_guard lock(mu_);
    return envelopes_;
  }
  std::vector<std::string> data() {
    std::lock_guard lock(mu_);
    return data_;
  }

 private:
  std::mutex mu_;
  std::vector<queue::Envelope> envelopes_;
  std::vector<std::string> data_;
  std::vector<queue::Envelope> reports_;
  std::vector<std::string> report_data_;
  std::vector<std::string> report_actions_;
};

struct Client {
  asio::io_context ctx;
  asio::ip::tcp::socket sock{ctx};
  asio::streambuf buf;
  explicit Client(uint16_t port) {
    sock.connect({asio::ip::make_address("127.0.0.1"), port});
  }
  std::string Line() {
    boost::system::error_code ec;
    asio::read_until(sock, buf, "\r\n", ec);
    if (ec) return "<closed>";
    std::istream is(&buf);
    std::string line;
    std::getline(is, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  // A whole (possibly multi-line) reply, lines joined with '|'.
  std::string Reply() {
    std::string out;
    for (;;) {
      std::string l = Line();
      if (!out.empty()) out += "|";
      out += l;
      if (l.size() < 4 || l[3] != '-') return out;
    }
  }
  void Send(std::string_view s) { asio::write(sock, asio::buffer(s)); }
  std::string Cmd(std::string_view s) {
    Send(std::string(s) + "\r\n");
    return Reply();
  }
};

class SmtpSessionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { auth::SetArgon2CostForTesting(1, 8192); }

  void SetUp() override {
    ASSERT_TRUE(store_->AddDomain("example.org"));
    alice_ = AddUser("alice@example.org", "secret", 0);
    AddUser("bob@example.org", "pw", 0);
    AddUser("full@example.org", "pw", 10);
    ASSERT_TRUE(store_->AddAlias({"fwd@example.org", {"far@remote.example"}}));
    ASSERT_TRUE(store_->AddAlias(
        {"team@example.org", {"alice@example.org", "bob@example.org"}}));
    ASSERT_TRUE(store_->AddAlias({"al@example.org", {"alice@example.org"}}));
    ASSERT_TRUE(store_->AddAlias(
        {"mixed@example.org", {"bob@example.org", "far2@remote.example"}}));
    config_.limits.max_message_size = 4096;
    config_.limits.max_recipients = 5;
    config_.limits.max_bad_commands = 5;
    config_.limits.max_received_headers = 3;
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(500));
    server_.reset();
  }

  store::Account AddUser(const std::string& address, const std::string& pw,
                         uint64_t quota) {
    store::Account a;
    a.address = address;
    a.password_hash = *auth::HashPassword(pw);
    a.scram = *auth::DeriveScram(pw);
    a.quota_bytes = quota;
    auto created = store_->CreateAccount(a);
    EXPECT_TRUE(created);
    return *created;
  }

  uint16_t Start(bool submission, bool with_queue = true) {
    server_ = std::make_unique<net::Server>(1, net::ServerLimits{}, nullptr);
    mail::Env env;
    env.config = &config_;
    env.hostname = "mx.example.org";
    env.store = store_.get();
    env.hub = &hub_;
    env.auth = &auth_;
    env.throttle = &throttle_;
    env.pool = &pool_;
    SessionOptions so;
    so.hostname = "mx.example.org";
    so.submission = submission;
    so.offer_starttls = false;
    so.max_line_length = 1000;
    so.max_bad_commands = config_.limits.max_bad_commands;
    so.queue = with_queue ? &queue_ : nullptr;
    so.recipients = &recipients_;  // as app/serve.cc does
    net::ListenOptions lo;
    lo.name = submission ? "submission" : "smtp";
    lo.address = "127.0.0.1";
    lo.handler = [env, so](std::shared_ptr<net::Connection> c) {
      return RunSession(std::move(c), env, so);
    };
    auto port = server_->Listen(std::move(lo));
    EXPECT_TRUE(port);
    server_->Start();
    return *port;
  }

  // Messages in the INBOX of `address`.
  uint32_t InboxCount(const std::string& address) {
    auto a = store_->GetAccount(address);
    if (!a) return 0;
    auto box = store_->GetMailbox(a->id, "INBOX");
    auto st = store_->GetMailboxStatus(box->id);
    return st->messages;
  }
  std::string LastInboxMessage(const std::string& address) {
    auto a = store_->GetAccount(address);
    auto box = store_->GetMailbox(a->id, "INBOX");
    auto view = store_->ListView(box->id);
    if (!view || view->entries.empty()) return "";
    store::Uid uid = view->entries.back().uid();
    auto rows = store_->GetMessages(box->id, {{uid, uid}});
    auto blob = store_->ReadBlob(rows->front().blob, 0, 1 << 20);
    return *blob;
  }

  std::string Greet(Client& c) {
    std::string g = c.Reply();
    EXPECT_EQ(g.substr(0, 4), "220 ");
    return c.Cmd("EHLO client.example");
  }

  store::LocalChangeHub hub_;
  std::unique_ptr<store::Store> store_ = store::NewMemoryStore(&hub_);
  auth::LoginThrottle throttle_{SystemClock()};
  auth::Authenticator auth_{*store_, throttle_};
  net::BlockingPool pool_{2};
  config::Config config_;
  RecordingQueue queue_;
  mail::RecipientCache recipients_{SystemClock(), std::chrono::seconds(60)};
  std::unique_ptr<net::Server> server_;
  store::Account alice_;
};

TEST_F(SmtpSessionTest, EhloAdvertisesExtensionsOnMx) {
  Client c(Start(false));
  std::string ehlo = Greet(c);
  for (const char* ext :
       {"250-mx.example.org", "PIPELINING", "SIZE 4096", "8BITMIME", "SMTPUTF8",
        "ENHANCEDSTATUSCODES", "CHUNKING", "DSN"}) {
    EXPECT_NE(ehlo.find(ext), std::string::npos) << ext << " in " << ehlo;
  }
  EXPECT_EQ(ehlo.find("AUTH"), std::string::npos);
  EXPECT_EQ(ehlo.find("STARTTLS"), std::string::npos);
  EXPECT_EQ(ehlo.find("REQUIRETLS"), std::string::npos);  // no TLS here
  EXPECT_EQ(c.Cmd("HELO x"), "250 mx.example.org");
  EXPECT_EQ(c.Cmd("VRFY alice"),
            "252 2.5.0 Cannot VRFY user, but will "
            "accept message and attempt delivery");
  EXPECT_EQ(c.Cmd("EXPN list"), "502 5.5.1 EXPN not available");
  EXPECT_EQ(c.Cmd("HELP").substr(0, 10), "214 2.0.0 ");
  EXPECT_EQ(c.Cmd("NOOP"), "250 2.0.0 Ok");
  EXPECT_EQ(c.Cmd("QUIT"), "221 2.0.0 mx.example.org Bye");
  EXPECT_EQ(c.Line(), "<closed>");
}

TEST_F(SmtpSessionTest, MxDeliversToInboxWithTraceHeaders) {
  Client c(Start(false));
  Greet(c);
  EXPECT_EQ(c.Cmd("MAIL FROM:<sender@remote.example>"), "250 2.1.0 Ok");
  EXPECT_EQ(c.Cmd("RCPT TO:<Alice@Example.org>"), "250 2.1.5 Ok");
  EXPECT_EQ(c.Cmd("DATA"), "354 End data with <CR><LF>.<CR><LF>");
  std::string reply = c.Cmd("Subject: t\r\n\r\nhello\r\n..dot\r\n.");
  EXPECT_EQ(reply.substr(0, 24), "250 2.0.0 Ok: queued as ") << reply;
  ASSERT_EQ(InboxCount("alice@example.org"), 1u);
  std::string msg = LastInboxMessage("alice@example.org");
  EXPECT_TRUE(
      msg.starts_with("Return-Path: <sender@remote.example>\r\n"
                      "Received: from client.example ([127.0.0.1])\r\n"
                      "\tby mx.example.org with ESMTP id "))
      << msg;
  EXPECT_NE(msg.find("\tfor <Alice@Example.org>;"), std::string::npos);
  EXPECT_TRUE(msg.ends_with("\r\nSubject: t\r\n\r\nhello\r\n.dot\r\n")) << msg;
  // MX mail gets no Message-ID or Date added.
  EXPECT_EQ(msg.find("Message-ID:"), std::string::npos);
  EXPECT_TRUE(queue_.envelopes().empty());
}

TEST_F(SmtpSessionTest, NullSenderAndPostmaster) {
  ASSERT_TRUE(
      store_->AddAlias({"postmaster@example.org", {"bob@example.org"}}));
  Client c(Start(false));
  Greet(c);
  EXPECT_EQ(c.Cmd("MAIL FROM:<>"), "250 2.1.0 Ok");
  EXPECT_EQ(c.Cmd("RCPT TO:<Postmaster>"), "250 2.1.5 Ok");
  c.Cmd("DATA");
  EXPECT_EQ(c.Cmd("x\r\n.").substr(0, 3), "250");
  EXPECT_EQ(InboxCount("bob@example.org"), 1u);
  EXPECT_TRUE(
      LastInboxMessage("bob@example.org").starts_with("Return-Path: <>\r\n"));
}

TEST_F(SmtpSessionTest, UnknownUserIsRefusedAtRcpt) {
  Client c(Start(false));
  Greet(c);
  c.Cmd("MAIL FROM:<s@remote.example>");
  EXPECT_EQ(c.Cmd("RCPT TO:<nobody@example.org>"),
            "550 5.1.1 Recipient address rejected: user unknown");
  EXPECT_EQ(c.Cmd("DATA"), "554 5.5.1 No valid recipients");
}

TEST_F(SmtpSessionTest, RelayIsRefusedInEveryDisguise) {
  uint16_t port = Start(false);
  for (std::string rcpt :
       {"<someone@remote.example>", "<someone%remote.example@example.org>",
        "<@example.org:someone@remote.example>",
        "<@remote.example:alice@example.org>",
        "<\"someone@remote.example\"@example.org>",
        "<remote.example!someone@example.org>", "<alice@example.org.>",
        "<alice@[127.0.0.1]>"}) {
    Client c(port);
    Greet(c);
    c.Cmd("MAIL FROM:<s@remote.example>");
    EXPECT_EQ(c.Cmd("RCPT TO:" + rcpt), "554 5.7.1 Relay access denied")
        << rcpt;
  }
  EXPECT_TRUE(queue_.envelopes().empty());
}

TEST_F(SmtpSessionTest, BareLfSmugglingStoresNothing) {
  Client c(Start(false));
  Greet(c);
  c.Cmd("MAIL FROM:<s@remote.example>");
  c.Cmd("RCPT TO:<alice@example.org>");
  c.Cmd("DATA");
  // A second message hidden behind <LF>.<LF>: everything up to the real
  // CRLF.CRLF is one message, and it is refused.
  EXPECT_EQ(
      c.Cmd("Subject: one\r\n\r\nx\n.\nMAIL FROM:<evil@remote.example>\r\n"
            "RCPT TO:<bob@example.org>\r\nDATA\r\nSubject: two\r\n\r\n"
            "y\r\n."),
      "554 5.6.11 Bare CR or LF not allowed; use CRLF line ends");
  EXPECT_EQ(c.Cmd("NOOP"), "250 2.0.0 Ok");
  EXPECT_EQ(InboxCount("alice@example.org"), 0u);
  EXPECT_EQ(InboxCount("bob@example.org"), 0u);
  // The transaction is over: RCPT needs a new MAIL.
  EXPECT_EQ(c.Cmd("RCPT TO:<alice@example.org>"),
            "503 5.5.1 Need MAIL command first");
}

TEST_F(SmtpSessionTest, BareCrIsRefusedToo) {
  Client c(Start(false));
  Greet(c);
  c.Cmd("MAIL FROM:<s@remote.example>");
  c.Cmd("RCPT TO:<alice@example.org>");
  c.Cmd("DATA");
  EXPECT_EQ(c.Cmd("a\r.\rMAIL FROM:<e@remote.example>\r\n.").substr(0, 10),
            "554 5.6.11");
  EXPECT_EQ(InboxCount("alice@example.org"), 0u);
}

TEST_F(SmtpSessionTest, PipelinedTransaction) {
  Client c(Start(false));
  Greet(c);
  c.Send(
      "MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@example.org>\r\n"
      "RCPT TO:<nobody@example.org>\r\nRCPT TO:<bob@example.org>\r\n"
      "DATA\r\n");
  EXPECT_EQ(c.Reply(), "250 2.1.0 Ok");
  EXPECT_EQ(c.Reply(), "250 2.1.5 Ok");
  EXPECT_EQ(c.Reply().substr(0, 9), "550 5.1.1");
  EXPECT_EQ(c.Reply(), "250 2.1.5 Ok");
  EXPECT_EQ(c.Reply().substr(0, 3), "354");
  c.Send(
      "Subject: p\r\n\r\nbody\r\n.\r\nMAIL FROM:<t@remote.example>\r\n"
      "RCPT TO:<bob@example.org>\r\nDATA\r\n");
  EXPECT_EQ(c.Reply().substr(0, 9), "250 2.0.0");
  EXPECT_EQ(c.Reply(), "250 2.1.0 Ok");
  EXPECT_EQ(c.Reply(), "250 2.1.5 Ok");
  EXPECT_EQ(c.Reply().substr(0, 3), "354");
  EXPECT_EQ(c.Cmd("second\r\n.").substr(0, 9), "250 2.0.0");
  EXPECT_EQ(InboxCount("alice@example.org"), 1u);
  EXPECT_EQ(InboxCount("bob@example.org"), 2u);
}

TEST_F(SmtpSessionTest, OneCopyPerAccountThroughAliases) {
  Client c(Start(false));
  Greet(c);
  c.Cmd("MAIL FROM:<s@remote.example>");
  EXPECT_EQ(c.Cmd("RCPT TO:<team@example.org>"), "250 2.1.5 Ok");
  EXPECT_EQ(c.Cmd("RCPT TO:<alice@example.org>"), "250 2.1.5 Ok");
  c.Cmd("DATA");
  EXPECT_EQ(c.Cmd("x\r\n.").substr(0, 3), "250");
  EXPECT_EQ(InboxCount("alice@example.org"), 1u);
  EXPECT_EQ(InboxCount("bob@example.org"), 1u);
  // No "for" clause with several recipients (Bcc privacy).
  EXPECT_EQ(LastInboxMessage("bob@example.org").find("\tfor <"),
            std::string::npos);
}

TEST_F(SmtpSessionTest, Bdat) {
  Client c(Start(false));
  Greet(c);
  c.Cmd("MAIL FROM:<s@remote.example>");
  c.Cmd("RCPT TO:<alice@example.org>");
  // The chunk holds what looks like commands and a dot line: it is data.
  std::string chunk1 = "Subject: b\r\n\r\n.\r\nQUIT\r";
  c.Send("BDAT " + std::to_string(chunk1.size()) + "\r\n" + chunk1);
  EXPECT_EQ(c.Reply(),
            "250 2.0.0 " + std::to_string(chunk1.size()) + " octets received");
  EXPECT_EQ(c.Cmd("MAIL FROM:<x@remote.example>").substr(0, 9), "503 5.5.1");
  EXPECT_EQ(c.Cmd("DATA").substr(0, 9), "503 5.5.1");
  c.Send("BDAT 6 LAST\r\n\nend\r\n");
  EXPECT_EQ(c.Reply().substr(0, 9), "250 2.0.0");
  ASSERT_EQ(InboxCount("alice@example.org"), 1u);
  EXPECT_TRUE(LastInboxMessage("alice@example.org")
                  .ends_with("\r\nSubject: b\r\n\r\n.\r\nQUIT\r\nend\r\n"));
  // A chunk without a transaction is read whole and refused.
  c.Send("BDAT 6 LAST\r\nNOOP\r\n");
  EXPECT_EQ(c.Reply(), "503 5.5.1 Need MAIL command first");
  EXPECT_EQ(c.Cmd("NOOP"), "250 2.0.0 Ok");
  // Bare LF inside BDAT content is refused as in DATA.
  c.Cmd("MAIL FROM:<s@remote.example>");
  c.Cmd("RCPT TO:<alice@example.org>");
  c.Send("BDAT 4 LAST\r\na\nb\n");
  EXPECT_EQ(c.Reply().substr(0, 10), "554 5.6.11");
  EXPECT_EQ(InboxCount("alice@example.org"), 1u);
  // A BDAT size we cannot parse ends the session (no resync possible).
  EXPECT_EQ(c.Cmd("BDAT x").substr(0, 9), "501 5.5.4");
  EXPECT_EQ(c.Reply().substr(0, 3), "421");
  EXPECT_EQ(c.Line(), "<closed>");
}

TEST_F(SmtpSessionTest, SizeLimits) {
  Client c(Start(false));
  Greet(c);
  EXPECT_EQ(c.Cmd("MAIL FROM:<s@remote.example> SIZE=5000"),
            "552 5.3.4 Message size exceeds fixed maximum message size");
  EXPECT_EQ(c.Cmd("MAIL FROM:<s@remote.example> SIZE=100"), "250 2.1.0 Ok");
  c.Cmd("RCPT TO:<alice@example.org>");
  c.Cmd("DATA");
  std::string big;
  for (int i = 0; i < 100; ++i) big += std::string(60, 'x') + "\r\n";
  EXPECT_EQ(c.Cmd(big + "."), "552 5.3.4 Message too big");
  EXPECT_EQ(c.Cmd("NOOP"), "250 2.0.0 Ok");
  EXPECT_EQ(InboxCount("alice@example.org"), 0u);
  c.Cmd("MAIL FROM:<s@remote.example>");
  c.Cmd("RCPT TO:<alice@example.org>");
  c.Send("BDAT 5000 LAST\r\n" + std::string(5000, 'y'));
  EXPECT_EQ(c.Reply(), "552 5.3.4 Message too big");
  EXPECT_EQ(c.Cmd("NOOP"), "250 2.0.0 Ok");
}

TEST_F(SmtpSessionTest, QuotaAtRcptAndAtDelivery) {
  Client c(Start(false));
  Greet(c);
  c.Cmd("MAIL FROM:<s@remote.example> SIZE=100");
  EXPECT_EQ(c.Cmd("RCPT TO:<full@example.org>"), "452 4.2.2 Mailbox full");
  c.Cmd("RSET");
  c.Cmd("MAIL FROM:<s@remote.example>");
  EXPECT_EQ(c.Cmd("RCPT TO:<full@example.org>"), "250 2.1.5 Ok");
  c.Cmd("DATA");
  EXPECT_EQ(c.Cmd("Subject: too big for 10 octets\r\n."),
            "452 4.2.2 Mailbox full");
  EXPECT_EQ(InboxCount("full@example.org"), 0u);
}

// RCPT answers from the recipient cache, and a directory change (here
// through the store, as the admin CLI's would be through its file) is seen
// by the very next RCPT, refusals included.
TEST_F(SmtpSessionTest, RcptSeesEveryDirectoryChangeAtOnce) {
  Client c(Start(false));
  Greet(c);
  c.Cmd("MAIL FROM:<s@remote.example>");
  const std::string unknown =
      "550 5.1.1 Recipient address rejected: user unknown";
  EXPECT_EQ(c.Cmd("RCPT TO:<carol@example.org>"), unknown);
  EXPECT_EQ(c.Cmd("RCPT TO:<carol@example.org>"), unknown);
  store::Account carol = AddUser("carol@example.org", "pw", 0);
  EXPECT_EQ(c.Cmd("RCPT TO:<carol@example.org>"), "250 2.1.5 Ok");
  // (A transaction naming an account removed before its DATA fails with
  // 451 as a whole: start a new one.)
  EXPECT_EQ(c.Cmd("RSET"), "250 2.0.0 Ok");
  c.Cmd("MAIL FROM:<s@remote.example>");
  ASSERT_TRUE(store_->RemoveAccount(carol.id));
  EXPECT_EQ(c.Cmd("RCPT TO:<Carol@example.org>"), unknown);
  ASSERT_TRUE(store_->AddAlias({"carol@example.org", {"bob@example.org"}}));
  EXPECT_EQ(c.Cmd("RCPT TO:<carol@example.org>"), "250 2.1.5 Ok");
  EXPECT_EQ(c.Cmd("RCPT TO:<x@other.example>"),
            "554 5.7.1 Relay access denied");
  ASSERT_TRUE(store_->AddDomain("other.example"));
  EXPECT_EQ(c.Cmd("RCPT TO:<x@other.example>"), unknown);
  c.Cmd("DATA");
  EXPECT_EQ(c.Cmd("Subject: c\r\n\r\nhi\r\n.").substr(0, 3), "250");
  EXPECT_EQ(InboxCount("bob@example.org"), 1u);
}

// What the cache holds is what RCPT uses: a made-up entry at the store's
// current version is delivered by (the store itself has no "ghost"), and
// the next directory change drops it.
TEST_F(SmtpSessionTest, RcptAnswersAKnownRecipientWithoutTheStore) {
  mail::Resolution to_alice;
  to_alice.local.push_back(alice_);
  recipients_.Remember("ghost@example.org", store_->DirectoryVersion(),
                       to_alice);
  Client c(Start(false));
  Greet(c);
  c.Cmd("MAIL FROM:<s@remote.example>");
  EXPECT_EQ(c.Cmd("RCPT TO:<ghost@example.org>"), "250 2.1.5 Ok");
  c.Cmd("DATA");
  EXPECT_EQ(c.Cmd("Subject: g\r\n\r\nboo\r\n.").substr(0, 3), "250");
  EXPECT_EQ(InboxCount("alice@example.org"), 1u);
  ASSERT_TRUE(store_->AddDomain("other.example"));
  c.Cmd("MAIL FROM:<s@remote.example>");
  EXPECT_EQ(c.Cmd("RCPT TO:<ghost@example.org>"),
            "550 5.1.1 Recipient address rejected: user unknown");
}

// Usage is not cached: an account with a quota is checked at every RCPT,
// though its address is known.
TEST_F(SmtpSessionTest, RcptChecksTheQuotaOfAKnownRecipient) {
  AddUser("dave@example.org", "pw", 1000);
  Client c(Start(false));
  Greet(c);
  c.Cmd("MAIL FROM:<s@remote.example>");
  EXPECT_EQ(c.Cmd("RCPT TO:<dave@example.org>"), "250 2.1.5 Ok");
  c.Cmd("DATA");
  EXPECT_EQ(c.Cmd("Subject: fill\r\n\r\n" + std::string(600, 'x') + "\r\n.")
                .substr(0, 3),
            "250");
  ASSERT_EQ(InboxCount("dave@example.org"), 1u);
  c.Cmd("MAIL FROM:<s@remote.example> SIZE=500");
  EXPECT_EQ(c.Cmd("RCPT TO:<dave@example.org>"), "452 4.2.2 Mailbox full");
}

TEST_F(SmtpSessionTest, AliasToRemoteIsForwardedThroughTheQueue) {
  Client c(Start(false));
  Greet(c);
  c.Cmd("MAIL FROM:<s@remote.example> RET=HDRS ENVID=abc");
  EXPECT_EQ(c.Cmd("RCPT TO:<fwd@example.org> NOTIFY=FAILURE"), "250 2.1.5 Ok");
  c.Cmd("DATA");
  EXPECT_EQ(c.Cmd("Subject: f\r\n\r\nbody\r\n.").substr(0, 3), "250");
  auto envs = queue_.envelopes();
  ASSERT_EQ(envs.size(), 1u);
  EXPECT_EQ(envs[0].mail_from, "s@remote.example");
  ASSERT_EQ(envs[0].recipients.size(), 1u);
  EXPECT_EQ(envs[0].recipients[0].address, "far@remote.example");
  EXPECT_EQ(envs[0].recipients[0].orcpt, "rfc822;fwd@example.org");
  EXPECT_EQ(envs[0].recipients[0].notify, queue::kNotifyFailure);
  EXPECT_EQ(envs[0].ret, queue::Ret::kHeaders);
  EXPECT_EQ(envs[0].envid, "abc");
  EXPECT_EQ(envs[0].client_ip, "127.0.0.1");
  auto data = queue_.data();
  EXPECT_TRUE(data[0].starts_with("Received: from client.example"));
  EXPECT_TRUE(data[0].ends_with("\r\nSubject: f\r\n\r\nbody\r\n"));
}

// RFC 3461 NOTIFY=SUCCESS for a local mailbox: after delivery the queue is
// asked for a "delivered" report, for that recipient only, with the header.
TEST_F(SmtpSessionTest, NotifySuccessForLocalRecipientIsReported) {
  Client c(Start(false));
  Greet(c);
  c.Cmd("MAIL FROM:<s@remote.example> ENVID=e1");
  EXPECT_EQ(c.Cmd("RCPT TO:<alice@example.org> NOTIFY=SUCCESS,FAILURE "
                  "ORCPT=rfc822;Alice@example.org"),
            "250 2.1.5 Ok");
  EXPECT_EQ(c.Cmd("RCPT TO:<bob@example.org>"), "250 2.1.5 Ok");
  c.Cmd("DATA");
  EXPECT_EQ(c.Cmd("Subject: s\r\n\r\nbody\r\n.").substr(0, 3), "250");
  EXPECT_EQ(InboxCount("alice@example.org"), 1u);
  auto reports = queue_.reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].mail_from, "s@remote.example");
  EXPECT_EQ(reports[0].envid, "e1");
  ASSERT_EQ(reports[0].recipients.size(), 1u);
  EXPECT_EQ(reports[0].recipients[0].address, "alice@example.org");
  EXPECT_EQ(reports[0].recipients[0].orcpt, "rfc822;Alice@example.org");
  EXPECT_EQ(queue_.report_actions()[0], "delivered");
  std::string header = queue_.report_data()[0];
  EXPECT_TRUE(header.ends_with("Subject: s\r\n")) << header;
  EXPECT_EQ(header.find("body"), std::string::npos);
  // No report without NOTIFY=SUCCESS, nor for the null sender.
  c.Cmd("MAIL FROM:<>");
  c.Cmd("RCPT TO:<alice@example.org> NOTIFY=SUCCESS");
  c.Cmd("DATA");
  EXPECT_EQ(c.Cmd("Subject: t\r\n\r\nbody\r\n.").substr(0, 3), "250");
  c.Cmd("MAIL FROM:<s@remote.example>");
  c.Cmd("RCPT TO:<alice@example.org> NOTIFY=FAILURE");
  c.Cmd("DATA");
  EXPECT_EQ(c.Cmd("Subject: u\r\n\r\nbody\r\n.").substr(0, 3), "250");
  EXPECT_EQ(queue_.reports().size(), 1u);
  EXPECT_EQ(InboxCount("alice@example.org"), 3u);
}

// Aliases and NOTIFY=SUCCESS (RFC 3461 6.2.7): a single forward passes the
// NOTIFY on and we report nothing; an alias fanning out to a mailbox and a
// remote address is reported "expanded" once, and its forwarded copy asks
// for no second success report (failure reports still flow).
TEST_F(SmtpSessionTest, NotifySuccessThroughAliases) {
  Client c(Start(false));
  Greet(c);
  c.Cmd("MAIL FROM:<s@remote.example>");
  EXPECT_EQ(c.Cmd("RCPT TO:<fwd@example.org> NOTIFY=SUCCESS"), "250 2.1.5 Ok");
  EXPECT_EQ(c.Cmd("RCPT TO:<mixed@example.org> NOTIFY=SUCCESS,FAILURE"),
            "250 2.1.5 Ok");
  c.Cmd("DATA");
  EXPECT_EQ(c.Cmd("Subject: s\r\n\r\nbody\r\n.").substr(0, 3), "250");
  EXPECT_EQ(InboxCount("bob@example.org"), 1u);
  auto reports = queue_.reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(queue_.report_actions()[0], "expanded");
  ASSERT_EQ(reports[0].recipients.size(), 1u);
  EXPECT_EQ(reports[0].recipients[0].address, "mixed@example.org");
  auto envs = queue_.envelopes();
  ASSERT_EQ(envs.size(), 1u);
  ASSERT_EQ(envs[0].recipients.size(), 2u);
  for (const auto& r : envs[0].recipients) {
    if (r.address == "far@remote.example") {
      EXPECT_EQ(r.notify, queue::kNotifySuccess);  // passed on as given
      EXPECT_EQ(r.orcpt, "rfc822;fwd@example.org");
    } else {
      EXPECT_EQ(r.address, "far2@remote.example");
      EXPECT_EQ(r.notify, queue::kNotifyFailure);  // SUCCESS taken out
      EXPECT_EQ(r.orcpt, "rfc822;mixed@example.org");
    }
  }
}

TEST_F(SmtpSessionTest, ForwardingWithoutQueueIsDeferred) {
  Client c(Start(false, /*with_queue=*/false));
  Greet(c);
  c.Cmd("MAIL FROM:<s@remote.example>");
  EXPECT_EQ(c.Cmd("RCPT TO:<fwd@example.org>").substr(0, 9), "451 4.3.0");
}

TEST_F(SmtpSessionTest, LoopDetection) {
  Client c(Start(false));
  Greet(c);
  c.Cmd("MAIL FROM:<s@remote.example>");
  c.Cmd("RCPT TO:<alice@example.org>");
  c.Cmd("DATA");
  EXPECT_EQ(c.Cmd("Received: a\r\nReceived: b\r\nReceived: c\r\n"
                  "Received: d\r\n\r\nx\r\n."),
            "554 5.4.6 Too many hops, mail loop?");
  EXPECT_EQ(InboxCount("alice@example.org"), 0u);
}

TEST_F(SmtpSessionTest, TooManyRecipients) {
  ASSERT_TRUE(store_->AddAlias({"@example.org", {"bob@example.org"}}));
  Client c(Start(false));
  Greet(c);
  c.Cmd("MAIL FROM:<s@remote.example>");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(c.Cmd("RCPT TO:<x" + std::to_string(i) + "@example.org>"),
              "250 2.1.5 Ok");
  }
  EXPECT_EQ(c.Cmd("RCPT TO:<y@example.org>"), "452 4.5.3 Too many recipients");
}

TEST_F(SmtpSessionTest, SequenceAndSyntaxErrors) {
  Client c(Start(false));
  c.Reply();
  EXPECT_EQ(c.Cmd("MAIL FROM:<a@b.example>"),
            "503 5.5.1 Send EHLO or HELO first");
  EXPECT_EQ(c.Cmd("HELO client"), "250 mx.example.org");
  EXPECT_EQ(c.Cmd("MAIL FROM:<a@b.example> SIZE=1"),
            "555 5.5.4 MAIL parameters need EHLO");
  EXPECT_EQ(c.Cmd("BDAT 1 LAST"), "503 5.5.1 Send EHLO first");
  EXPECT_EQ(c.Cmd("EHLO client"), c.Cmd("EHLO client"));
  EXPECT_EQ(c.Cmd("RSET x"), "501 5.5.4 No parameters allowed for RSET");
  EXPECT_EQ(c.Cmd("MAIL FROM:<j\xC3\xB6rg@remote.example>"),
            "553 5.6.7 Non-ASCII address needs SMTPUTF8");
  EXPECT_EQ(c.Cmd("MAIL FROM:<j\xC3\xB6rg@remote.example> SMTPUTF8"),
            "250 2.1.0 Ok");
  EXPECT_EQ(c.Cmd("MAIL FROM:<a@b.example>"), "503 5.5.1 Nested MAIL command");
}

TEST_F(SmtpSessionTest, LongLinesAndBareLfCommands) {
  Client c(Start(false));
  Greet(c);
  EXPECT_EQ(c.Cmd("NOOP " + std::string(2000, 'x')), "500 5.5.2 Line too long");
  c.Send("NOOP\n");
  EXPECT_EQ(c.Reply(), "500 5.5.2 Bare LF not allowed in commands");
  EXPECT_EQ(c.Cmd("NOOP"), "250 2.0.0 Ok");
}

TEST_F(SmtpSessionTest, TooManyErrorsDisconnect) {
  Client c(Start(false));
  Greet(c);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(c.Cmd("BOGUS"), "500 5.5.1 Command unrecognized");
  }
  c.Send("BOGUS\r\n");
  EXPECT_EQ(c.Reply(), "500 5.5.1 Command unrecognized");
  EXPECT_EQ(c.Reply().substr(0, 9), "421 4.7.0");
  EXPECT_EQ(c.Line(), "<closed>");
}

TEST_F(SmtpSessionTest, SubmissionRequiresAuthAndTlsForPlain) {
  Client c(Start(true));
  std::string ehlo = Greet(c);
  EXPECT_EQ(ehlo.find("AUTH"), std::string::npos);  // no TLS, no plaintext
  EXPECT_EQ(c.Cmd("MAIL FROM:<alice@example.org>"),
            "530 5.7.0 Authentication required");
  EXPECT_EQ(c.Cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA=="),
            "530 5.7.0 Must issue a STARTTLS command first");
}

TEST_F(SmtpSessionTest, SubmissionWithAuth) {
  config_.auth.allow_plaintext = true;
  Client c(Start(true));
  std::string ehlo = Greet(c);
  EXPECT_NE(ehlo.find("AUTH "), std::string::npos) << ehlo;
  EXPECT_NE(ehlo.find("PLAIN"), std::string::npos) << ehlo;
  // Wrong password, then LOGIN cancelled, then PLAIN with initial response.
  EXPECT_EQ(c.Cmd("AUTH PLAIN " +
                  Base64Encode(std::string("\0alice@example.org\0nope", 23))),
            "535 5.7.8 Authentication credentials invalid");
  EXPECT_EQ(c.Cmd("AUTH LOGIN"), "334 " + Base64Encode("Username:"));
  EXPECT_EQ(c.Cmd("*"), "501 5.0.0 Authentication cancelled");
  EXPECT_EQ(c.Cmd("AUTH PLAIN"), "334 ");
  EXPECT_EQ(c.Cmd(Base64Encode(std::string("\0alice@example.org\0secret", 25))),
            "235 2.7.0 Authentication successful");
  EXPECT_EQ(c.Cmd("AUTH PLAIN x"), "503 5.5.1 Already authenticated");
  EXPECT_EQ(c.Cmd("MAIL FROM:<>"),
            "553 5.7.1 Null sender not allowed on submission");
  EXPECT_EQ(c.Cmd("MAIL FROM:<bob@example.org>"),
            "553 5.7.1 Sender address not owned by you");
  EXPECT_EQ(c.Cmd("MAIL FROM:<al@example.org>"), "250 2.1.0 Ok");
  EXPECT_EQ(c.Cmd("RCPT TO:<friend@remote.example>"), "250 2.1.5 Ok");
  EXPECT_EQ(c.Cmd("RCPT TO:<bob@example.org>"), "250 2.1.5 Ok");
  c.Cmd("DATA");
  EXPECT_EQ(c.Cmd("Subject: s\r\n\r\nhi\r\n.").substr(0, 3), "250");
  auto envs = queue_.envelopes();
  ASSERT_EQ(envs.size(), 1u);
  EXPECT_EQ(envs[0].authenticated_user, "alice@example.org");
  ASSERT_EQ(envs[0].recipients.size(), 1u);
  EXPECT_EQ(envs[0].recipients[0].address, "friend@remote.example");
  std::string data = queue_.data()[0];
  EXPECT_NE(data.find("with ESMTPA id"), std::string::npos) << data;
  EXPECT_NE(data.find("\r\nDate: "), std::string::npos);
  EXPECT_NE(data.find("\r\nMessage-ID: <"), std::string::npos);
  EXPECT_EQ(InboxCount("bob@example.org"), 1u);
  // A message with its own Date and Message-ID keeps them, unduplicated.
  c.Cmd("MAIL FROM:<alice@example.org>");
  c.Cmd("RCPT TO:<bob@example.org>");
  c.Cmd("DATA");
  c.Cmd(
      "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: "
      "<m@x>\r\n\r\nhi\r\n.");
  std::string msg = LastInboxMessage("bob@example.org");
  EXPECT_EQ(msg.find("Message-ID:"), msg.rfind("Message-ID:"));
  EXPECT_EQ(msg.find("Date:"), msg.rfind("Date:"));
}
}  // namespace
}  // namespace correio::smtp
