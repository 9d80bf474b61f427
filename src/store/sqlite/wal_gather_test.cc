#include "store/sqlite/wal_gather.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_db.h"

namespace correio::store::sqlite {
namespace {

namespace fs = std::filesystem;

// The unix VFS's write system calls, replaced (through SQLite's own
// xSetSystemCall hook) by ones that record each write to a "-wal" file and
// can fail them as a full disk would.
struct WalWrites {
  static inline std::vector<size_t> sizes;
  static inline bool fail = false;
  static inline sqlite3_syscall_ptr real_pwrite = nullptr;
  static inline sqlite3_syscall_ptr real_pwrite64 = nullptr;

  static bool IsWal(int fd) {
    std::error_code ec;
    auto target = fs::read_symlink("/proc/self/fd/" + std::to_string(fd), ec);
    return !ec && target.string().ends_with("-wal");
  }
  static ssize_t Record(int fd, size_t n) {
    if (!IsWal(fd)) return 0;
    if (fail) {
      errno = ENOSPC;
      return -1;
    }
    sizes.push_back(n);
    return 0;
  }
  // The unix VFS's pwrite or pwrite64 (whichever this build uses), with
  // the record first.
  template <sqlite3_syscall_ptr* Real>
  static ssize_t Write(int fd, const void* b, size_t n, off_t o) {
    if (Record(fd, n) < 0) return -1;
    return reinterpret_cast<ssize_t (*)(int, const void*, size_t, off_t)>(
        *Real)(fd, b, n, o);
  }
};

// A VFS that is SQLite's unix VFS with one check added at every shared
// memory barrier: the WAL file holds every frame the WAL index header
// (its second copy, the one written before the barrier) names.
struct BarrierProbe {
  static inline sqlite3_vfs vfs;
  static inline sqlite3_io_methods methods;
  static inline const sqlite3_io_methods* unix_methods = nullptr;
  static inline std::string wal_path;
  static inline int barriers = 0;
  static inline int short_wal = 0;

  static const char* Register(std::string wal) {
    wal_path = std::move(wal);
    barriers = short_wal = 0;
    if (vfs.zName == nullptr) {
      vfs = *sqlite3_vfs_find(nullptr);
      vfs.zName = "barrier-probe";
      vfs.pNext = nullptr;
      vfs.xOpen = &Open;
      sqlite3_vfs_register(&vfs, 0);
    }
    return vfs.zName;
  }
  static int Open(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags,
                  int* out) {
    sqlite3_vfs* unix = sqlite3_vfs_find(nullptr);
    int rc = unix->xOpen(unix, name, f, flags, out);
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_MAIN_DB)) {
      unix_methods = f->pMethods;
      methods = *f->pMethods;
      methods.xShmBarrier = &Barrier;
      f->pMethods = &methods;
    }
    return rc;
  }
  static void Barrier(sqlite3_file* f) {
    void volatile* shm = nullptr;
    if (unix_methods->xShmMap(f, 0, 32768, 0, &shm) == SQLITE_OK && shm) {
      auto* hdr = static_cast<const volatile unsigned char*>(shm) + 48;
      uint32_t mx_frame = *reinterpret_cast<const volatile uint32_t*>(hdr + 16);
      uint32_t sz = *reinterpret_cast<const volatile uint16_t*>(hdr + 14);
      uint32_t page = (sz & 0xfe00) | ((sz & 1) << 16);
      std::error_code ec;
      auto size = fs::file_size(wal_path, ec);
      barriers++;
      if (mx_frame > 0 &&
          (ec || size < 32 + uint64_t{mx_frame} * (24 + page))) {
        short_wal++;
      }
    }
    unix_methods->xShmBarrier(f);
  }
};

class WalGatherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("wal-gather-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    unix_ = sqlite3_vfs_find(nullptr);
    WalWrites::real_pwrite = unix_->xGetSystemCall(unix_, "pwrite");
    WalWrites::real_pwrite64 = unix_->xGetSystemCall(unix_, "pwrite64");
    ASSERT_EQ(
        unix_->xSetSystemCall(unix_, "pwrite",
                              reinterpret_cast<sqlite3_syscall_ptr>(
                                  &WalWrites::Write<&WalWrites::real_pwrite>)),
        SQLITE_OK);
    ASSERT_EQ(unix_->xSetSystemCall(
                  unix_, "pwrite64",
                  reinterpret_cast<sqlite3_syscall_ptr>(
                      &WalWrites::Write<&WalWrites::real_pwrite64>)),
              SQLITE_OK);
    WalWrites::sizes.clear();
    WalWrites::fail = false;
  }
  void TearDown() override {
    for (sqlite3* db : open_) sqlite3_close_v2(db);
    unix_->xSetSystemCall(unix_, nullptr, nullptr);  // all back to default
    fs::remove_all(dir_);
  }

  // A connection as the store opens one: WAL, with `synchronous`.
  sqlite3* Open(const char* vfs, const char* synchronous = "FULL",
                const char* file = "t.db") {
    sqlite3* db = nullptr;
    std::string path = (dir_ / file).string();
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
              SQLITE_OK);
    open_.push_back(db);
    Exec(db, "PRAGMA journal_mode=WAL");
    Exec(db, std::string("PRAGMA synchronous=") + synchronous);
    Exec(db, "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB)");
    return db;
  }
  static int Exec(sqlite3* db, const std::string& sql) {
    return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  }
  static std::string One(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      return std::string("error: ") + sqlite3_errmsg(db);
    }
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(s, 0);
      out = t ? reinterpret_cast<const char*>(t) : "";
    } else {
      out = std::string("error: ") + sqlite3_errmsg(db);
    }
    sqlite3_finalize(s);
    return out;
  }
  // One statement (one transaction unless inside BEGIN) inserting `rows`
  // rows of `bytes` random bytes each.
  static int Insert(sqlite3* db, int rows, int bytes) {
    return Exec(db,
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                "FROM n WHERE i < " +
                    std::to_string(rows) +
                    ") INSERT INTO t(v) SELECT randomblob(" +
                    std::to_string(bytes) + ") FROM n");
  }
  // Rows and bytes, as one string: "count/bytes".
  static std::string Content(sqlite3* db) {
    return One(db, "SELECT count(*) || '/' || total(length(v)) FROM t");
  }
  static size_t Total(const std::vector<size_t>& sizes) {
    return std::accumulate(sizes.begin(), sizes.end(), size_t{0});
  }

  static constexpr size_t kFrame = 24 + 4096;  // header + default page

  fs::path dir_;
  sqlite3_vfs* unix_ = nullptr;
  std::vector<sqlite3*> open_;
};

}  // namespace

// The premise, then the change: SQLite writes a frame as two writes; the
// gathering VFS writes a commit's frames as one.
TEST_F(WalGatherTest, ACommitsFramesGoOutInOneWrite) {
  sqlite3* plain = Open(nullptr, "FULL", "plain.db");
  ASSERT_EQ(Insert(plain, 1, 10), SQLITE_OK);  // the WAL header is behind us
  WalWrites::sizes.clear();
  ASSERT_EQ(Insert(plain, 20, 2000), SQLITE_OK);
  std::vector<size_t> direct = WalWrites::sizes;
  size_t frames = Total(direct) / kFrame;
  ASSERT_GE(frames, 10u);
  EXPECT_EQ(direct.size(), 2 * frames);

  sqlite3* db = Open(WalGatherVfs());
  ASSERT_EQ(Insert(db, 1, 10), SQLITE_OK);
  WalWrites::sizes.clear();
  ASSERT_EQ(Insert(db, 20, 2000), SQLITE_OK);
  ASSERT_EQ(WalWrites::sizes.size(), 1u);
  EXPECT_EQ(WalWrites::sizes[0] % kFrame, 0u);
  EXPECT_GE(WalWrites::sizes[0] / kFrame, 10u);
  EXPECT_EQ(Content(db), "21/40010.0");
}

// Db::Open gathers when it syncs, and only then (wal_gather.h).
TEST_F(WalGatherTest, TheStoreGathersWhenItSyncs) {
  for (bool fsync : {true, false}) {
    SCOPED_TRACE(fsync ? "fsync" : "no fsync");
    auto db = Db::Open((dir_ / (fsync ? "sync.db" : "nosync.db")).string(),
                       fsync, 1000);
    ASSERT_TRUE(db) << db.error().message();
    ASSERT_TRUE((*db)->Exec("CREATE TABLE t(v BLOB)"));
    WalWrites::sizes.clear();
    ASSERT_TRUE((*db)->Exec("INSERT INTO t VALUES (randomblob(30000))"));
    size_t frames = Total(WalWrites::sizes) / kFrame;
    ASSERT_GE(frames, 7u);
    EXPECT_EQ(WalWrites::sizes.size(), fsync ? 1 : 2 * frames);
  }
}

// SQLite's unix VFS writes at most 0x1ffff bytes per call and reports a
// longer write as a full disk: a long commit goes out in several writes.
TEST_F(WalGatherTest, ALongCommitSplitsBelowTheUnixVfsLimit) {
  sqlite3* db = Open(WalGatherVfs());
  WalWrites::sizes.clear();
  ASSERT_EQ(Insert(db, 100, 3000), SQLITE_OK) << sqlite3_errmsg(db);
  EXPECT_GE(WalWrites::sizes.size(), 3u);
  for (size_t s : WalWrites::sizes) EXPECT_LE(s, 0x1ffffu);
  sqlite3* other = Open(nullptr);
  EXPECT_EQ(Content(other), "100/300000.0");
  EXPECT_EQ(One(other, "PRAGMA integrity_check"), "ok");
}

// Without a sync in the commit, the frames reach the file at the barrier
// that publishes the new WAL index header: no connection is ever told of a
// frame before it is in the file.
TEST_F(WalGatherTest, FramesAreWrittenBeforeTheHeaderNamesThem) {
  const char* probe = BarrierProbe::Register((dir_ / "t.db-wal").string());
  sqlite3* writer = Open(WalGatherVfs(probe), "OFF");
  sqlite3* reader = Open(nullptr, "OFF");
  WalWrites::sizes.clear();
  for (int i = 1; i <= 40; i++) {
    ASSERT_EQ(Insert(writer, 3, 1500), SQLITE_OK);
    ASSERT_EQ(Content(reader),
              std::to_string(3 * i) + "/" + std::to_string(4500 * i) + ".0")
        << "after commit " << i;
  }
  EXPECT_EQ(WalWrites::sizes.size(), 40u);  // held, then one write each
  EXPECT_GE(BarrierProbe::barriers, 40);
  EXPECT_EQ(BarrierProbe::short_wal, 0);
  EXPECT_EQ(One(reader, "PRAGMA integrity_check"), "ok");
}

// A transaction larger than the page cache spills frames to the WAL before
// it commits and reads them back; a rollback leaves them unreferenced.
TEST_F(WalGatherTest, SpilledFramesReadBackAndRollBack) {
  sqlite3* db = Open(WalGatherVfs());
  ASSERT_EQ(Exec(db, "PRAGMA cache_size=10"), SQLITE_OK);
  ASSERT_EQ(Insert(db, 5, 100), SQLITE_OK);
  ASSERT_EQ(Exec(db, "BEGIN"), SQLITE_OK);
  ASSERT_EQ(Insert(db, 300, 1000), SQLITE_OK);
  EXPECT_EQ(Content(db), "305/300500.0");
  ASSERT_EQ(Exec(db, "ROLLBACK"), SQLITE_OK);
  EXPECT_EQ(Content(db), "5/500.0");
  ASSERT_EQ(Exec(db, "BEGIN"), SQLITE_OK);
  ASSERT_EQ(Insert(db, 300, 1000), SQLITE_OK);
  ASSERT_EQ(Exec(db, "COMMIT"), SQLITE_OK);
  sqlite3* other = Open(nullptr);
  EXPECT_EQ(Content(other), "305/300500.0");
  EXPECT_EQ(One(other, "PRAGMA integrity_check"), "ok");
}

// A write that fails when the held frames go out (at the commit's sync)
// fails that commit, as a failed frame write would, and only that one.
TEST_F(WalGatherTest, AFailedWriteFailsItsCommit) {
  sqlite3* db = Open(WalGatherVfs());
  ASSERT_EQ(Insert(db, 1, 100), SQLITE_OK);
  WalWrites::fail = true;
  EXPECT_EQ(Insert(db, 5, 2000), SQLITE_FULL);
  WalWrites::fail = false;
  EXPECT_EQ(Content(db), "1/100.0");
  sqlite3* other = Open(nullptr);
  EXPECT_EQ(Content(other), "1/100.0");
  ASSERT_EQ(Insert(db, 5, 2000), SQLITE_OK);
  EXPECT_EQ(Content(other), "6/10100.0");
  EXPECT_EQ(One(other, "PRAGMA integrity_check"), "ok");
}

}  // namespace correio::store::sqlite
