// Outbound end to end in-process: the real scheduler, SQLite spool, memory
// store, smtp/client, against a scripted SMTP peer and a fake DNS server on
// loopback.
#include "queue/outbound.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <thread>

#include "dns/fake_dns_server.h"
#include "smtp/client/fake_smtp_server.h"
#include "store/memory/memory_store.h"

namespace correio::queue {
namespace {

namespace fs = std::filesystem;
using smtp::client::testing::FakeSmtpServer;

// Polls `done` until true, up to a generous bound (no timing assertion:
// the bound only keeps a broken build from hanging).
bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 3000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

class OutboundTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("correio_outbound_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = store::NewMemoryStore(nullptr);
    ASSERT_TRUE(store_->AddDomain("example.org"));
    store::Account a;
    a.address = "alice@example.org";
    auto created = store_->CreateAccount(a);
    ASSERT_TRUE(created);
    alice_ = created->id;
    options_.hostname = "mail.example.org";
    options_.queue.retry_schedule = {1};
    options_.queue.delay_warning_seconds = 0;
    options_.poll_interval = std::chrono::milliseconds(200);
    auto& t = options_.timeouts;
    t.connect = t.greeting = t.command = t.data_init = t.data_block =
        t.data_term = std::chrono::seconds(10);
  }
  void TearDown() override {
    if (outbound_) outbound_->Stop();
    outbound_.reset();
    fs::remove_all(dir_);
  }
  void Open() {
    auto o = Outbound::Open((dir_ / "queue.db").string(), options_,
                            store_.get(), &pool_);
    ASSERT_TRUE(o) << o.error().message();
    outbound_ = std::move(*o);
  }
  void Route(const std::string& domain, const FakeSmtpServer& peer) {
    options_.queue.routes[domain] = "127.0.0.1:" + std::to_string(peer.port());
  }
  uint64_t Enqueue(std::vector<std::string> to, std::string from,
                   std::string data =
                       "From: alice@example.org\r\n"
                       "Subject: test\r\n\r\nHello\r\n") {
    Envelope e;
    e.mail_from = std::move(from);
    for (auto& t : to) e.recipients.push_back({t, kNotifyDefault, ""});
    auto id = outbound_->Enqueue(e, data);
    EXPECT_TRUE(id);
    return id ? *id : 0;
  }
  bool SpoolEmpty() {
    auto list = outbound_->spool().List();
    return list && list->empty();
  }
  std::vector<std::string> Inbox(store::AccountId id) {
    std::vector<std::string> out;
    auto inbox = store_->GetMailbox(id, "INBOX");
    if (!inbox) return out;
    auto rows = store_->GetMessages(inbox->id, {{1, 1000000}});
    if (!rows) return out;
    for (auto& r : *rows) {
      auto text = store_->ReadBlob(r.blob, 0, 1 << 24);
      if (text) out.push_back(*text);
    }
    return out;
  }

  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  store::AccountId alice_ = 0;
  net::BlockingPool pool_{4};
  OutboundOptions options_;
  std::unique_ptr<Outbound> outbound_;
};

TEST_F(OutboundTest, DeliversThroughRouteAndReusesConnection) {
  FakeSmtpServer peer;
  peer.Start();
  Route("example.net", peer);
  options_.queue.max_per_destination = 1;
  Open();
  // Queued before the scheduler starts: one scan finds all three.
  for (int i = 0; i < 3; ++i) {
    Enqueue({"bob@example.net"}, "alice@example.org",
            "Subject: " + std::to_string(i) + "\r\n\r\n.dot\r\n");
  }
  outbound_->Start();
  ASSERT_TRUE(WaitFor([&] { return peer.messages().size() == 3; }));
  ASSERT_TRUE(WaitFor([&] { return SpoolEmpty(); }));
  auto msgs = peer.messages();
  EXPECT_EQ(msgs[0].data, "Subject: 0\r\n\r\n.dot\r\n");
  EXPECT_EQ(msgs[0].mail_line, "MAIL FROM:<alice@example.org> SIZE=20");
  EXPECT_EQ(peer.connections(), 1);
}

TEST_F(OutboundTest, TemporaryFailureIsRetried) {
  FakeSmtpServer peer;
  peer.data_replies = {"451 4.3.0 try again later"};
  peer.Start();
  Route("example.net", peer);
  Open();
  outbound_->Start();
  uint64_t id = Enqueue({"bob@example.net"}, "alice@example.org");
  ASSERT_TRUE(WaitFor([&] { return peer.messages().size() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return SpoolEmpty(); }));
  (void)id;
  int datas = 0;
  for (auto& c : peer.commands()) datas += c == "DATA";
  EXPECT_EQ(datas, 2);
  EXPECT_TRUE(Inbox(alice_).empty());  // no bounce, no warning
}

TEST_F(OutboundTest, PermanentFailureBouncesToLocalSender) {
  FakeSmtpServer peer;
  peer.rcpt_replies["nobody@example.net"] = "550 5.1.1 no such user here";
  peer.Start();
  Route("example.net", peer);
  Open();
  outbound_->Start();
  Enqueue({"nobody@example.net", "bob@example.net"}, "alice@example.org");
  ASSERT_TRUE(WaitFor([&] { return Inbox(alice_).size() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return SpoolEmpty(); }));
  std::string bounce = Inbox(alice_)[0];
  EXPECT_TRUE(bounce.starts_with("Return-Path: <>\r\n")) << bounce;
  EXPECT_NE(bounce.find("Final-Recipient: rfc822; nobody@example.net"),
            std::string::npos);
  EXPECT_NE(bounce.find("Diagnostic-Code: smtp; 550 5.1.1 no such user here"),
            std::string::npos);
  EXPECT_EQ(bounce.find("Final-Recipient: rfc822; bob@example.net"),
            std::string::npos);
  EXPECT_EQ(peer.messages().size(), 1u);
}

TEST_F(OutboundTest, MxFromDnsAndNullMx) {
  FakeSmtpServer peer;
  peer.Start();
  dns::testing::FakeDnsServer dns;
  dns.mx["example.net"] = {{10, "mx.example.net"}};
  dns.a["mx.example.net"] = {"127.0.0.1"};
  dns.mx["nomail.example"] = {{0, ""}};
  dns.Start();
  options_.dns.servers = {dns.address()};
  options_.dns.timeout = std::chrono::milliseconds(500);
  options_.queue.mx_port = peer.port();
  Open();
  outbound_->Start();
  Enqueue({"bob@example.net"}, "alice@example.org");
  Enqueue({"x@nomail.example"}, "alice@example.org");
  ASSERT_TRUE(WaitFor([&] { return peer.messages().size() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return Inbox(alice_).size() == 1; }));
  std::string bounce = Inbox(alice_)[0];
  EXPECT_NE(bounce.find("Status: 5.1.10"), std::string::npos) << bounce;
  EXPECT_NE(bounce.find("null MX"), std::string::npos);
  dns.Stop();
}

TEST_F(OutboundTest, Smtputf8ToServerWithoutItBounces) {
  FakeSmtpServer peer;
  peer.Start();
  Route("example.net", peer);
  Open();
  outbound_->Start();
  Envelope e;
  e.mail_from = "alice@example.org";
  e.recipients.push_back({"bob@example.net", kNotifyDefault, ""});
  e.smtputf8 = true;
  ASSERT_TRUE(outbound_->Enqueue(e, "Subject: caf\xc3\xa9\r\n\r\nx\r\n"));
  ASSERT_TRUE(WaitFor([&] { return Inbox(alice_).size() == 1; }));
  EXPECT_NE(Inbox(alice_)[0].find("Status: 5.6.7"), std::string::npos);
  EXPECT_TRUE(peer.messages().empty());
}

TEST_F(OutboundTest, RequireTlsWithoutTlsBounces) {
  FakeSmtpServer peer;
  peer.Start();
  Route("example.net", peer);
  Open();
  outbound_->Start();
  Envelope e;
  e.mail_from = "alice@example.org";
  e.recipients.push_back({"bob@example.net", kNotifyDefault, ""});
  e.require_tls = true;
  ASSERT_TRUE(outbound_->Enqueue(e, "Subject: x\r\n\r\nx\r\n"));
  ASSERT_TRUE(WaitFor([&] { return Inbox(alice_).size() == 1; }));
  EXPECT_NE(Inbox(alice_)[0].find("Status: 5.7.30"), std::string::npos);
  EXPECT_TRUE(peer.messages().empty());
}

TEST_F(OutboundTest, DropMidDataIsRetriedAndNullSenderNeverBounced) {
  FakeSmtpServer peer;
  peer.drop_in_data = true;
  peer.Start();
  Route("example.net", peer);
  options_.queue.max_age_seconds = 2;
  Open();
  outbound_->Start();
  Enqueue({"bob@example.net"}, "");
  // Retried until max_age, then dropped without a bounce (null sender).
  ASSERT_TRUE(WaitFor([&] { return SpoolEmpty(); }));
  EXPECT_GE(peer.connections(), 2);
  EXPECT_TRUE(Inbox(alice_).empty());
}

TEST_F(OutboundTest, QueueSurvivesRestart) {
  FakeSmtpServer peer;
  peer.Start();
  Route("example.net", peer);
  Open();
  Enqueue({"bob@example.net"}, "alice@example.org");
  outbound_.reset();  // never started: as if the process died
  EXPECT_TRUE(peer.messages().empty());
  Open();
  outbound_->Start();
  ASSERT_TRUE(WaitFor([&] { return peer.messages().size() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return SpoolEmpty(); }));
}

TEST_F(OutboundTest, LocalDomainIsDeliveredToInbox) {
  // carol@example.com's domain is routed to a peer: the test must not
  // depend on what the host's DNS says about example.com.
  FakeSmtpServer peer;
  peer.Start();
  Route("example.com", peer);
  Open();
  outbound_->Start();
  Enqueue({"alice@example.org", "ghost@example.org"}, "carol@example.com");
  ASSERT_TRUE(WaitFor([&] { return Inbox(alice_).size() == 1; }));
  EXPECT_TRUE(Inbox(alice_)[0].starts_with(
      "Return-Path: <carol@example.com>\r\nFrom: alice@example.org\r\n"));
  // ghost@ failed: the DSN goes to carol@example.com from the null sender,
  // naming only the failed recipient.
  ASSERT_TRUE(WaitFor([&] { return peer.messages().size() == 1; }));
  auto dsn = peer.messages()[0];
  EXPECT_TRUE(dsn.mail_line.starts_with("MAIL FROM:<>")) << dsn.mail_line;
  ASSERT_EQ(dsn.rcpt_lines.size(), 1u);
  EXPECT_NE(dsn.rcpt_lines[0].find("carol@example.com"), std::string::npos);
  EXPECT_NE(dsn.data.find("ghost@example.org"), std::string::npos);
  EXPECT_EQ(dsn.data.find("Final-Recipient: rfc822; alice@example.org"),
            std::string::npos);
  ASSERT_TRUE(WaitFor([&] { return SpoolEmpty(); }));
}

// An alias to a local mailbox and a remote address: while the mailbox is
// over quota the whole recipient is deferred and retried, and the remote
// copy is queued only once the local part is in (it used to be queued on
// every attempt: one copy per retry).
TEST_F(OutboundTest, AliasForwardQueuedOnceAfterLocalDeferrals) {
  FakeSmtpServer peer;
  peer.Start();
  Route("example.com", peer);
  store::Account tiny;
  tiny.address = "tiny@example.org";
  auto created = store_->CreateAccount(tiny);
  ASSERT_TRUE(created);
  ASSERT_TRUE(store_->SetQuota(created->id, 10, 0));
  ASSERT_TRUE(store_->AddAlias(
      {"both@example.org", {"tiny@example.org", "far@example.com"}}));
  Open();
  outbound_->Start();
  Enqueue({"both@example.org"}, "carol@example.com");
  // Retries every second; give it several.
  ASSERT_TRUE(WaitFor([&] {
    auto list = outbound_->spool().List();
    return list && list->size() == 1 && (*list)[0].recipients.size() == 1 &&
           (*list)[0].recipients[0].attempts >= 3;
  }));
  EXPECT_TRUE(peer.messages().empty());
  EXPECT_TRUE(Inbox(created->id).empty());
  ASSERT_TRUE(store_->SetQuota(created->id, 0, 0));
  ASSERT_TRUE(WaitFor([&] { return Inbox(created->id).size() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return peer.messages().size() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return SpoolEmpty(); }));
  EXPECT_EQ(peer.messages().size(), 1u);
  EXPECT_NE(peer.messages()[0].rcpt_lines[0].find("far@example.com"),
            std::string::npos);
}

}  // namespace
}  // namespace correio::queue
