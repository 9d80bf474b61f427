// Runs the real POP3 session over loopback (net::Server) on the memory
// store and drives it with a blocking client: the state machine, RFC 1939
// replies, deletion semantics, [IN-USE], STLS, AUTH, and the policies.
#include "pop3/server/session.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <istream>
#include <thread>

#include "auth/authenticator.h"
#include "auth/password.h"
#include "auth/throttle.h"
#include "base/clock.h"
#include "base/strings.h"
#include "mail/deliver.h"
#include "net/server.h"
#include "store/memory/memory_store.h"

namespace correio::pop3 {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

constexpr char kUser[] = "alice@example.org";
constexpr char kPassword[] = "correct horse";

class Client {
 public:
  explicit Client(uint16_t port) {
    sock_.connect({asio::ip::make_address("127.0.0.1"), port});
    // A hung session fails the test instead of hanging it.
    struct timeval tv = {20, 0};
    setsockopt(sock_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  void StartTls() {
    tls_ =
        std::make_unique<ssl::stream<asio::ip::tcp::socket&>>(sock_, tls_ctx_);
    tls_->handshake(ssl::stream_base::client);
  }
  void Send(std::string_view s) {
    if (tls_) {
      asio::write(*tls_, asio::buffer(s));
    } else {
      asio::write(sock_, asio::buffer(s));
    }
  }
  std::string Line() {
    boost::system::error_code ec;
    if (tls_) {
      asio::read_until(*tls_, buf_, "\n", ec);
    } else {
      asio::read_until(sock_, buf_, "\n", ec);
    }
    if (ec) return "<closed>";
    std::istream is(&buf_);
    std::string line;
    std::getline(is, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  std::string Command(std::string_view cmd) {
    Send(std::string(cmd) + "\r\n");
    return Line();
  }
  // The raw lines of a multi-line body up to (not including) ".".
  std::vector<std::string> Body() {
    std::vector<std::string> out;
    for (;;) {
      std::string line = Line();
      if (line == "." || line == "<closed>") return out;
      out.push_back(line);
    }
  }
  // A multi-line body un-stuffed back into message octets (CRLF lines).
  std::string Message() {
    std::string out;
    for (const auto& line : Body()) {
      out += line.starts_with('.') ? line.substr(1) : line;
      out += "\r\n";
    }
    return out;
  }
  bool Closed() { return Line() == "<closed>"; }

 private:
  asio::io_context ctx_;
  asio::ip::tcp::socket sock_{ctx_};
  ssl::context tls_ctx_{ssl::context::tls_client};
  std::unique_ptr<ssl::stream<asio::ip::tcp::socket&>> tls_;
  asio::streambuf buf_;
};

class Pop3SessionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { auth::SetArgon2CostForTesting(1, 8192); }

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("correio-pop3-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    std::string cert = (dir_ / "cert.pem").string();
    std::string key = (dir_ / "key.pem").string();
    ASSERT_TRUE(net::GenerateSelfSigned(cert, key, "test.local"));
    auto tls = net::TlsContext::Load(cert, key);
    ASSERT_TRUE(tls);
    tls_ = *tls;
    ASSERT_TRUE(store_->AddDomain("example.org"));
    account_ = AddUser(kUser, kPassword);
    config_.auth.allow_plaintext = true;
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(500));
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  store::Account AddUser(const std::string& address,
                         const std::string& password) {
    store::Account a;
    a.address = address;
    a.password_hash = *auth::HashPassword(password);
    a.scram = *auth::DeriveScram(password);
    auto made = store_->CreateAccount(a);
    EXPECT_TRUE(made);
    return *made;
  }

  uint16_t Start(bool offer_stls = true) {
    env_.config = &config_;
    env_.hostname = "mail.example.org";
    env_.store = store_.get();
    env_.hub = &hub_;
    env_.auth = config_.pop3.apop ? &apop_authenticator_ : &authenticator_;
    env_.throttle = &throttle_;
    env_.pool = &pool_;
    env_.tls = tls_;
    server_ = std::make_unique<net::Server>(1, net::ServerLimits{}, tls_);
    net::ListenOptions lo;
    lo.name = "pop3";
    lo.address = "127.0.0.1";
    SessionOptions po;
    po.hostname = "mail.example.org";
    po.offer_stls = offer_stls;
    po.tls = tls_;
    po.max_bad_commands = 5;
    auto env = env_;
    lo.handler = [po, env](std::shared_ptr<net::Connection> c) {
      return RunSession(std::move(c), env, po);
    };
    auto port = server_->Listen(std::move(lo));
    EXPECT_TRUE(port);
    server_->Start();
    return *port;
  }

  store::Uid Deliver(const std::string& data, int64_t date = 0,
                     store::AccountId account = 0) {
    auto blob = mail::PrepareBlob(data);
    EXPECT_TRUE(blob);
    if (date == 0) date = time(nullptr);
    auto d = mail::DeliverToInboxes(*store_, *blob,
                                    {account ? account : account_.id}, date);
    EXPECT_TRUE(d);
    return d->front().uid;
  }

  store::Mailbox Inbox() { return *store_->GetMailbox(account_.id, "INBOX"); }
  std::vector<store::MessageRow> InboxRows() {
    return *store_->GetMessages(Inbox().id, {{1, 0xFFFFFFFF}});
  }

  // Greeting + USER/PASS; returns the PASS reply.
  std::string Login(Client& c, const std::string& user = kUser,
                    const std::string& password = kPassword) {
    EXPECT_TRUE(c.Line().starts_with("+OK"));
    EXPECT_TRUE(c.Command("USER " + user).starts_with("+OK"));
    return c.Command("PASS " + password);
  }

  std::filesystem::path dir_;
  std::shared_ptr<net::TlsContext> tls_;
  store::LocalChangeHub hub_;
  std::unique_ptr<store::Store> store_ = store::NewMemoryStore(&hub_);
  store::Account account_;
  config::Config config_;
  auth::LoginThrottle throttle_{SystemClock()};
  auth::Authenticator authenticator_{*store_, throttle_};
  auth::Authenticator apop_authenticator_{*store_, throttle_, true};
  net::BlockingPool pool_{2};
  mail::Env env_;
  std::unique_ptr<net::Server> server_;
};

const std::string kMessage1 =
    "From: bob@example.net\r\nTo: alice@example.org\r\nSubject: one\r\n"
    "\r\n.leading dot\r\n..two dots\r\nplain\r\n.\r\nlast\r\n";
const std::string kMessage2 =
    "From: carol@example.net\r\nSubject: two\r\n\r\nhello\r\n";

TEST_F(Pop3SessionTest, CapaBeforeLoginDependsOnTls) {
  config_.auth.allow_plaintext = false;
  Client c(Start());
  EXPECT_EQ(c.Line(), "+OK mail.example.org correio POP3 server ready");
  EXPECT_EQ(c.Command("CAPA"), "+OK Capability list follows");
  auto caps = c.Body();
  auto has = [&](std::string_view cap) {
    return std::find(caps.begin(), caps.end(), cap) != caps.end();
  };
  EXPECT_TRUE(has("STLS"));
  EXPECT_TRUE(has("TOP"));
  EXPECT_TRUE(has("UIDL"));
  EXPECT_TRUE(has("RESP-CODES"));
  EXPECT_TRUE(has("AUTH-RESP-CODE"));
  EXPECT_TRUE(has("PIPELINING"));
  EXPECT_TRUE(has("EXPIRE NEVER USER"));
  EXPECT_TRUE(has("IMPLEMENTATION correio"));
  EXPECT_FALSE(has("USER"));  // no plaintext login before TLS
  EXPECT_TRUE(has("SASL SCRAM-SHA-256"));
  // RFC 2595: login before STLS is refused with [AUTH].
  EXPECT_EQ(c.Command("USER alice@example.org"),
            "-ERR [AUTH] TLS is required: use STLS first");
  EXPECT_EQ(c.Command("AUTH PLAIN AGFsaWNlAHg="),
            "-ERR [AUTH] TLS is required: use STLS first");
  EXPECT_EQ(c.Command("STAT"), "-ERR Command not valid in this state");
  EXPECT_EQ(c.Command("STLS"), "+OK Begin TLS negotiation");
  c.StartTls();
  EXPECT_EQ(c.Command("CAPA"), "+OK Capability list follows");
  caps = c.Body();
  EXPECT_FALSE(has("STLS"));
  EXPECT_TRUE(has("USER"));
  EXPECT_TRUE(has("SASL SCRAM-SHA-256 PLAIN LOGIN") ||
              has("SASL PLAIN LOGIN SCRAM-SHA-256") ||
              has("SASL SCRAM-SHA-256 LOGIN PLAIN"));
  EXPECT_EQ(c.Command("STLS"), "-ERR STLS not available");
  EXPECT_TRUE(c.Command("USER alice@example.org").starts_with("+OK"));
  EXPECT_EQ(c.Command("PASS correct horse"),
            "+OK Maildrop has 0 messages (0 octets)");
}

TEST_F(Pop3SessionTest, StlsDiscardsPipelinedPlaintext) {
  config_.auth.allow_plaintext = false;
  Client c(Start());
  c.Line();
  // The injected USER/PASS must not run inside the TLS session.
  c.Send("STLS\r\nUSER alice@example.org\r\nPASS correct horse\r\n");
  EXPECT_EQ(c.Line(), "+OK Begin TLS negotiation");
  c.StartTls();
  EXPECT_EQ(c.Command("STAT"), "-ERR Command not valid in this state");
  EXPECT_EQ(c.Command("PASS correct horse"), "-ERR Send USER first");
}

TEST_F(Pop3SessionTest, TransactionCommands) {
  Deliver(kMessage1);
  Deliver(kMessage2);
  auto rows = InboxRows();
  ASSERT_EQ(rows.size(), 2u);
  uint32_t validity = Inbox().uid_validity;
  Client c(Start());
  EXPECT_EQ(Login(c), "+OK Maildrop has 2 messages (" +
                          std::to_string(kMessage1.size() + kMessage2.size()) +
                          " octets)");
  EXPECT_EQ(c.Command("STAT"),
            "+OK 2 " + std::to_string(kMessage1.size() + kMessage2.size()));
  EXPECT_TRUE(c.Command("LIST").starts_with("+OK"));
  EXPECT_EQ(c.Body(), (std::vector<std::string>{
                          "1 " + std::to_string(kMessage1.size()),
                          "2 " + std::to_string(kMessage2.size())}));
  EXPECT_EQ(c.Command("LIST 2"), "+OK 2 " + std::to_string(kMessage2.size()));
  EXPECT_EQ(c.Command("UIDL"), "+OK Unique-ID listing follows");
  EXPECT_EQ(c.Body(),
            (std::vector<std::string>{"1 " + std::to_string(validity) + "." +
                                          std::to_string(rows[0].uid),
                                      "2 " + std::to_string(validity) + "." +
                                          std::to_string(rows[1].uid)}));
  // RETR is byte-stuffed on the wire and exact once un-stuffed.
  EXPECT_EQ(c.Command("RETR 1"),
            "+OK " + std::to_string(kMessage1.size()) + " octets");
  auto raw = c.Body();
  EXPECT_EQ(raw[4], "..leading dot");
  EXPECT_EQ(raw[5], "...two dots");
  EXPECT_EQ(raw[7], "..");
  EXPECT_EQ(c.Command("RETR 1"),
            "+OK " + std::to_string(kMessage1.size()) + " octets");
  EXPECT_EQ(c.Message(), kMessage1);
  EXPECT_EQ(c.Command("TOP 1 1"), "+OK Top of message follows");
  EXPECT_EQ(c.Body(), (std::vector<std::string>{
                          "From: bob@example.net", "To: alice@example.org",
                          "Subject: one", "", "..leading dot"}));
  EXPECT_EQ(c.Command("NOOP"), "+OK");
  EXPECT_EQ(c.Command("DELE 1"), "+OK Message 1 deleted");
  EXPECT_EQ(c.Command("DELE 1"), "-ERR Message 1 already deleted");
  EXPECT_EQ(c.Command("RETR 1"), "-ERR Message 1 already deleted");
  EXPECT_EQ(c.Command("STAT"), "+OK 1 " + std::to_string(kMessage2.size()));
  EXPECT_TRUE(c.Command("LIST").starts_with("+OK"));
  EXPECT_EQ(
      c.Body(),
      (std::vector<std::string>{"2 " + std::to_string(kMessage2.size())}));
  EXPECT_EQ(c.Command("RSET"),
            "+OK Maildrop has 2 messages (" +
                std::to_string(kMessage1.size() + kMessage2.size()) +
                " octets)");
  EXPECT_EQ(c.Command("DELE 2"), "+OK Message 2 deleted");
  // Not applied before QUIT.
  EXPECT_EQ(InboxRows().size(), 2u);
  EXPECT_EQ(c.Command("QUIT"), "+OK Bye (1 messages left)");
  EXPECT_TRUE(c.Closed());
  rows = InboxRows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].uid, 1u);
  // RETR set \Seen (config default mark_seen_on_retr).
  EXPECT_TRUE(rows[0].flags.system & store::kFlagSeen);
}

// A download's \Seen updates are gathered into one store write (not one
// commit per RETR), and all of them are written when QUIT answers.
TEST_F(Pop3SessionTest, SeenAfterRetrIsOneWriteForABurst) {
  constexpr int kMessages = 20;
  for (int i = 0; i < kMessages; ++i) Deliver(kMessage1);
  uint16_t port = Start();
  Client c(port);
  Login(c);
  uint64_t writes = store_->Stats().write_calls;
  for (int i = 1; i <= kMessages; ++i) {
    ASSERT_TRUE(c.Command("RETR " + std::to_string(i)).starts_with("+OK"));
    c.Body();
  }
  EXPECT_TRUE(c.Command("QUIT").starts_with("+OK"));
  EXPECT_TRUE(c.Closed());
  for (const auto& row : InboxRows()) {
    EXPECT_TRUE(row.flags.system & store::kFlagSeen) << row.uid;
  }
  // One write, or a few if a slow (sanitizer) run outlasts a gathering;
  // without it there is about one per RETR.
  EXPECT_LE(store_->Stats().write_calls - writes, 3u);
}

TEST_F(Pop3SessionTest, DroppedConnectionAppliesNothing) {
  Deliver(kMessage1);
  uint16_t port = Start();
  {
    Client c(port);
    Login(c);
    EXPECT_EQ(c.Command("DELE 1"), "+OK Message 1 deleted");
  }  // dropped without QUIT
  // The next session can log in (lock released) and still sees it.
  std::string reply;
  for (int i = 0; i < 200; ++i) {  // the server notices the drop async
    Client c(port);
    reply = Login(c);
    if (!reply.starts_with("-ERR [IN-USE]")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(reply, "+OK Maildrop has 1 messages (" +
                       std::to_string(kMessage1.size()) + " octets)");
  EXPECT_EQ(InboxRows().size(), 1u);
}

TEST_F(Pop3SessionTest, SecondSessionGetsInUse) {
  Deliver(kMessage1);
  uint16_t port = Start();
  Client first(port);
  EXPECT_TRUE(Login(first).starts_with("+OK"));
  Client second(port);
  EXPECT_EQ(Login(second),
            "-ERR [IN-USE] Maildrop is in use by another POP3 session");
  // Still in AUTHORIZATION: may try again after the first one leaves.
  EXPECT_EQ(first.Command("QUIT"), "+OK Bye (1 messages left)");
  EXPECT_TRUE(first.Closed());
  EXPECT_TRUE(second.Command("USER alice@example.org").starts_with("+OK"));
  EXPECT_TRUE(second.Command("PASS correct horse").starts_with("+OK"));
}

TEST_F(Pop3SessionTest, WrongPasswordIsAuthError) {
  Client c(Start());
  EXPECT_EQ(Login(c, kUser, "wrong"), "-ERR [AUTH] Authentication failed");
  // An unknown user looks the same; the session stays in AUTHORIZATION.
  EXPECT_TRUE(c.Command("USER nobody@example.org").starts_with("+OK"));
  EXPECT_EQ(c.Command("PASS x"), "-ERR [AUTH] Authentication failed");
  EXPECT_EQ(c.Command("STAT"), "-ERR Command not valid in this state");
  EXPECT_TRUE(c.Command("USER alice@example.org").starts_with("+OK"));
  EXPECT_TRUE(c.Command("PASS correct horse").starts_with("+OK"));
}

TEST_F(Pop3SessionTest, BadInputGetsErrAndTooMuchDisconnects) {
  Deliver(kMessage1);
  Client c(Start());
  Login(c);
  EXPECT_EQ(c.Command("RETR 0"), "-ERR No such message");
  EXPECT_EQ(c.Command("RETR 2"), "-ERR No such message");
  EXPECT_EQ(c.Command("RETR 4294967296"), "-ERR Invalid message number");
  EXPECT_EQ(c.Command("LIST x"), "-ERR Invalid message number");
  EXPECT_EQ(c.Command("STAT " + std::string(10000, 'x')), "-ERR Line too long");
  // Max 5 bad commands in this fixture: the sixth ends the session.
  EXPECT_EQ(c.Command("XYZZY"), "-ERR Too many errors, closing connection");
  EXPECT_TRUE(c.Closed());
  EXPECT_EQ(InboxRows().size(), 1u);
}

TEST_F(Pop3SessionTest, AuthPlainWithAndWithoutInitialResponse) {
  uint16_t port = Start();
  std::string creds = Base64Encode(std::string("\0", 1) + kUser +
                                   std::string("\0", 1) + kPassword);
  {
    Client c(port);
    c.Line();
    EXPECT_EQ(c.Command("AUTH PLAIN " + creds),
              "+OK Maildrop has 0 messages (0 octets)");
    EXPECT_EQ(c.Command("QUIT"), "+OK Bye (0 messages left)");
  }
  {
    Client c(port);
    c.Line();
    EXPECT_EQ(c.Command("AUTH"), "+OK");
    auto mechs = c.Body();
    EXPECT_NE(std::find(mechs.begin(), mechs.end(), "PLAIN"), mechs.end());
    EXPECT_EQ(c.Command("AUTH PLAIN"), "+ ");
    EXPECT_EQ(c.Command("*"), "-ERR Authentication cancelled");
    EXPECT_EQ(c.Command("AUTH plain"), "+ ");
    EXPECT_EQ(c.Command(creds), "+OK Maildrop has 0 messages (0 octets)");
  }
  {
    Client c(port);
    c.Line();
    EXPECT_EQ(
        c.Command("AUTH PLAIN " + Base64Encode(std::string("\0", 1) + kUser +
                                               std::string("\0", 1) + "bad")),
        "-ERR [AUTH] Authentication failed");
    EXPECT_EQ(c.Command("AUTH X-UNKNOWN"),
              "-ERR Unsupported authentication mechanism");
  }
}

TEST_F(Pop3SessionTest, DownloadOnceAndRecent) {
  store::AccountSettings settings;
  settings.pop3_download_once = true;
  ASSERT_TRUE(store_->SetAccountSettings(account_.id, settings));
  Deliver(kMessage1);
  // Older than the 30 days of recent:.
  Deliver(kMessage2, time(nullptr) - 40 * 86400);
  uint16_t port = Start();
  {
    Client c(port);
    EXPECT_TRUE(Login(c).starts_with("+OK Maildrop has 2 messages"));
    EXPECT_EQ(c.Command("CAPA"), "+OK Capability list follows");
    auto caps = c.Body();
    EXPECT_NE(std::find(caps.begin(), caps.end(), "EXPIRE 0"), caps.end());
    EXPECT_TRUE(c.Command("RETR 1").starts_with("+OK"));
    c.Body();
    EXPECT_TRUE(c.Command("QUIT").starts_with("+OK"));
    EXPECT_TRUE(c.Closed());
  }
  {
    Client c(port);
    EXPECT_EQ(Login(c), "+OK Maildrop has 1 messages (" +
                            std::to_string(kMessage2.size()) + " octets)");
    EXPECT_TRUE(c.Command("RETR 1").starts_with("+OK"));
    EXPECT_EQ(c.Message(), kMessage2);
    // No QUIT: a dropped session marks nothing.
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (int i = 0; i < 200; ++i) {
    Client c(port);
    std::string reply = Login(c, std::string("recent:") + kUser);
    if (reply.starts_with("-ERR [IN-USE]")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    // recent: lists the last 30 days whatever was downloaded: message 1.
    EXPECT_EQ(reply, "+OK Maildrop has 1 messages (" +
                         std::to_string(kMessage1.size()) + " octets)");
    EXPECT_TRUE(c.Command("RETR 1").starts_with("+OK"));
    EXPECT_EQ(c.Message(), kMessage1);
    EXPECT_TRUE(c.Command("QUIT").starts_with("+OK"));
    break;
  }
  EXPECT_EQ(InboxRows().size(), 2u);
}

TEST_F(Pop3SessionTest, KeepSeenModeKeepsMessage) {
  config_.pop3.delete_mode = "keep-seen";
  config_.pop3.mark_seen_on_retr = false;
  Deliver(kMessage1);
  Deliver(kMessage2);
  Client c(Start());
  Login(c);
  EXPECT_TRUE(c.Command("RETR 2").starts_with("+OK"));
  c.Body();
  EXPECT_EQ(InboxRows()[1].flags.system & store::kFlagSeen, 0u);
  EXPECT_TRUE(c.Command("DELE 1").starts_with("+OK"));
  EXPECT_TRUE(c.Command("QUIT").starts_with("+OK"));
  EXPECT_TRUE(c.Closed());
  auto rows = InboxRows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[0].flags.system & store::kFlagSeen);
  EXPECT_FALSE(rows[1].flags.system & store::kFlagSeen);
}

TEST_F(Pop3SessionTest, ArchiveModePerAccountMovesMessage) {
  store::AccountSettings settings;
  settings.pop3_delete_mode = "archive";
  ASSERT_TRUE(store_->SetAccountSettings(account_.id, settings));
  Deliver(kMessage1);
  Client c(Start());
  Login(c);
  EXPECT_TRUE(c.Command("DELE 1").starts_with("+OK"));
  EXPECT_TRUE(c.Command("QUIT").starts_with("+OK"));
  EXPECT_TRUE(c.Closed());
  EXPECT_TRUE(InboxRows().empty());
  store::MailboxId archive = 0;
  auto boxes = store_->ListMailboxes(account_.id);
  ASSERT_TRUE(boxes);
  for (const auto& box : *boxes) {
    if (box.special_use == store::SpecialUse::kArchive ||
        (archive == 0 && box.name == "Archive")) {
      archive = box.id;
    }
  }
  ASSERT_NE(archive, 0);
  auto moved = *store_->GetMessages(archive, {{1, 0xFFFFFFFF}});
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved[0].size, kMessage1.size());
}

TEST_F(Pop3SessionTest, LargeMessageStreamsExactly) {
  // Several blob chunks, dots at chunk boundaries, long lines.
  std::string body;
  for (int i = 0; body.size() < 1'500'000; ++i) {
    body +=
        (i % 3 == 0 ? "." : "") + std::string(i % 997, 'a' + i % 26) + "\r\n";
  }
  std::string msg = "Subject: big\r\n\r\n" + body;
  Deliver(msg);
  auto rows = InboxRows();
  ASSERT_EQ(rows.size(), 1u);
  Client c(Start());
  Login(c);
  EXPECT_EQ(c.Command("LIST 1"), "+OK 1 " + std::to_string(rows[0].size));
  EXPECT_EQ(c.Command("RETR 1"),
            "+OK " + std::to_string(rows[0].size) + " octets");
  std::string got = c.Message();
  EXPECT_EQ(got.size(), rows[0].size);
  EXPECT_TRUE(got == *store_->ReadBlob(rows[0].blob, 0, rows[0].size));
}

// Downloading in order is served from read-ahead batches (several
// messages per pool job, bounded in bytes): every RETR still gets exactly
// its own message, across batch ends, around deleted and re-read
// messages, and past a message larger than a batch's byte bound.
TEST_F(Pop3SessionTest, RetrInOrderAcrossReadAheadBatches) {
  std::vector<std::string> msgs;
  for (int i = 1; i <= 20; ++i) {
    std::string body = "message " + std::to_string(i) + "\r\n";
    size_t lines = i == 11 ? 12'000 : static_cast<size_t>(i) * 40;
    for (size_t l = 0; l < lines; ++l) {
      body += (l % 5 == 0 ? "." : "") + std::string(40 + i, 'a' + i) + "\r\n";
    }
    msgs.push_back("Subject: " + std::to_string(i) + "\r\n\r\n" + body);
    Deliver(msgs.back());
  }
  ASSERT_GT(msgs[10].size(), 512u * 1024);  // one message over the bound
  Client c(Start());
  Login(c);
  EXPECT_TRUE(c.Command("DELE 3").starts_with("+OK"));
  EXPECT_TRUE(c.Command("DELE 4").starts_with("+OK"));
  for (int i = 1; i <= 20; ++i) {
    if (i == 3 || i == 4) continue;
    ASSERT_TRUE(c.Command("RETR " + std::to_string(i)).starts_with("+OK")) << i;
    EXPECT_TRUE(c.Message() == msgs[i - 1]) << "RETR " << i;
    if (i == 6) {  // again: its read-ahead chunk was taken the first time
      ASSERT_TRUE(c.Command("RETR 2").starts_with("+OK"));
      EXPECT_TRUE(c.Message() == msgs[1]);
    }
  }
  EXPECT_TRUE(c.Command("TOP 12 0").starts_with("+OK"));
  EXPECT_EQ(c.Message(), "Subject: 12\r\n\r\n");
  EXPECT_TRUE(c.Command("QUIT").starts_with("+OK"));
  EXPECT_TRUE(c.Closed());
  EXPECT_EQ(InboxRows().size(), 18u);
}

TEST_F(Pop3SessionTest, MessageExpungedElsewhereGivesErr) {
  Deliver(kMessage1);
  Deliver(kMessage2);
  Client c(Start());
  Login(c);
  // An IMAP session expunges message 1 after the snapshot.
  ASSERT_TRUE(store_->Expunge(Inbox().id, {{1, 1}}));
  EXPECT_EQ(c.Command("RETR 1"),
            "-ERR No such message: removed by another session");
  EXPECT_TRUE(c.Command("RETR 2").starts_with("+OK"));
  EXPECT_EQ(c.Message(), kMessage2);
  EXPECT_TRUE(c.Command("DELE 1").starts_with("+OK"));
  EXPECT_TRUE(c.Command("QUIT").starts_with("+OK"));
  EXPECT_TRUE(c.Closed());
  EXPECT_EQ(InboxRows().size(), 1u);
}

}  // namespace
}  // namespace correio::pop3

namespace correio::pop3 {
namespace {

// "<...@host>" from "+OK ... <...@host>", or "" when there is none.
std::string GreetingTimestamp(const std::string& greeting) {
  size_t lt = greeting.find('<');
  if (lt == std::string::npos || !greeting.ends_with('>')) return "";
  return greeting.substr(lt);
}

TEST_F(Pop3SessionTest, ApopWithSecretKeptByPasswordLogins) {
  config_.pop3.apop = true;
  config_.auth.allow_plaintext = false;  // APOP needs no TLS, like SCRAM
  uint16_t port = Start();
  {
    Client c(port);
    std::string ts = GreetingTimestamp(c.Line());
    ASSERT_FALSE(ts.empty());
    EXPECT_TRUE(ts.ends_with("@mail.example.org>"));
    // No secret yet (the account was made before APOP was on): refused
    // like a wrong password.
    EXPECT_EQ(c.Command("APOP alice@example.org " +
                        auth::ApopDigest(ts, kPassword)),
              "-ERR [AUTH] Authentication failed");
  }
  {
    // A password login (over TLS) stores the secret.
    Client c(port);
    EXPECT_TRUE(c.Line().starts_with("+OK"));
    EXPECT_EQ(c.Command("STLS"), "+OK Begin TLS negotiation");
    c.StartTls();
    EXPECT_TRUE(c.Command("USER " + std::string(kUser)).starts_with("+OK"));
    EXPECT_TRUE(c.Command("PASS " + std::string(kPassword)).starts_with("+OK"));
    EXPECT_TRUE(c.Command("QUIT").starts_with("+OK"));
  }
  EXPECT_EQ(store_->GetAccountById(account_.id)->apop_secret, kPassword);
  Deliver(kMessage1);
  std::string first_ts;
  {
    Client c(port);
    first_ts = GreetingTimestamp(c.Line());
    EXPECT_EQ(c.Command("APOP alice@example.org " +
                        auth::ApopDigest(first_ts, "wrong")),
              "-ERR [AUTH] Authentication failed");
    EXPECT_EQ(c.Command("APOP alice@example.org " +
                        AsciiUppercase(auth::ApopDigest(first_ts, kPassword))),
              "+OK Maildrop has 1 messages (" +
                  std::to_string(kMessage1.size()) + " octets)");
    EXPECT_EQ(c.Command("QUIT"), "+OK Bye (1 messages left)");
  }
  {
    // Every greeting has its own timestamp: a replayed digest fails.
    Client c(port);
    std::string ts = GreetingTimestamp(c.Line());
    EXPECT_NE(ts, first_ts);
    EXPECT_EQ(c.Command("APOP alice@example.org " +
                        auth::ApopDigest(first_ts, kPassword)),
              "-ERR [AUTH] Authentication failed");
  }
}

TEST_F(Pop3SessionTest, ApopOffRemovesTheSecret) {
  ASSERT_TRUE(store_->SetApopSecret(account_.id, kPassword));
  Client c(Start());
  std::string greeting = c.Line();
  EXPECT_EQ(greeting, "+OK mail.example.org correio POP3 server ready");
  EXPECT_EQ(c.Command("APOP alice@example.org "
                      "c4c9334bac560ecc979e58001b3e22fb"),
            "-ERR APOP is not offered");
  EXPECT_TRUE(c.Command("USER " + std::string(kUser)).starts_with("+OK"));
  EXPECT_TRUE(c.Command("PASS " + std::string(kPassword)).starts_with("+OK"));
  EXPECT_EQ(store_->GetAccountById(account_.id)->apop_secret, "");
}

TEST_F(Pop3SessionTest, LoginDelayAdvertisedAndEnforced) {
  config_.pop3.login_delay_seconds = 900;
  uint16_t port = Start();
  {
    Client c(port);
    EXPECT_TRUE(c.Line().starts_with("+OK"));
    EXPECT_EQ(c.Command("CAPA"), "+OK Capability list follows");
    auto caps = c.Body();
    EXPECT_NE(std::find(caps.begin(), caps.end(), "LOGIN-DELAY 900"),
              caps.end());
    EXPECT_TRUE(c.Command("USER " + std::string(kUser)).starts_with("+OK"));
    EXPECT_TRUE(c.Command("PASS " + std::string(kPassword)).starts_with("+OK"));
    EXPECT_TRUE(c.Command("QUIT").starts_with("+OK"));
  }
  Client c(port);
  std::string reply = Login(c);
  EXPECT_TRUE(reply.starts_with("-ERR [LOGIN-DELAY] Minimum time between "
                                "logins is 900 seconds; try again in "))
      << reply;
  // Still in AUTHORIZATION: the session goes on.
  EXPECT_EQ(c.Command("STAT"), "-ERR Command not valid in this state");
}

}  // namespace
}  // namespace correio::pop3
