#include "store/sqlite/sqlite_store.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "base/temp_dir.h"
#include "store/sqlite/sqlite_db.h"
#include "store/store_conformance.h"

namespace correio::store {
namespace {

// A VFS over the default one that remembers each file's contents as of its
// last successful xSync: exactly what may be left after a power cut, when
// every write the OS had not flushed is gone (LevelDB's
// fault_injection_test does the same with its Env). SIGKILL cannot show
// this: the kernel still writes a killed process's page cache to disk, so a
// store that never fsyncs passes every kill test.
class PowerLossVfs {
 public:
  static constexpr const char* kName = "correio-powerloss";

  static PowerLossVfs& Get() {
    static PowerLossVfs* vfs = new PowerLossVfs();  // registered for good
    return *vfs;
  }

  // Writes the durable image of every file under `dir` into `to_dir`, as
  // the files would be found after a power cut now. Files never synced are
  // absent, the shared-memory index (-shm) is never durable.
  void WriteCrashImage(const std::string& dir, const std::string& to_dir) {
    std::string prefix = std::filesystem::canonical(dir).string() + "/";
    std::lock_guard lock(mu_);
    for (const auto& [path, data] : durable_) {
      if (path.compare(0, prefix.size(), prefix) != 0) continue;
      std::string out = to_dir + "/" + path.substr(prefix.size());
      FILE* f = fopen(out.c_str(), "wb");
      ASSERT_NE(f, nullptr) << out;
      ASSERT_EQ(fwrite(data.data(), 1, data.size(), f), data.size());
      fclose(f);
    }
  }

  size_t Syncs() {
    std::lock_guard lock(mu_);
    return syncs_;
  }

  // While set, every xSync fails with SQLITE_IOERR_FSYNC (a dying disk).
  void FailSyncs(bool fail) {
    std::lock_guard lock(mu_);
    fail_syncs_ = fail;
  }

  // While non-empty, every write to a file whose path contains it fails
  // with SQLITE_FULL, as the unix VFS reports ENOSPC (a full disk).
  void FailWritesTo(std::string path_part) {
    std::lock_guard lock(mu_);
    full_path_part_ = std::move(path_part);
  }

 private:
  struct File {
    sqlite3_file base;
    sqlite3_file* real;
    std::string* path;
  };

  PowerLossVfs() {
    real_ = sqlite3_vfs_find(nullptr);
    vfs_ = *real_;  // xAccess, xFullPathname ... work unchanged
    vfs_.zName = kName;
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + real_->szOsFile;
    vfs_.xOpen = &Open;
    vfs_.xDelete = &Delete;
    vfs_.pNext = nullptr;
    methods_.iVersion = 3;
    methods_.xClose = [](sqlite3_file* f) {
      File* p = reinterpret_cast<File*>(f);
      int rc = p->real->pMethods->xClose(p->real);
      delete p->path;
      return rc;
    };
    methods_.xRead = [](sqlite3_file* f, void* b, int n, sqlite3_int64 o) {
      File* p = reinterpret_cast<File*>(f);
      return p->real->pMethods->xRead(p->real, b, n, o);
    };
    methods_.xWrite = [](sqlite3_file* f, const void* b, int n,
                         sqlite3_int64 o) {
      File* p = reinterpret_cast<File*>(f);
      {
        PowerLossVfs& self = Get();
        std::lock_guard lock(self.mu_);
        if (!self.full_path_part_.empty() &&
            p->path->find(self.full_path_part_) != std::string::npos) {
          return SQLITE_FULL;
        }
      }
      return p->real->pMethods->xWrite(p->real, b, n, o);
    };
    methods_.xTruncate = [](sqlite3_file* f, sqlite3_int64 n) {
      File* p = reinterpret_cast<File*>(f);
      return p->real->pMethods->xTruncate(p->real, n);
    };
    methods_.xSync = &Sync;
    methods_.xFileSize = [](sqlite3_file* f, sqlite3_int64* n) {
      File* p = reinterpret_cast<File*>(f);
      return p->real->pMethods->xFileSize(p->real, n);
    };
    methods_.xLock = [](sqlite3_file* f, int l) {
      File* p = reinterpret_cast<File*>(f);
      return p->real->pMethods->xLock(p->real, l);
    };
    methods_.xUnlock = [](sqlite3_file* f, int l) {
      File* p = reinterpret_cast<File*>(f);
      return p->real->pMethods->xUnlock(p->real, l);
    };
    methods_.xCheckReservedLock = [](sqlite3_file* f, int* r) {
      File* p = reinterpret_cast<File*>(f);
      return p->real->pMethods->xCheckReservedLock(p->real, r);
    };
    methods_.xFileControl = [](sqlite3_file* f, int op, void* a) {
      File* p = reinterpret_cast<File*>(f);
      return p->real->pMethods->xFileControl(p->real, op, a);
    };
    methods_.xSectorSize = [](sqlite3_file* f) {
      File* p = reinterpret_cast<File*>(f);
      return p->real->pMethods->xSectorSize(p->real);
    };
    methods_.xDeviceCharacteristics = [](sqlite3_file* f) {
      File* p = reinterpret_cast<File*>(f);
      return p->real->pMethods->xDeviceCharacteristics(p->real);
    };
    methods_.xShmMap = [](sqlite3_file* f, int i, int sz, int e,
                          void volatile** pp) {
      File* p = reinterpret_cast<File*>(f);
      return p->real->pMethods->xShmMap(p->real, i, sz, e, pp);
    };
    methods_.xShmLock = [](sqlite3_file* f, int o, int n, int fl) {
      File* p = reinterpret_cast<File*>(f);
      return p->real->pMethods->xShmLock(p->real, o, n, fl);
    };
    methods_.xShmBarrier = [](sqlite3_file* f) {
      File* p = reinterpret_cast<File*>(f);
      p->real->pMethods->xShmBarrier(p->real);
    };
    methods_.xShmUnmap = [](sqlite3_file* f, int d) {
      File* p = reinterpret_cast<File*>(f);
      return p->real->pMethods->xShmUnmap(p->real, d);
    };
    // No memory-mapped reads: every read goes through xRead.
    methods_.xFetch = [](sqlite3_file*, sqlite3_int64, int, void** pp) {
      *pp = nullptr;
      return SQLITE_OK;
    };
    methods_.xUnfetch = [](sqlite3_file*, sqlite3_int64, void*) {
      return SQLITE_OK;
    };
    sqlite3_vfs_register(&vfs_, /*makeDflt=*/0);
  }

  static int Open(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags,
                  int* out_flags) {
    PowerLossVfs& self = Get();
    File* p = reinterpret_cast<File*>(f);
    p->real = reinterpret_cast<sqlite3_file*>(p + 1);
    int rc = self.real_->xOpen(self.real_, name, p->real, flags, out_flags);
    if (rc != SQLITE_OK) {
      if (p->real->pMethods) p->real->pMethods->xClose(p->real);
      p->base.pMethods = nullptr;
      return rc;
    }
    p->path = new std::string(name ? name : "");
    p->base.pMethods = &self.methods_;
    return SQLITE_OK;
  }

  static int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
    PowerLossVfs& self = Get();
    {
      std::lock_guard lock(self.mu_);
      self.durable_.erase(name);
    }
    return self.real_->xDelete(self.real_, name, sync_dir);
  }

  static int Sync(sqlite3_file* f, int flags) {
    File* p = reinterpret_cast<File*>(f);
    {
      PowerLossVfs& self = Get();
      std::lock_guard lock(self.mu_);
      if (self.fail_syncs_) return SQLITE_IOERR_FSYNC;
    }
    int rc = p->real->pMethods->xSync(p->real, flags);
    if (rc != SQLITE_OK) return rc;
    sqlite3_int64 size = 0;
    rc = p->real->pMethods->xFileSize(p->real, &size);
    if (rc != SQLITE_OK) return rc;
    std::string data(static_cast<size_t>(size), '\0');
    if (size > 0) {
      rc = p->real->pMethods->xRead(p->real, data.data(),
                                    static_cast<int>(size), 0);
      if (rc != SQLITE_OK) return rc;
    }
    PowerLossVfs& self = Get();
    std::lock_guard lock(self.mu_);
    self.durable_[*p->path] = std::move(data);
    self.syncs_++;
    return SQLITE_OK;
  }

  sqlite3_vfs* real_;
  sqlite3_vfs vfs_;
  sqlite3_io_methods methods_{};
  std::mutex mu_;
  std::map<std::string, std::string> durable_;
  size_t syncs_ = 0;
  bool fail_syncs_ = false;
  std::string full_path_part_;
};

std::unique_ptr<Store> OpenIn(ChangeHub* hub, const std::string& dir) {
  SqliteOptions o;
  o.path = dir + "/correio.db";
  // Deterministic write counts (StatsCountWrites): searches catch up on
  // their own; the indexer thread has tests of its own below.
  o.background_index = false;
  auto r = OpenSqliteStore(o, hub);
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return r ? std::move(*r) : nullptr;
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         testing::Values(StoreBackend{"sqlite", OpenIn}),
                         BackendName);

class SqliteStoreTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.empty()); }
  // background: the indexer thread (off where a test counts write calls).
  std::unique_ptr<Store> Open(ChangeHub* hub = nullptr,
                              bool background = true,
                              std::chrono::seconds index_delay = {}) {
    SqliteOptions o;
    o.path = path_;
    o.background_index = background;
    o.index_delay = index_delay;
    auto r = OpenSqliteStore(o, hub);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? std::move(*r) : nullptr;
  }
  static NewBlob Blob(const std::string& body,
                      const std::string& headers = "Subject: t") {
    NewBlob b;
    b.data = headers + "\r\n\r\n" + body;
    b.summary = "s";
    b.search_text = body;
    b.search_headers = headers;
    return b;
  }
  // Domain example.org and account a@example.org in `s`; its INBOX.
  static MailboxId NewInbox(Store& s) {
    EXPECT_TRUE(s.AddDomain("example.org").has_value());
    Account a;
    a.address = "a@example.org";
    auto made = s.CreateAccount(a);
    EXPECT_TRUE(made.has_value());
    return made ? s.GetMailbox(made->id, "INBOX")->id : MailboxId{0};
  }
  // No UID is left in `box` (set through a connection of its own, as the
  // admin CLI would): a delivery there fails with kTooBig, after writing
  // whatever it wrote before.
  void ExhaustUids(MailboxId box) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    std::string sql = "UPDATE mailboxes SET uid_next = 4294967295 WHERE id = " +
                      std::to_string(box);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
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

  TempDir tmp_{"correio-sqlite"};
  const std::string& dir_ = tmp_.path();
  const std::string path_ = dir_ + "/correio.db";
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
  ASSERT_EQ(view.entries.size(), 1u);
  ASSERT_EQ(view.keywords.size(), 1u);
  EXPECT_EQ(view.keywords[0].second, std::vector<std::string>{"$Label1"});
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
  ASSERT_EQ(
      sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr),
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
                         "UPDATE blob_refs SET refcount = 5; "
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

// Counts rows with a separate connection (the test's view of the files).
int64_t CountRows(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &s, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
  sqlite3_finalize(s);
  sqlite3_close(db);
  return n;
}

// Polls `pred` every 5 ms for up to 10 s (background work); its last answer.
template <class Pred>
bool WaitUntil(Pred pred) {
  for (int i = 0; i < 2000 && !pred(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

// The search database's disk full while the indexer works: the texts stay
// pending (a full disk is not a text the index refuses; the batch used to
// be deleted from fts_pending, losing those messages for body search for
// good), and are indexed once writes work again.
TEST_F(SqliteStoreTest, IndexerKeepsTextPendingWhileSearchDiskIsFull) {
  PowerLossVfs::Get();  // registers the VFS
  SqliteOptions o;
  o.path = path_;
  o.vfs = PowerLossVfs::kName;
  o.background_index = true;
  auto opened = OpenSqliteStore(o, nullptr);
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  Store& s = **opened;
  MailboxId inbox = NewInbox(s);
  PowerLossVfs::Get().FailWritesTo("correio-search.db");
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(s.Deliver(Blob("full disk body " + std::to_string(i)),
                          {{inbox, {}, 0}})
                    .has_value());
  }
  // Give the indexer time to try (it wakes on each commit).
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(CountRows(path_, "SELECT count(*) FROM fts_pending"), 20);
  PowerLossVfs::Get().FailWritesTo("");
  EXPECT_TRUE(WaitUntil([&] {
    return CountRows(path_, "SELECT count(*) FROM fts_pending") == 0;
  }));
  EXPECT_EQ(s.SearchText(inbox, TextField::kBody, "disk body").value().size(),
            20u);
  auto problems = s.CheckIntegrity().value();
  EXPECT_TRUE(problems.empty()) << problems.front();
}

// The indexer thread moves every pending text into search.db, then drops
// the index rows and blob rows of expunged messages; nothing is left
// behind and the books agree at every step.
TEST_F(SqliteStoreTest, BackgroundIndexerIndexesAndSweeps) {
  auto s = Open();
  MailboxId inbox = NewInbox(*s);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(
        s->Deliver(Blob("body number " + std::to_string(i)), {{inbox, {}, 0}})
            .has_value());
  }
  std::string search = SearchIndexPath(path_);
  EXPECT_TRUE(WaitUntil([&] {
    return CountRows(path_, "SELECT count(*) FROM fts_pending") == 0;
  }));
  EXPECT_EQ(CountRows(search, "SELECT count(*) FROM blob_text"), 40);
  EXPECT_TRUE(s->CheckIntegrity()->empty());
  ASSERT_TRUE(s->Expunge(inbox, {{1, 30}}, 0).has_value());
  EXPECT_TRUE(WaitUntil([&] {
    return CountRows(path_, "SELECT count(*) FROM blobs") == 10;
  }));
  EXPECT_EQ(CountRows(search, "SELECT count(*) FROM blob_text"), 10);
  EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "number 3").value(),
            (std::vector<Uid>{31, 32, 33, 34, 35, 36, 37, 38, 39, 40}));
  EXPECT_TRUE(s->CheckIntegrity()->empty());
  // Every blob gone: a new one still gets a fresh id, never a swept one.
  ASSERT_TRUE(s->Expunge(inbox, {{31, 40}}, 0).has_value());
  EXPECT_TRUE(WaitUntil(
      [&] { return CountRows(path_, "SELECT count(*) FROM blobs") == 0; }));
  ASSERT_TRUE(s->Deliver(Blob("after the sweep"), {{inbox, {}, 0}}));
  EXPECT_EQ(s->GetMessages(inbox, {{41, 41}})->at(0).blob, 41);
  EXPECT_TRUE(s->CheckIntegrity()->empty());
}

// The background pass indexes text kept as a place in the blob
// (NewBlob::search_text_in_data) as that slice, as a search's catch-up
// does (conformance SearchTextKeptAsSliceOfTheBody).
TEST_F(SqliteStoreTest, BackgroundIndexerCutsTextOutOfTheBlob) {
  auto s = Open();
  MailboxId inbox = NewInbox(*s);
  NewBlob b;
  b.data = "Subject: outside\r\n\r\ninside words\r\ntrailer";
  b.summary = "s";
  b.search_text_in_data = NewBlob::Slice{b.data.find("inside"), 14};
  ASSERT_TRUE(s->Deliver(b, {{inbox, {}, 0}}).has_value());
  EXPECT_TRUE(WaitUntil([&] {
    return CountRows(path_, "SELECT count(*) FROM fts_pending") == 0;
  }));
  EXPECT_EQ(CountRows(SearchIndexPath(path_),
                      "SELECT count(*) FROM blob_text WHERE body = "
                      "'inside words\r\n'"),
            1);
}

// The background pass runs at idle priority, so a search that catches up
// its mailbox makes it step aside (it could hold the index lock for long
// while it gets no CPU). Whether it stepped aside is not visible here;
// what is: searches racing the pass answer in full, the pass goes on once
// they are done (the other mailbox's backlog gets indexed without any
// search; a waiter count left behind would stop it for good), and nothing
// is lost or indexed twice.
TEST_F(SqliteStoreTest, BackgroundIndexerStepsAsideForASearchAndGoesOn) {
  auto s = Open();
  MailboxId inbox = NewInbox(*s);
  AccountId account = s->GetMailboxById(inbox)->account;
  MailboxId other = s->CreateMailbox(account, "Other", SpecialUse::kNone)->id;
  // Enough text that the pass is still at work when the searches start.
  const std::string filler(20 * 1024, 'w');
  constexpr int kEach = 100;
  for (int i = 0; i < kEach; ++i) {
    for (MailboxId box : {inbox, other}) {
      // Each body its own (the same body twice would be one blob).
      auto r = s->Deliver(Blob("box " + std::to_string(box) + " needle " +
                               std::to_string(i) + " " + filler),
                          {{box, {}, 0}});
      ASSERT_TRUE(r.has_value()) << r.error().ToString();
    }
  }
  std::vector<std::thread> searchers;
  for (int t = 0; t < 2; ++t) {
    searchers.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        auto found = s->SearchText(inbox, TextField::kBody, "needle");
        ASSERT_TRUE(found.has_value());
        EXPECT_EQ(found->size(), size_t{kEach});
      }
    });
  }
  for (auto& t : searchers) t.join();
  EXPECT_TRUE(WaitUntil([&] {
    return CountRows(path_, "SELECT count(*) FROM fts_pending") == 0;
  }));
  EXPECT_EQ(CountRows(SearchIndexPath(path_), "SELECT count(*) FROM blob_text"),
            2 * kEach);
  EXPECT_EQ(s->SearchText(other, TextField::kBody, "needle 7").value().size(),
            11u);  // 7 and 70-79
  EXPECT_TRUE(s->CheckIntegrity()->empty());
}

// The writer does not checkpoint the WAL itself (a thread beside it does,
// with its own connection), yet the WAL stays bounded and everything
// written survives a reopen.
TEST_F(SqliteStoreTest, WalIsCheckpointedBesideTheWriterAndStaysBounded) {
  auto s = Open(nullptr, /*background=*/false);
  MailboxId inbox = NewInbox(*s);
  constexpr Uid kMessages = 200;
  const std::string body(100 * 1024, 'x');  // 20 MB, 5x the 1,000 pages
  for (Uid i = 1; i <= kMessages; ++i) {
    ASSERT_TRUE(
        s->Deliver(Blob(std::to_string(i) + "." + body), {{inbox, {}, 0}})
            .has_value());
  }
  EXPECT_TRUE(WaitUntil([&] { return s->Stats().checkpoints >= 1; }));
  // Past 4,000 pages (16 MB) the writer would checkpoint itself; the body
  // text also waits in fts_pending (no indexer here), so without any
  // checkpoint the WAL would pass 40 MB.
  EXPECT_LE(std::filesystem::file_size(path_ + "-wal"), uint64_t{18} << 20);
  s.reset();
  s = Open(nullptr, /*background=*/false);
  auto rows = s->GetMessages(inbox, {{1, kMessages}});
  ASSERT_TRUE(rows.has_value());
  ASSERT_EQ(rows->size(), size_t{kMessages});
  EXPECT_EQ(s->ReadBlob(rows->back().blob, 0, 18).value(),
            "Subject: t\r\n\r\n200.");
  EXPECT_TRUE(s->CheckIntegrity()->empty());
}

// With an index delay the indexer leaves young text alone: what is
// deleted before it comes of age is dropped without ever being indexed,
// and a search still finds what is left (it catches up on its own).
TEST_F(SqliteStoreTest, IndexDelayLeavesYoungMailToSearchOrDeletion) {
  auto s = Open(nullptr, /*background=*/true, std::chrono::seconds(3600));
  MailboxId inbox = NewInbox(*s);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(s->Deliver(Blob("young text " + std::to_string(i)),
                           {{inbox, {}, 0}}));
  }
  std::string search = SearchIndexPath(path_);
  ASSERT_TRUE(s->Expunge(inbox, {{1, 3}}, 0).has_value());
  // The indexer's timer (with a delay commits do not wake it): the
  // garbage goes, nothing is indexed, the two young texts stay pending.
  EXPECT_TRUE(WaitUntil(
      [&] { return CountRows(path_, "SELECT count(*) FROM blobs") == 2; }));
  EXPECT_EQ(CountRows(path_, "SELECT count(*) FROM fts_pending"), 2);
  EXPECT_EQ(CountRows(search, "SELECT count(*) FROM blob_text"), 0);
  EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "young").value(),
            (std::vector<Uid>{4, 5}));
  EXPECT_EQ(CountRows(search, "SELECT count(*) FROM blob_text"), 2);
  EXPECT_TRUE(s->CheckIntegrity()->empty());
}

// With an index delay the text a commit queues is young, so the commit does
// not wake the indexer: a burst of deliveries costs no indexer wake-up per
// commit (before, each of these 40 commits woke it for two reads). The
// indexer's own timer (every 2 s) still finds the text once it is due.
TEST_F(SqliteStoreTest, CommitsDoNotWakeTheIndexerWhileTextIsYoung) {
  auto s = Open(nullptr, /*background=*/true, std::chrono::seconds(1));
  MailboxId inbox = NewInbox(*s);
  // Start just after a timer wake-up (at idle priority it may come late
  // on a busy machine).
  ASSERT_TRUE(WaitUntil([&] { return s->Stats().index_wakes >= 1; }));
  auto start = std::chrono::steady_clock::now();
  StoreStats was = s->Stats();
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(
        s->Deliver(Blob("burst text " + std::to_string(i)), {{inbox, {}, 0}}));
  }
  StoreStats now = s->Stats();
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::steady_clock::now() - start)
                     .count();
  EXPECT_EQ(now.commits - was.commits, 40u);  // one per delivery
  // The timer's: one per 2 s the burst took, and one more for a part.
  EXPECT_LE(now.index_wakes - was.index_wakes,
            static_cast<uint64_t>(seconds / 2 + 1))
      << seconds << " s";
  std::string search = SearchIndexPath(path_);
  EXPECT_TRUE(WaitUntil([&] {
    return CountRows(search, "SELECT count(*) FROM blob_text") == 40;
  }));
  EXPECT_EQ(CountRows(path_, "SELECT count(*) FROM fts_pending"), 0);
}

// Header candidates never wait for the index: what is pending is a
// candidate as it stands, and nothing is indexed on the way.
TEST_F(SqliteStoreTest, HeaderCandidatesIncludePendingWithoutIndexing) {
  auto s = Open(nullptr, /*background=*/false);
  MailboxId inbox = NewInbox(*s);
  ASSERT_TRUE(s->Deliver(Blob("one", "Subject: alpha"), {{inbox, {}, 0}}));
  ASSERT_TRUE(s->Deliver(Blob("two", "Subject: beta"), {{inbox, {}, 0}}));
  ASSERT_TRUE(s->SearchText(inbox, TextField::kHeaders, "x").has_value());
  ASSERT_TRUE(s->Deliver(Blob("three", "Subject: gamma"), {{inbox, {}, 0}}));
  EXPECT_EQ(CountRows(path_, "SELECT count(*) FROM fts_pending"), 1);
  // Indexed: only the match (1); pending: 3, whatever it holds.
  // Both ways of finding the pending ones: through the mailbox's messages
  // (small mailbox) and through the store's backlog (large or unknown).
  for (size_t hint : {size_t{3}, size_t{0}, size_t{1000000}}) {
    EXPECT_EQ(s->HeaderCandidates(inbox, "alpha", hint).value(),
              (std::vector<Uid>{1, 3}))
        << hint;
    EXPECT_EQ(s->HeaderCandidates(inbox, "delta", hint).value(),
              std::vector<Uid>{3})
        << hint;
  }
  EXPECT_EQ(CountRows(path_, "SELECT count(*) FROM fts_pending"), 1);
}

// Many pending messages (a mailbox just filled) are indexed rather than
// all handed back as candidates.
TEST_F(SqliteStoreTest, HeaderCandidatesIndexAManyPendingMailboxFirst) {
  auto s = Open(nullptr, /*background=*/false);
  MailboxId inbox = NewInbox(*s);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(s->Deliver(Blob("b" + std::to_string(i),
                                "Subject: n" + std::to_string(i) + "x"),
                           {{inbox, {}, 0}}));
  }
  EXPECT_EQ(s->HeaderCandidates(inbox, "n17x", 40).value(),
            std::vector<Uid>{18});
  EXPECT_EQ(CountRows(path_, "SELECT count(*) FROM fts_pending"), 0);
}

// Without the indexer thread a search indexes what its mailbox still has
// pending; an expunged body reads as gone at once, and a new copy of the
// same body (deduplicated onto the garbage blob) is searchable again.
TEST_F(SqliteStoreTest, SearchCatchesUpWithoutTheIndexer) {
  auto s = Open(nullptr, /*background=*/false);
  MailboxId inbox = NewInbox(*s);
  ASSERT_TRUE(s->Deliver(Blob("needle in a haystack"), {{inbox, {}, 0}}));
  ASSERT_TRUE(s->Deliver(Blob("other text"), {{inbox, {}, 0}}));
  EXPECT_EQ(CountRows(path_, "SELECT count(*) FROM fts_pending"), 2);
  EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "needle").value(),
            std::vector<Uid>{1});
  EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "ne").value(),
            std::vector<Uid>{1});  // short needles: LIKE over the index
  EXPECT_EQ(CountRows(path_, "SELECT count(*) FROM fts_pending"), 0);
  BlobId blob = s->GetMessages(inbox, {{1, 1}})->at(0).blob;
  ASSERT_TRUE(s->Expunge(inbox, {{1, 1}}, 0).has_value());
  EXPECT_EQ(s->GetBlobInfo(blob).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(s->ReadBlob(blob, 0, 10).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(
      CountRows(path_, "SELECT count(*) FROM blob_refs WHERE refcount = 0"), 1);
  EXPECT_TRUE(s->CheckIntegrity()->empty());
  ASSERT_TRUE(s->Deliver(Blob("needle in a haystack"), {{inbox, {}, 0}}));
  EXPECT_EQ(s->GetMessages(inbox, {{3, 3}})->at(0).blob, blob);
  EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "needle").value(),
            std::vector<Uid>{3});
  EXPECT_TRUE(s->CheckIntegrity()->empty());
}

// A lost correio-search.db comes back empty: body searches miss every
// older message, CheckIntegrity names them, and Reindex (the `correio
// store reindex` command) gives the index their text back, as a copy or
// as a place in the body, and nothing the index never needed.
TEST_F(SqliteStoreTest, ReindexRebuildsALostIndex) {
  MailboxId inbox;
  BlobId gone;
  {
    auto s = Open(nullptr, /*background=*/false);
    inbox = NewInbox(*s);
    ASSERT_TRUE(s->Deliver(Blob("alpha copy"), {{inbox, {}, 0}}));
    NewBlob sliced;
    sliced.data = "Subject: s\r\n\r\nbravo slice\r\n";
    sliced.summary = "s";
    sliced.search_text_in_data = NewBlob::Slice{sliced.data.find("bravo"), 11};
    ASSERT_TRUE(s->Deliver(sliced, {{inbox, {}, 0}}));
    ASSERT_TRUE(s->Deliver(Blob("charlie expunged"), {{inbox, {}, 0}}));
    ASSERT_TRUE(s->Deliver(Blob("delta raced"), {{inbox, {}, 0}}));
    EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "alpha").value(),
              std::vector<Uid>{1});  // indexed (caught up)
    gone = s->GetMessages(inbox, {{3, 3}})->at(0).blob;
    ASSERT_TRUE(s->Expunge(inbox, {{3, 3}}, 0).has_value());
  }
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(SearchIndexPath(path_) + suffix);
  }
  auto s = Open(nullptr, /*background=*/false);
  EXPECT_TRUE(s->SearchText(inbox, TextField::kBody, "alpha")->empty());
  EXPECT_EQ(s->CheckIntegrity()->size(), 3u);  // neither indexed nor pending

  // The extractor sees each live body as stored, and only those. The last
  // one is expunged while it is being decoded: it is not queued.
  std::vector<std::string> seen;
  auto extract = [&](std::string data) -> Result<NewBlob> {
    seen.push_back(data);
    if (data.find("delta") != std::string::npos) {
      EXPECT_TRUE(s->Expunge(inbox, {{4, 4}}, 0).has_value());
    }
    NewBlob b;
    b.data = std::move(data);
    size_t body = b.data.find("\r\n\r\n") + 4;
    if (b.data.find("bravo") != std::string::npos) {
      b.search_text_in_data = NewBlob::Slice{body, b.data.size() - body};
    } else {
      b.search_text = b.data.substr(body);
    }
    b.search_headers = b.data.substr(0, body);
    return b;
  };
  auto counts = s->Reindex(extract, Store::ReindexScope::kMissing);
  ASSERT_TRUE(counts.has_value()) << counts.error().ToString();
  EXPECT_EQ(counts->queued, 2u);
  EXPECT_EQ(counts->dropped, 0u);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], "Subject: t\r\n\r\nalpha copy");
  EXPECT_EQ(seen[1], "Subject: s\r\n\r\nbravo slice\r\n");
  EXPECT_TRUE(s->CheckIntegrity()->empty());
  EXPECT_EQ(CountRows(path_,
                      "SELECT count(*) FROM fts_pending WHERE "
                      "queued_at = 0"),
            2);  // due at once, whatever the index delay
  EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "alpha").value(),
            std::vector<Uid>{1});
  EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "bravo").value(),
            std::vector<Uid>{2});
  EXPECT_EQ(s->SearchText(inbox, TextField::kText, "Subject: s").value(),
            std::vector<Uid>{2});
  EXPECT_EQ(s->ReadBlob(gone, 0, 1).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(CountRows(path_, "SELECT count(*) FROM fts_pending"), 0);
  // Nothing left.
  EXPECT_EQ(s->Reindex(extract, Store::ReindexScope::kMissing)->queued, 0u);
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_TRUE(s->CheckIntegrity()->empty());
}

// The index and the store restored from different backups. An older index
// holds the row of a body deleted since; a newer one holds a row above
// the store's blob id counter, whose id the next new body would take.
// Opening the store raises the counter past the index's rows, so the next
// body gets an id no such row has; Reindex drops both kinds of rows and
// queues what is missing.
TEST_F(SqliteStoreTest, ReindexDropsTheRowsOfBodiesThatAreGone) {
  const std::string index = SearchIndexPath(path_);
  // With every store closed, the files are whole (no -wal, no -shm).
  auto copy = [](const std::string& from, const std::string& to) {
    std::filesystem::copy_file(
        from, to, std::filesystem::copy_options::overwrite_existing);
  };
  auto indexed = [&] {
    return WaitUntil([&] {
      return CountRows(path_, "SELECT count(*) FROM fts_pending") == 0;
    });
  };
  MailboxId inbox;
  {
    auto s = Open();
    inbox = NewInbox(*s);
    ASSERT_TRUE(s->Deliver(Blob("alpha kept"), {{inbox, {}, 0}}));
    ASSERT_TRUE(s->Deliver(Blob("bravo deleted"), {{inbox, {}, 0}}));
    ASSERT_TRUE(indexed());
  }
  copy(index, path_ + ".index-1");  // rows 1 and 2
  {
    auto s = Open();
    ASSERT_TRUE(s->Expunge(inbox, {{2, 2}}, 0).has_value());
    ASSERT_TRUE(WaitUntil(
        [&] { return CountRows(path_, "SELECT count(*) FROM blobs") == 1; }));
  }
  copy(path_, path_ + ".store-2");  // blob 1; counter at 2
  {
    auto s = Open();
    ASSERT_TRUE(s->Deliver(Blob("charlie newer"), {{inbox, {}, 0}}));
    ASSERT_TRUE(indexed());
  }
  copy(index, path_ + ".index-3");  // rows 1 and 3
  auto extract = [](std::string data) -> Result<NewBlob> {
    size_t body = data.find("\r\n\r\n") + 4;
    NewBlob b = Blob(data.substr(body));
    b.data = std::move(data);
    return b;
  };

  // An older index: row 2 is of a deleted body, body 3 is not indexed.
  copy(path_ + ".index-1", index);
  {
    auto s = Open();
    EXPECT_EQ(s->CheckIntegrity()->size(), 2u);
    auto counts = s->Reindex(extract, Store::ReindexScope::kMissing);
    ASSERT_TRUE(counts.has_value()) << counts.error().ToString();
    EXPECT_EQ(counts->dropped, 1u);
    EXPECT_EQ(counts->queued, 1u);
    ASSERT_TRUE(indexed());
    EXPECT_TRUE(s->CheckIntegrity()->empty());
    EXPECT_EQ(CountRows(index, "SELECT count(*) FROM blob_text"), 2);
    EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "charlie").value(),
              std::vector<Uid>{3});
  }

  // A newer index: row 3 is above the store's counter (2 in store-2).
  copy(path_ + ".store-2", path_);
  copy(path_ + ".index-3", index);
  {
    auto s = Open();
    ASSERT_TRUE(s->Deliver(Blob("delta newest"), {{inbox, {}, 0}}));
    auto delta = s->GetMessages(inbox, {{3, 3}});
    ASSERT_TRUE(delta.has_value() && delta->size() == 1u);
    EXPECT_EQ(delta->at(0).blob, BlobId{4});
    EXPECT_EQ(s->CheckIntegrity()->size(), 1u);  // index row 3
    auto counts = s->Reindex(extract, Store::ReindexScope::kMissing);
    ASSERT_TRUE(counts.has_value()) << counts.error().ToString();
    EXPECT_EQ(counts->dropped, 1u);
    EXPECT_EQ(counts->queued, 0u);  // delta is pending or indexed
    ASSERT_TRUE(indexed());
    EXPECT_TRUE(s->SearchText(inbox, TextField::kBody, "charlie")->empty());
    EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "delta").value(),
              std::vector<Uid>{3});
    EXPECT_TRUE(s->CheckIntegrity()->empty());
  }
}

// `reindex --all` gives every body its text again, as the extractor gives
// it now (a decoder fixed since delivery). Until the background pass has
// it, searches answer from the old text and do not index the mailbox
// again first; then they find the new text, not the old.
TEST_F(SqliteStoreTest, ReindexAllReplacesEveryText) {
  auto s = Open(nullptr, /*background=*/false);
  MailboxId inbox = NewInbox(*s);
  ASSERT_TRUE(s->Deliver(Blob("garbled"), {{inbox, {}, 0}}));
  ASSERT_TRUE(s->Deliver(Blob("mangled"), {{inbox, {}, 0}}));
  EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "garbled").value(),
            std::vector<Uid>{1});
  ASSERT_TRUE(s->Deliver(Blob("pending"), {{inbox, {}, 0}}));
  int calls = 0;
  auto extract = [&](std::string data) -> Result<NewBlob> {
    ++calls;
    NewBlob b = Blob(data.find("garbled") != std::string::npos ? "decoded one"
                                                               : "decoded two");
    b.data = std::move(data);
    return b;
  };
  auto counts = s->Reindex(extract, Store::ReindexScope::kAll);
  ASSERT_TRUE(counts.has_value()) << counts.error().ToString();
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(counts->queued, 2u);  // the third is pending already
  EXPECT_EQ(counts->dropped, 0u);
  // The search indexes the pending delivery, not the two refreshes.
  EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "garbled").value(),
            std::vector<Uid>{1});
  EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "pending").value(),
            std::vector<Uid>{3});
  EXPECT_EQ(CountRows(path_, "SELECT count(*) FROM fts_pending"), 2);
  EXPECT_EQ(s->HeaderCandidates(inbox, "nothing", 3).value(),
            std::vector<Uid>{});
  EXPECT_TRUE(s->CheckIntegrity()->empty());
  s.reset();
  s = Open();  // the background pass
  EXPECT_TRUE(WaitUntil([&] {
    return CountRows(path_, "SELECT count(*) FROM fts_pending") == 0;
  }));
  EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "decoded").value(),
            (std::vector<Uid>{1, 2}));
  EXPECT_TRUE(s->SearchText(inbox, TextField::kBody, "garbled")->empty());
  EXPECT_TRUE(s->CheckIntegrity()->empty());
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
  EXPECT_EQ(s1->ListView(inbox)->entries.size(), size_t{2 * kEach});
  EXPECT_EQ(s2->GetQuotaUsage(id)->messages, uint64_t{2 * kEach});
  EXPECT_TRUE(s2->CheckIntegrity()->empty());
}

// The admin CLI and the server each open the store: a directory write
// through one is seen by the other's next DirectoryVersion, through the
// shared file, with no read of the database.
TEST_F(SqliteStoreTest, DirectoryVersionIsSharedThroughItsFile) {
  auto server = Open();
  auto cli = Open(nullptr, /*background=*/false);
  uint64_t before = server->DirectoryVersion();
  ASSERT_NE(before, 0u);
  EXPECT_EQ(cli->DirectoryVersion(), before);
  ASSERT_TRUE(cli->AddDomain("example.org").has_value());
  EXPECT_GT(server->DirectoryVersion(), before);
  EXPECT_EQ(server->DirectoryVersion(), cli->DirectoryVersion());
  EXPECT_TRUE(std::filesystem::exists(DirectoryVersionPath(path_)));
  // It outlives both: a store opened later goes on from there.
  uint64_t now = server->DirectoryVersion();
  server.reset();
  cli.reset();
  EXPECT_EQ(Open()->DirectoryVersion(), now);
}

// Without the file the store works and says "not tracked", so nothing is
// cached from its directory.
TEST_F(SqliteStoreTest, DirectoryVersionIsZeroWithoutItsFile) {
  std::filesystem::create_directory(DirectoryVersionPath(path_));
  auto s = Open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->DirectoryVersion(), 0u);
  ASSERT_TRUE(s->AddDomain("example.org").has_value());
  EXPECT_EQ(s->DirectoryVersion(), 0u);
  EXPECT_TRUE(s->HasDomain("example.org").value());
}

// Crash safety (ARCHITECTURE "Storage"): a child delivers from several
// threads and reports every acknowledged UID through a pipe; the parent
// kills it with SIGKILL at a random moment, reopens the store and requires
// a healthy store holding every acknowledged message. This catches a write
// acknowledged before its commit, or a torn multi-statement write; it
// cannot catch a missing fsync (the kernel keeps a killed process's
// writes), which is what the PowerLoss tests below are for.
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
            NewBlob b =
                Blob("round " + std::to_string(round) + " thread " +
                     std::to_string(t) + " n " + std::to_string(i) +
                     std::string(static_cast<size_t>(i % 7) * 300, 'z'));
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
    for (const auto& e : view.entries) present.insert(e.uid());
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

// Group commit: while another connection (standing for the admin CLI)
// holds the write lock, one call waits on the writer thread and the rest
// queue; once the lock is free they all share ONE commit, and a call that
// fails half way (after writing a body and a message) is rolled back alone.
TEST_F(SqliteStoreTest, QueuedWritesShareOneCommit) {
  LocalChangeHub hub;
  auto s = Open(&hub, /*background=*/false);
  ASSERT_TRUE(s->AddDomain("example.org").has_value());
  Account a;
  a.address = "a@example.org";
  AccountId id = s->CreateAccount(a)->id;
  Account full;
  full.address = "full@example.org";
  full.quota_messages = 1;
  AccountId full_id = s->CreateAccount(full)->id;
  MailboxId inbox = s->GetMailbox(id, "INBOX")->id;
  MailboxId junk = s->GetMailbox(id, "Junk")->id;
  MailboxId full_inbox = s->GetMailbox(full_id, "INBOX")->id;
  ASSERT_TRUE(s->Deliver(Blob("fills the quota"), {{full_inbox, {}, 0}}));
  std::vector<Uid> published;
  std::mutex pub_mu;
  auto sub = hub.Subscribe(id, [&](const std::shared_ptr<const Change>& c) {
    std::lock_guard lock(pub_mu);
    if (c->kind == Change::Kind::kAppended && c->mailbox == inbox) {
      published.push_back(c->messages.at(0).uid);
    }
  });

  // Junk's UID space is exhausted: a delivery to INBOX + Junk writes the
  // body and the INBOX row, then fails on Junk.
  ExhaustUids(junk);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr),
            SQLITE_OK);

  auto wait_for = [&](auto pred) {
    while (!pred(s->Stats()))
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  StoreStats before = s->Stats();
  std::thread first([&] {
    EXPECT_TRUE(s->Deliver(Blob("first"), {{inbox, {}, 0}}).has_value());
  });
  wait_for([](const StoreStats& st) { return st.running == 1; });

  constexpr int kOk = 10;
  std::vector<std::thread> threads;
  std::vector<Result<std::vector<Delivered>>> results(kOk + 3);
  for (int i = 0; i < kOk; ++i) {
    threads.emplace_back([&, i] {
      results[i] =
          s->Deliver(Blob("queued " + std::to_string(i)), {{inbox, {}, 0}});
    });
  }
  threads.emplace_back([&] {
    results[kOk] =
        s->Deliver(Blob("half way"), {{inbox, {}, 0}, {junk, {}, 0}});
  });
  threads.emplace_back([&] {
    results[kOk + 1] = s->Deliver(Blob("over quota"), {{full_inbox, {}, 0}});
  });
  threads.emplace_back([&] {
    results[kOk + 2] = s->Deliver(Blob("no mailbox"), {{987654, {}, 0}});
  });
  wait_for([&](const StoreStats& st) { return st.queued == kOk + 3; });
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(other);
  first.join();
  for (auto& t : threads) t.join();

  StoreStats after = s->Stats();
  EXPECT_EQ(after.commits - before.commits, 2u);  // [first], [everyone else]
  EXPECT_EQ(after.largest_batch, uint64_t{kOk + 3});
  EXPECT_EQ(after.write_calls - before.write_calls, uint64_t{kOk + 4});
  EXPECT_EQ(after.failed_calls - before.failed_calls, 3u);
  for (int i = 0; i < kOk; ++i) {
    EXPECT_TRUE(results[i].has_value()) << results[i].error().ToString();
  }
  EXPECT_EQ(results[kOk].error().code(), ErrorCode::kTooBig);
  EXPECT_EQ(results[kOk + 1].error().code(), ErrorCode::kOverQuota);
  EXPECT_EQ(results[kOk + 2].error().code(), ErrorCode::kNotFound);

  // The half-way job left nothing behind: not its INBOX row, not its body,
  // not its UID; the jobs around it kept theirs.
  auto view = s->ListView(inbox).value().entries;
  ASSERT_EQ(view.size(), size_t{kOk + 1});
  for (size_t i = 0; i < view.size(); ++i) EXPECT_EQ(view[i].uid(), i + 1);
  EXPECT_TRUE(s->SearchText(inbox, TextField::kBody, "half way")->empty());
  EXPECT_EQ(s->GetMailboxById(junk)->uid_next, 4294967295u);
  EXPECT_EQ(s->GetQuotaUsage(id)->messages, uint64_t{kOk + 1});
  EXPECT_EQ(s->GetQuotaUsage(full_id)->messages, 1u);
  // Published after the commit, once each, in commit order.
  std::lock_guard lock(pub_mu);
  std::vector<Uid> want;
  for (Uid u = 1; u <= kOk + 1; ++u) want.push_back(u);
  EXPECT_EQ(published, want);
  EXPECT_TRUE(s->CheckIntegrity()->empty());
}

// A job of a group commit runs inside a SAVEPOINT, which keeps a copy of
// every page it changes (the sub-journal) in memory up to a limit, then
// writes it to a temporary file in pieces as large as that limit. SQLite's
// unix VFS writes at most 0x1ffff bytes per call and reports the rest as a
// full disk: with the limit at 1 MiB, every job that changed more than
// that (the indexer deleting a batch of pending texts beside a delivery)
// failed its whole batch with "database or disk is full".
// Its own test process (ctest runs one per test): Db::Open configures
// SQLite before anything else starts it.
TEST(SqliteSubJournal, ASavepointBiggerThanItsMemoryCommits) {
  TempDir dir("correio-subjournal");
  for (bool fsync : {true, false}) {
    SCOPED_TRACE(fsync ? "fsync" : "no fsync");
    auto db = sqlite::Db::Open(dir.path() + (fsync ? "/sync.db" : "/nosync.db"),
                               fsync, 1000);
    ASSERT_TRUE(db) << db.error().message();
    ASSERT_TRUE((*db)->Exec("CREATE TABLE t(v BLOB)"));
    ASSERT_TRUE((*db)->Exec(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
        "WHERE i < 600) INSERT INTO t SELECT randomblob(4000) FROM n"));
    ASSERT_TRUE((*db)->Exec("BEGIN IMMEDIATE"));
    ASSERT_TRUE((*db)->Exec("SAVEPOINT job"));
    // Every page of the 2.4 MB table changes and goes to the sub-journal.
    auto st = (*db)->Exec("UPDATE t SET v = randomblob(4000)");
    ASSERT_TRUE(st) << st.error().ToString();
    ASSERT_TRUE((*db)->Exec("RELEASE job"));
    ASSERT_TRUE((*db)->Exec("COMMIT"));
  }
}

// A write alone in its batch runs without a savepoint: failing half way, it
// rolls the whole transaction back, and leaves just as little behind.
TEST_F(SqliteStoreTest, AWriteAloneThatFailsHalfWayLeavesNothing) {
  auto s = Open(nullptr, /*background=*/false);
  MailboxId inbox = NewInbox(*s);
  AccountId id = s->GetMailboxById(inbox)->account;
  MailboxId junk = s->GetMailbox(id, "Junk")->id;
  ASSERT_TRUE(s->Deliver(Blob("before"), {{inbox, {}, 0}}));
  ExhaustUids(junk);
  StoreStats before = s->Stats();
  auto r = s->Deliver(Blob("half way"), {{inbox, {}, 0}, {junk, {}, 0}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kTooBig);
  StoreStats after = s->Stats();
  EXPECT_EQ(after.write_calls - before.write_calls, 1u);
  EXPECT_EQ(after.failed_calls - before.failed_calls, 1u);
  EXPECT_EQ(after.commits, before.commits);
  EXPECT_EQ(s->ListView(inbox)->entries.size(), 1u);
  EXPECT_TRUE(s->SearchText(inbox, TextField::kBody, "half way")->empty());
  EXPECT_EQ(s->GetQuotaUsage(id)->messages, 1u);
  // The writer goes on: the next delivery takes the next UID.
  auto next = s->Deliver(Blob("after"), {{inbox, {}, 0}});
  ASSERT_TRUE(next.has_value()) << next.error().ToString();
  EXPECT_EQ(next->at(0).uid, 2u);
  EXPECT_TRUE(s->CheckIntegrity()->empty());
}

// Power loss (not just a process kill): every acknowledged delivery is in
// the durable image taken while deliveries are still running. The same run
// with fsync off loses them, which shows the test can fail (STYLE 26).
struct PowerLossOutcome {
  size_t acked = 0;
  size_t lost = 0;
  std::vector<std::string> problems;
};

PowerLossOutcome RunPowerLoss(const std::string& dir, bool fsync) {
  PowerLossOutcome out;
  PowerLossVfs& vfs = PowerLossVfs::Get();
  SqliteOptions o;
  o.path = dir + "/live/correio.db";
  o.fsync = fsync;
  o.vfs = PowerLossVfs::kName;
  std::filesystem::create_directories(dir + "/live");
  std::filesystem::create_directories(dir + "/image");
  auto opened = OpenSqliteStore(o, nullptr);
  EXPECT_TRUE(opened.has_value());
  if (!opened) return out;
  Store& s = **opened;
  EXPECT_TRUE(s.AddDomain("example.org").has_value());
  Account a;
  a.address = "a@example.org";
  AccountId id = s.CreateAccount(a)->id;
  MailboxId inbox = s.GetMailbox(id, "INBOX")->id;

  std::mutex mu;
  std::vector<Uid> acked;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        NewBlob b;
        b.data = "thread " + std::to_string(t) + " n " + std::to_string(i) +
                 std::string(static_cast<size_t>(i % 5) * 700, 'y');
        auto r = s.Deliver(b, {{inbox, {}, 0}});
        if (!r) continue;
        std::lock_guard lock(mu);
        acked.push_back(r->at(0).uid);
      }
    });
  }
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::lock_guard lock(mu);
    if (acked.size() >= 40) break;
  }
  // Acknowledged before the cut: these must survive it.
  std::vector<Uid> must_survive;
  {
    std::lock_guard lock(mu);
    must_survive = acked;
  }
  vfs.WriteCrashImage(dir + "/live", dir + "/image");
  stop = true;
  for (auto& t : threads) t.join();
  opened->reset();

  out.acked = must_survive.size();
  SqliteOptions ro;
  ro.path = dir + "/image/correio.db";
  auto after = OpenSqliteStore(ro, nullptr);
  EXPECT_TRUE(after.has_value());
  if (!after) return out;
  out.problems = (*after)->CheckIntegrity().value_or(
      std::vector<std::string>{"CheckIntegrity failed"});
  std::set<Uid> present;
  if (auto view = (*after)->ListView(inbox)) {
    for (const auto& e : view->entries) present.insert(e.uid());
  }
  for (Uid u : must_survive) out.lost += present.count(u) == 0;
  return out;
}

TEST_F(SqliteStoreTest, PowerLossLosesNothingAcknowledged) {
  size_t syncs = PowerLossVfs::Get().Syncs();
  PowerLossOutcome r = RunPowerLoss(dir_ + "/on", /*fsync=*/true);
  EXPECT_GE(r.acked, 40u);
  EXPECT_EQ(r.lost, 0u) << "of " << r.acked << " acknowledged";
  EXPECT_TRUE(r.problems.empty()) << r.problems.front();
  EXPECT_GT(PowerLossVfs::Get().Syncs(), syncs);
}

TEST_F(SqliteStoreTest, PowerLossTestCatchesMissingFsync) {
  PowerLossOutcome r = RunPowerLoss(dir_ + "/off", /*fsync=*/false);
  EXPECT_GE(r.acked, 40u);
  EXPECT_GT(r.lost, 0u) << "synchronous=OFF survived a power cut: the "
                           "power-loss test cannot detect a missing fsync";
}

// An fsync that fails must never be acknowledged: the caller gets kTemp
// (SMTP 451, the sender retries), and the store goes on once the disk
// recovers (STYLE 19: injected fsync failure).
TEST_F(SqliteStoreTest, FailedFsyncIsNotAcknowledged) {
  std::filesystem::create_directories(dir_ + "/live");
  PowerLossVfs::Get();  // registers the VFS
  SqliteOptions o;
  o.path = dir_ + "/live/correio.db";
  o.vfs = PowerLossVfs::kName;
  auto opened = OpenSqliteStore(o, nullptr);
  ASSERT_TRUE(opened.has_value());
  Store& s = **opened;
  ASSERT_TRUE(s.AddDomain("example.org").has_value());
  Account a;
  a.address = "a@example.org";
  AccountId id = s.CreateAccount(a)->id;
  MailboxId inbox = s.GetMailbox(id, "INBOX")->id;
  ASSERT_TRUE(s.Deliver(Blob("before"), {{inbox, {}, 0}}).has_value());

  PowerLossVfs::Get().FailSyncs(true);
  auto failed = s.Deliver(Blob("during"), {{inbox, {}, 0}});
  PowerLossVfs::Get().FailSyncs(false);
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code(), ErrorCode::kTemp)
      << failed.error().ToString();

  auto after = s.Deliver(Blob("after"), {{inbox, {}, 0}});
  ASSERT_TRUE(after.has_value()) << after.error().ToString();
  auto view = s.ListView(inbox).value().entries;
  ASSERT_EQ(view.size(), 2u);
  EXPECT_EQ(view[0].uid(), 1u);
  EXPECT_EQ(view[1].uid(), after->at(0).uid);
  EXPECT_TRUE(s.SearchText(inbox, TextField::kBody, "during")->empty());
  EXPECT_EQ(s.GetQuotaUsage(id)->messages, 2u);
  auto problems = s.CheckIntegrity().value();
  EXPECT_TRUE(problems.empty()) << problems.front();
}

// A database written by schema 1 is migrated in place: the store-wide
// UIDVALIDITY counter starts above every existing mailbox's.
TEST_F(SqliteStoreTest, MigratesSchemaOne) {
  AccountId id;
  uint32_t max_validity = 0;
  {
    auto s = Open();
    ASSERT_TRUE(s->AddDomain("example.org").has_value());
    Account a;
    a.address = "a@example.org";
    id = s->CreateAccount(a)->id;
    DeliveryTarget t;
    t.mailbox = s->GetMailbox(id, "INBOX")->id;
    ASSERT_TRUE(s->Deliver(Blob("old"), {t}).has_value());
    auto boxes = s->ListMailboxes(id).value();
    for (const auto& m : boxes) {
      max_validity = std::max(max_validity, m.uid_validity);
    }
  }
  // Turn the file back into schema 1 (as a 0.1 build left it), with the
  // per-account counter far ahead of the clock.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  std::string far = std::to_string(max_validity + 1000000);
  std::string sql =
      "BEGIN; DROP INDEX messages_view; DROP INDEX fts_pending_queued; "
      "DROP TABLE meta; "
      "ALTER TABLE messages DROP COLUMN pop3_downloaded; "
      "DROP INDEX expunged_at; ALTER TABLE expunged DROP COLUMN at; "
      "ALTER TABLE mailboxes DROP COLUMN expunge_floor; "
      "ALTER TABLE accounts DROP COLUMN apop_secret; "
      // Before v8 reference counts were kept in the blob rows.
      "UPDATE blobs SET refcount = (SELECT r.refcount FROM blob_refs r "
      "WHERE r.id = blobs.id); DROP TABLE blob_refs; "
      // Before v5 the index was a table of the main file.
      "DROP TABLE fts_pending; "
      "CREATE VIRTUAL TABLE blob_text USING fts5(headers, body, "
      "tokenize='trigram'); INSERT INTO blob_text(rowid, headers, body) "
      "SELECT id, 'Subject: migrated', 'old' FROM blobs; "
      "ALTER TABLE accounts ADD COLUMN last_uid_validity INTEGER NOT NULL "
      "DEFAULT 0; UPDATE accounts SET last_uid_validity = " +
      far +
      "; "
      "UPDATE mailboxes SET uid_validity = " +
      far +
      " WHERE name = 'Junk'; "
      "PRAGMA user_version = 1; COMMIT;";
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  std::filesystem::remove(SearchIndexPath(path_));
  auto s = Open(nullptr, /*background=*/false);
  ASSERT_TRUE(s);
  EXPECT_EQ(UserVersion(), kSqliteSchemaVersion);
  EXPECT_EQ(CountRows(path_, "SELECT count(*) FROM sqlite_master WHERE "
                             "name = 'messages_view'"),
            1);  // v6
  MailboxId inbox = s->GetMailbox(id, "INBOX")->id;
  EXPECT_EQ(s->ListView(inbox)->entries.size(), 1u);
  // The old index's text moved to fts_pending (columns kept apart) and is
  // searchable again; blob ids continue after the highest one.
  EXPECT_EQ(CountRows(path_, "SELECT count(*) FROM fts_pending"),
            CountRows(path_, "SELECT count(*) FROM blobs"));
  EXPECT_EQ(s->SearchText(inbox, TextField::kBody, "old").value(),
            std::vector<Uid>{1});
  EXPECT_EQ(s->SearchText(inbox, TextField::kHeaders, "migrated").value(),
            std::vector<Uid>{1});
  EXPECT_TRUE(s->SearchText(inbox, TextField::kBody, "migrated")->empty());
  EXPECT_EQ(CountRows(path_, "SELECT count(*) FROM fts_pending"), 0);
  EXPECT_TRUE(s->Pop3Downloaded(inbox)->empty());
  ASSERT_TRUE(s->MarkPop3Downloaded(inbox, {{1, 1}}).has_value());
  EXPECT_EQ(s->Pop3Downloaded(inbox).value(), std::vector<Uid>{1});
  auto fresh = s->CreateMailbox(id, "New", SpecialUse::kNone);
  ASSERT_TRUE(fresh.has_value());
  EXPECT_GT(fresh->uid_validity, max_validity + 1000000);
  EXPECT_TRUE(s->CheckIntegrity()->empty());
}

// A value over SQLite's length limit fails at Bind; the error must reach
// the caller as kTooBig (SMTP 552, IMAP [TOOBIG]), not be swallowed into a
// NULL and a constraint error.
TEST_F(SqliteStoreTest, OversizedValueIsTooBig) {
  auto db = sqlite::Db::Open(path_, /*fsync=*/true, 1000);
  ASSERT_TRUE(db.has_value()) << db.error().ToString();
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t (v BLOB NOT NULL)").has_value());
  sqlite3_limit((*db)->raw(), SQLITE_LIMIT_LENGTH, 100);
  std::string big(200, 'x');
  auto st = (*db)->Run("INSERT INTO t(v) VALUES (?)", sqlite::BlobValue{big});
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code(), ErrorCode::kTooBig) << st.error().ToString();
  std::string small(50, 'x');
  EXPECT_TRUE(
      (*db)->Run("INSERT INTO t(v) VALUES (?)", sqlite::BlobValue{small}));
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
