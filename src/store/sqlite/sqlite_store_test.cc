#include "store/sqlite/sqlite_store.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "store/store_conformance.h"

namespace correio::store {
namespace {

std::unique_ptr<Store> OpenIn(ChangeHub* hub, const std::string& dir) {
  SqliteOptions o;
  o.path = dir + "/correio.db";
  auto r = OpenSqliteStore(o, hub);
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return r ? std::move(*r) : nullptr;
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         testing::Values(StoreBackend{"sqlite", OpenIn}),
                         BackendName);

class SqliteStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "correio-sqlite-XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/correio.db";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::unique_ptr<Store> Open(ChangeHub* hub = nullptr) {
    SqliteOptions o;
    o.path = path_;
    auto r = OpenSqliteStore(o, hub);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? std::move(*r) : nullptr;
  }
  static NewBlob Blob(const std::string& body) {
    NewBlob b;
    b.data = "Subject: t\r\n\r\n" + body;
    b.summary = "s";
    b.search_text = body;
    b.search_headers = "Subject: t";
    return b;
  }
  int64_t UserVersion() {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr);
    sqlite3_step(s);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(SqliteStoreTest, ReopenKeepsEverything) {
  AccountId id;
  MailboxId inbox;
  uint32_t validity;
  BlobId blob;
  {
    auto s = Open();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->AddDomain("example.org").has_value());
    Account a;
    a.address = "a@example.org";
    a.quota_bytes = 12345;
    id = s->CreateAccount(a)->id;
    ASSERT_TRUE(s->AddAlias({"@example.org", {"a@example.org"}}).has_value());
    inbox = s->GetMailbox(id, "INBOX")->id;
    validity = s->GetMailbox(id, "INBOX")->uid_validity;
    DeliveryTarget t;
    t.mailbox = inbox;
    t.flags.keywords = {"$Label1"};
    ASSERT_TRUE(s->Deliver(Blob("persisted body"), {t}).has_value());
    ASSERT_TRUE(s->Deliver(Blob("second"), {t}).has_value());
    ASSERT_TRUE(s->Expunge(inbox, {{2, 2}}).has_value());
    ASSERT_TRUE(s->SetSubscribed(id, "Elsewhere", true).has_value());
    blob = s->GetMessages(inbox, {{1, 1}})->at(0).blob;
  }
  EXPECT_EQ(UserVersion(), kSqliteSchemaVersion);
  auto s = Open();
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->HasDomain("example.org").value());
  auto a = s->GetAccount("a@example.org");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->quota_bytes, 12345u);
  EXPECT_EQ(s->GetAlias("@example.org")->targets[0], "a@example.org");
  auto box = s->GetMailbox(id, "INBOX").value();
  EXPECT_EQ(box.uid_validity, validity);
  EXPECT_EQ(box.uid_next, 3u);
  auto view = s->ListView(inbox).value();
  ASSERT_EQ(view.size(), 1u);
  EXPECT_EQ(view[0].flags.keywords, std::vector<std::string>{"$Label1"});
  EXPECT_EQ(s->ExpungedSince(inbox, 0).value(), std::vector<Uid>{2});
  EXPECT_EQ(s->ReadBlob(blob, 14, 100).value(), "persisted body");
  EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "PERSISTED").value(),
            std::vector<Uid>{1});
  EXPECT_EQ(s->GetQuotaUsage(id)->messages, 1u);
  auto subs = s->ListSubscriptions(id).value();
  EXPECT_NE(std::find(subs.begin(), subs.end(), "Elsewhere"), subs.end());
  // A new mailbox after reopen still gets a fresh UIDVALIDITY.
  auto fresh = s->CreateMailbox(id, "New", SpecialUse::kNone);
  ASSERT_TRUE(fresh.has_value());
  auto boxes = s->ListMailboxes(id).value();
  for (const auto& m : boxes) {
    if (m.id != fresh->id) {
      EXPECT_NE(m.uid_validity, fresh->uid_validity);
    }
  }
  EXPECT_TRUE(s->CheckIntegrity()->empty());
  // Delivering UID 3 after reopen: the counter survived.
  DeliveryTarget t;
  t.mailbox = inbox;
  EXPECT_EQ(s->Deliver(Blob("third"), {t})->at(0).uid, 3u);
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  { ASSERT_TRUE(Open()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  SqliteOptions o;
  o.path = path_;
  auto r = OpenSqliteStore(o, nullptr);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInternal);
}

TEST_F(SqliteStoreTest, IntegrityCheckFindsDamage) {
  MailboxId inbox;
  AccountId id;
  {
    auto s = Open();
    ASSERT_TRUE(s->AddDomain("example.org").has_value());
    Account a;
    a.address = "a@example.org";
    id = s->CreateAccount(a)->id;
    inbox = s->GetMailbox(id, "INBOX")->id;
    DeliveryTarget t;
    t.mailbox = inbox;
    ASSERT_TRUE(s->Deliver(Blob("x"), {t, t}).has_value());
    EXPECT_TRUE(s->CheckIntegrity()->empty());
  }
  // Break the books behind the store's back.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "UPDATE blobs SET refcount = 5; "
                         "UPDATE accounts SET used_bytes = 1",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto s = Open();
  auto problems = s->CheckIntegrity().value();
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("refcount"), std::string::npos);
  EXPECT_NE(problems[1].find("quota"), std::string::npos);
}

// Two store instances on one file stand for the server and an admin CLI
// process: both write at once through SQLite's file locks.
TEST_F(SqliteStoreTest, TwoInstancesShareTheFile) {
  auto s1 = Open();
  ASSERT_TRUE(s1->AddDomain("example.org").has_value());
  Account a;
  a.address = "a@example.org";
  AccountId id = s1->CreateAccount(a)->id;
  MailboxId inbox = s1->GetMailbox(id, "INBOX")->id;
  auto s2 = Open();
  ASSERT_TRUE(s2);
  constexpr int kEach = 30;
  std::vector<Uid> uids1, uids2;
  std::thread t1([&] {
    for (int i = 0; i < kEach; ++i) {
      auto r = s1->Deliver(Blob("one " + std::to_string(i)), {{inbox, {}, 0}});
      ASSERT_TRUE(r.has_value()) << r.error().ToString();
      uids1.push_back(r->at(0).uid);
    }
  });
  std::thread t2([&] {
    for (int i = 0; i < kEach; ++i) {
      auto r = s2->Deliver(Blob("two " + std::to_string(i)), {{inbox, {}, 0}});
      ASSERT_TRUE(r.has_value()) << r.error().ToString();
      uids2.push_back(r->at(0).uid);
    }
  });
  t1.join();
  t2.join();
  std::set<Uid> all(uids1.begin(), uids1.end());
  all.insert(uids2.begin(), uids2.end());
  EXPECT_EQ(all.size(), size_t{2 * kEach});
  EXPECT_EQ(s1->ListView(inbox)->size(), size_t{2 * kEach});
  EXPECT_EQ(s2->GetQuotaUsage(id)->messages, uint64_t{2 * kEach});
  EXPECT_TRUE(s2->CheckIntegrity()->empty());
}

// Crash safety (ARCHITECTURE "Storage"): a child delivers from several
// threads and reports every acknowledged UID through a pipe; the parent
// kills it with SIGKILL at a random moment, reopens the store and requires
// a healthy store holding every acknowledged message.
TEST_F(SqliteStoreTest, KillDuringDeliveriesLosesNothingAcknowledged) {
  MailboxId inbox;
  {
    auto s = Open();
    ASSERT_TRUE(s->AddDomain("example.org").has_value());
    Account a;
    a.address = "a@example.org";
    AccountId id = s->CreateAccount(a)->id;
    inbox = s->GetMailbox(id, "INBOX")->id;
  }
  std::mt19937 rng(std::random_device{}());
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      SqliteOptions o;
      o.path = path_;
      auto s = OpenSqliteStore(o, nullptr);
      if (!s) _exit(2);
      std::vector<std::thread> threads;
      for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
          for (int i = 0;; ++i) {
            NewBlob b = Blob("round " + std::to_string(round) + " thread " +
                             std::to_string(t) + " n " + std::to_string(i) +
                             std::string(static_cast<size_t>(i % 7) * 300,
                                         'z'));
            auto r = (*s)->Deliver(b, {{inbox, {}, 0}});
            if (!r) _exit(3);
            uint32_t uid = r->at(0).uid;
            // 4 bytes < PIPE_BUF: atomic, never interleaved.
            if (write(fds[1], &uid, sizeof uid) != sizeof uid) _exit(4);
          }
        });
      }
      for (auto& t : threads) t.join();
      _exit(0);
    }
    close(fds[1]);
    std::vector<Uid> acked;
    // Wait for some acknowledgements, then kill at a random moment.
    uint32_t uid;
    while (acked.size() < 5 && read(fds[0], &uid, sizeof uid) == sizeof uid) {
      acked.push_back(uid);
    }
    ASSERT_EQ(acked.size(), 5u) << "child died early";
    usleep(std::uniform_int_distribution<int>(0, 150000)(rng));
    kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited " << status;
    while (read(fds[0], &uid, sizeof uid) == sizeof uid) acked.push_back(uid);
    close(fds[0]);

    auto s = Open();
    ASSERT_TRUE(s);
    auto problems = s->CheckIntegrity().value();
    EXPECT_TRUE(problems.empty()) << problems.front();
    auto view = s->ListView(inbox).value();
    std::set<Uid> present;
    for (const auto& e : view) present.insert(e.uid);
    for (Uid u : acked) {
      EXPECT_TRUE(present.count(u)) << "acknowledged UID " << u << " lost";
    }
    // Every present message's body is readable.
    auto rows = s->GetMessages(inbox, {{1, 0xFFFFFFFFu}}).value();
    for (const auto& m : rows) {
      ASSERT_TRUE(s->ReadBlob(m.blob, 0, 1 << 20).has_value());
    }
  }
}

TEST_F(SqliteStoreTest, FsyncSwitchExists) {
  // The test-only switch opens a working store (synchronous=OFF); it exists
  // so durability tests can be run against a build that does not fsync.
  SqliteOptions o;
  o.path = path_;
  o.fsync = false;
  auto r = OpenSqliteStore(o, nullptr);
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE((*r)->AddDomain("example.org").has_value());
  EXPECT_TRUE((*r)->HasDomain("example.org").value());
}

}  // namespace
}  // namespace correio::store
