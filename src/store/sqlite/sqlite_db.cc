#include "store/sqlite/sqlite_db.h"

#include <spdlog/spdlog.h>

#include <mutex>
#include <string>

#include "store/sqlite/wal_gather.h"

namespace correio::store::sqlite {

Error SqlError(sqlite3* db, int rc, std::string_view what) {
  std::string msg = std::string(what) + ": " + sqlite3_errstr(rc);
  if (db) msg += std::string(" (") + sqlite3_errmsg(db) + ")";
  switch (rc & 0xff) {
    case SQLITE_FULL:  // ENOSPC (or SQLITE_MAX_PAGE_COUNT): disk full
      return Error(ErrorCode::kNoSpace, std::move(msg));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
    case SQLITE_INTERRUPT:
      return Error(ErrorCode::kTemp, std::move(msg));
    case SQLITE_TOOBIG:  // a body over SQLite's limit (SQLITE_MAX_LENGTH)
      return Error(ErrorCode::kTooBig, std::move(msg));
    default:
      return Error(ErrorCode::kInternal, std::move(msg));
  }
}

namespace {

// Process-wide SQLite settings, before SQLite initializes (the store is the
// first to open a database in `correio serve`; once initialized, the call
// is refused and changes nothing). Memory statistics off: with them, every
// sqlite3_malloc and free takes one global mutex, and the store pool's
// readers contended on it (futex wake-ups were 3.5% of the server's time
// under the IMAP bench load). The sub-journal (the pages a write changes
// after a SAVEPOINT, one per job of a group commit) stays in memory up to
// 124 KiB instead of 64 KiB: past that it goes to a temporary file, and a
// batch of two 1 KB deliveries already did (a file created, written 25
// times and deleted every ten messages). No more than that: when it
// spills, SQLite writes the memory copy out in pieces as large as this
// limit, and the unix VFS writes at most 0x1ffff bytes per call and
// reports a longer write as a full disk (at 1 MiB, any job that changed
// more than 1 MiB failed its batch; SqliteSubJournal test).
constexpr int kSubJournalInMemory = 31 * 4096;
static_assert(kSubJournalInMemory <= 0x1ffff);

void ConfigureSqliteOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Refused (SQLITE_MISUSE) only if something in the process initialized
    // SQLite first: the store still works, with SQLite's defaults.
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK ||
        sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, kSubJournalInMemory) !=
            SQLITE_OK) {
      spdlog::warn(
          "store: SQLite was initialized before the store configured it; "
          "running with its default memory statistics and sub-journal size");
    }
  });
}

}  // namespace

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, bool fsync,
                                     int busy_timeout_ms,
                                     const std::string& vfs) {
  ConfigureSqliteOnce();
  // With fsync, a commit's WAL frames go out in one write (wal_gather.h).
  // Without it the gathering is left out: with no xSync in a commit, a
  // held write failing at the publishing barrier could not fail the commit.
  const char* vfs_name = vfs.empty() ? nullptr : vfs.c_str();
  if (fsync) {
    vfs_name = WalGatherVfs(vfs);
    if (vfs_name == nullptr) {
      return std::unexpected(
          Error(ErrorCode::kInternal, "no SQLite VFS named " + vfs));
    }
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &raw,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
      vfs_name);
  if (rc != SQLITE_OK) {
    Error e = SqlError(raw, rc, "open " + path);
    sqlite3_close(raw);
    return std::unexpected(std::move(e));
  }
  std::unique_ptr<Db> db(new Db(raw));
  sqlite3_extended_result_codes(raw, 1);
  // Other processes (the admin CLI) share the file: wait for their locks.
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  // WAL: readers never block the writer and one fsync of the log commits a
  // transaction. synchronous=FULL fsyncs the WAL at every commit, so an
  // acknowledged write survives power loss, not just a process crash.
  {
    // The pragma answers the mode in force: a file system without shared
    // memory support leaves the old mode, and the durability and reader
    // concurrency reasoning above would silently not hold.
    auto s = db->Prepare("PRAGMA journal_mode=WAL");
    if (!s) return std::unexpected(s.error());
    auto row = s->Step();
    if (!row) return std::unexpected(row.error());
    std::string mode = *row ? s->Text(0) : "";
    if (mode != "wal") {
      return std::unexpected(Error(
          ErrorCode::kInternal,
          "cannot use WAL mode on " + path + " (journal_mode=" + mode + ")"));
    }
  }
  // After a large message the WAL file would otherwise keep its peak size.
  if (auto s = db->Exec("PRAGMA journal_size_limit=67108864"); !s) {
    return std::unexpected(s.error());
  }
  if (auto s = db->Exec(fsync ? "PRAGMA synchronous=FULL"
                              : "PRAGMA synchronous=OFF");
      !s) {
    return std::unexpected(s.error());
  }
  if (auto s = db->Exec("PRAGMA foreign_keys=ON"); !s) {
    return std::unexpected(s.error());
  }
  return db;
}

Db::~Db() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Result<Stmt> Db::Prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return Stmt(db_, it->second);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                              nullptr);
  if (rc != SQLITE_OK) return std::unexpected(SqlError(db_, rc, sql));
  cache_.emplace(sql, stmt);
  return Stmt(db_, stmt);
}

Status Db::Exec(const char* sql) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(SqlError(db_, rc, sql));
  return {};
}

}  // namespace correio::store::sqlite
