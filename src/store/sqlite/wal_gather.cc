#include "store/sqlite/wal_gather.h"

#include <sqlite3.h>

#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

namespace correio::store::sqlite {

namespace {

// The most one write may carry: SQLite's unix VFS masks every write's
// length to 17 bits (seekAndWriteFd: nBuf &= 0x1ffff; SQLite itself never
// writes more, a page being at most 64 KiB), so a longer one would be cut
// short and reported as a full disk. A commit of about 30 frames of 4 KiB
// still goes out in one write.
constexpr size_t kMaxHeld = 0x1ffff;

// Our part of SQLite's file object; the base VFS's file follows it in the
// same allocation (szOsFile covers both).
struct File {
  sqlite3_file base;
  sqlite3_file* real = nullptr;
  File* wal = nullptr;  // on a database file: its connection's WAL
  File* db = nullptr;   // on a WAL: its connection's database file; only a
                        // WAL linked to one gathers
  std::string held;     // on a WAL: written by SQLite, not yet to the file
  sqlite3_int64 held_at = 0;
  int failed = SQLITE_OK;  // a held write that failed in xShmBarrier (void)
};

constexpr int kFileBytes = static_cast<int>((sizeof(File) + 7) & ~size_t{7});

File* Our(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
const sqlite3_io_methods* Real(File* f) { return f->real->pMethods; }
// The gathering WAL a call on `f` concerns, if any: `f` itself, or the WAL
// of the connection whose database file `f` is.
File* WalOf(File* f) { return f->db ? f : f->wal; }

// Writes what a WAL holds.
int Release(File* w) {
  if (w->held.empty()) return SQLITE_OK;
  int rc = Real(w)->xWrite(w->real, w->held.data(),
                           static_cast<int>(w->held.size()), w->held_at);
  w->held.clear();
  return rc;
}

// Before every call other than a gathered write, on a WAL or on the
// database file of the same connection: write what the WAL holds, or report
// a held write that failed earlier.
int Settle(File* f) {
  File* w = WalOf(f);
  if (!w) return SQLITE_OK;
  int rc = Release(w);
  if (rc == SQLITE_OK) rc = std::exchange(w->failed, SQLITE_OK);
  return rc;
}

int Write(sqlite3_file* sf, const void* buf, int n, sqlite3_int64 off) {
  File* f = Our(sf);
  if (!f->db) return Real(f)->xWrite(f->real, buf, n, off);
  if (f->failed != SQLITE_OK) return std::exchange(f->failed, SQLITE_OK);
  size_t len = static_cast<size_t>(n);
  // SQLite overwrites a frame of the open transaction in place (a page it
  // spilled, read back and changed again); the read has settled the WAL
  // by then, but a write anywhere but the end still goes after what is held.
  if (!f->held.empty() &&
      (off != f->held_at + static_cast<sqlite3_int64>(f->held.size()) ||
       f->held.size() + len > kMaxHeld)) {
    if (int rc = Release(f); rc != SQLITE_OK) return rc;
  }
  if (len >= kMaxHeld) return Real(f)->xWrite(f->real, buf, n, off);
  if (f->held.empty()) f->held_at = off;
  f->held.append(static_cast<const char*>(buf), len);
  return SQLITE_OK;
}

int Close(sqlite3_file* sf) {
  File* f = Our(sf);
  int rc = Settle(f);
  if (f->wal) f->wal->db = nullptr;
  if (f->db) f->db->wal = nullptr;
  int closed = Real(f)->xClose(f->real);
  f->~File();
  return rc != SQLITE_OK ? rc : closed;
}

// The pass-through methods: settle, then call the base VFS's. A method
// newer than the base file's io_methods version answers `kOlder` instead
// (the shared-memory ones arrived in version 2).
template <auto Member, int kSince, int kOlder, class... A>
int Through(sqlite3_file* sf, A... args) {
  File* f = Our(sf);
  if (Real(f)->iVersion < kSince) return kOlder;
  if (int rc = Settle(f); rc != SQLITE_OK) return rc;
  return (Real(f)->*Member)(f->real, args...);
}
template <auto Member, class... A>
constexpr auto kThrough = &Through<Member, 1, SQLITE_OK, A...>;

int SectorSize(sqlite3_file* sf) {
  File* f = Our(sf);
  return Real(f)->xSectorSize(f->real);
}

int DeviceCharacteristics(sqlite3_file* sf) {
  File* f = Our(sf);
  return Real(f)->xDeviceCharacteristics(f->real);
}

// The barrier SQLite puts between the two copies of a new WAL index header:
// held frames reach the file before any reader can accept the header.
void ShmBarrier(sqlite3_file* sf) {
  File* f = Our(sf);
  if (File* w = WalOf(f)) {
    if (int rc = Release(w); rc != SQLITE_OK) w->failed = rc;
  }
  if (Real(f)->iVersion >= 2) Real(f)->xShmBarrier(f->real);
}

int Fetch(sqlite3_file* sf, sqlite3_int64 off, int n, void** out) {
  File* f = Our(sf);
  *out = nullptr;
  if (Real(f)->iVersion < 3) return SQLITE_OK;
  if (int rc = Settle(f); rc != SQLITE_OK) return rc;
  return Real(f)->xFetch(f->real, off, n, out);
}

int Unfetch(sqlite3_file* sf, sqlite3_int64 off, void* p) {
  File* f = Our(sf);
  if (Real(f)->iVersion < 3) return SQLITE_OK;
  return Real(f)->xUnfetch(f->real, off, p);
}

class Gather {
 public:
  Gather(sqlite3_vfs* base, std::string name)
      : base_(base), name_(std::move(name)) {
    // xAccess, xFullPathname, xDelete ... are the base's, unchanged; the
    // base's functions are called with this VFS as their first argument,
    // which SQLite's own shims rely on as well.
    vfs_ = *base;
    vfs_.zName = name_.c_str();
    vfs_.szOsFile = kFileBytes + base->szOsFile;
    vfs_.xOpen = &Open;
    vfs_.pNext = nullptr;
    methods_.iVersion = 3;
    methods_.xClose = &Close;
    methods_.xRead =
        kThrough<&sqlite3_io_methods::xRead, void*, int, sqlite3_int64>;
    methods_.xWrite = &Write;
    methods_.xTruncate =
        kThrough<&sqlite3_io_methods::xTruncate, sqlite3_int64>;
    methods_.xSync = kThrough<&sqlite3_io_methods::xSync, int>;
    methods_.xFileSize =
        kThrough<&sqlite3_io_methods::xFileSize, sqlite3_int64*>;
    methods_.xLock = kThrough<&sqlite3_io_methods::xLock, int>;
    methods_.xUnlock = kThrough<&sqlite3_io_methods::xUnlock, int>;
    methods_.xCheckReservedLock =
        kThrough<&sqlite3_io_methods::xCheckReservedLock, int*>;
    methods_.xFileControl =
        kThrough<&sqlite3_io_methods::xFileControl, int, void*>;
    methods_.xSectorSize = &SectorSize;
    methods_.xDeviceCharacteristics = &DeviceCharacteristics;
    methods_.xShmMap =
        &Through<&sqlite3_io_methods::xShmMap, 2, SQLITE_IOERR_SHMMAP, int, int,
                 int, void volatile**>;
    methods_.xShmLock = &Through<&sqlite3_io_methods::xShmLock, 2,
                                 SQLITE_IOERR_SHMLOCK, int, int, int>;
    methods_.xShmBarrier = &ShmBarrier;
    methods_.xShmUnmap =
        &Through<&sqlite3_io_methods::xShmUnmap, 2, SQLITE_OK, int>;
    methods_.xFetch = &Fetch;
    methods_.xUnfetch = &Unfetch;
  }

  sqlite3_vfs* vfs() { return &vfs_; }

 private:
  static int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* sf,
                  int flags, int* out_flags) {
    // vfs_ is the first member: the VFS pointer is the Gather's.
    Gather* g = reinterpret_cast<Gather*>(vfs);
    File* f = new (sf) File{};
    f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(sf) +
                                              kFileBytes);
    int rc = g->base_->xOpen(g->base_, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
      if (f->real->pMethods) f->real->pMethods->xClose(f->real);
      f->~File();
      sf->pMethods = nullptr;
      return rc;
    }
    f->base.pMethods = &g->methods_;
    // A WAL gathers only when its database file is ours too, so that the
    // connection's calls on that file settle what the WAL holds.
    if ((flags & SQLITE_OPEN_WAL) != 0 && name != nullptr) {
      sqlite3_file* db = sqlite3_database_file_object(name);
      if (db != nullptr && db->pMethods == &g->methods_) {
        f->db = Our(db);
        f->db->wal = f;
      }
    }
    return SQLITE_OK;
  }

  sqlite3_vfs vfs_;  // first: Open finds the Gather from it
  sqlite3_vfs* base_;
  std::string name_;
  sqlite3_io_methods methods_{};
};

// Open's cast from the VFS to its Gather needs this.
static_assert(std::is_standard_layout_v<Gather>);

}  // namespace

const char* WalGatherVfs(const std::string& base) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<Gather>> registered;
  std::lock_guard lock(mu);
  auto& g = registered[base];
  if (!g) {
    sqlite3_vfs* b = sqlite3_vfs_find(base.empty() ? nullptr : base.c_str());
    if (b == nullptr) return nullptr;
    g = std::make_unique<Gather>(
        b, base.empty() ? "correio-wal-gather" : "correio-wal-gather:" + base);
    sqlite3_vfs_register(g->vfs(), /*makeDflt=*/0);
  }
  return g->vfs()->zName;
}

}  // namespace correio::store::sqlite
