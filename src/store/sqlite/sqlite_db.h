// Internal to store/sqlite: a thin RAII layer over one sqlite3 connection
// with a prepared-statement cache. SQL is always a string literal with bound
// parameters (STYLE 11). Not thread-safe: one connection, one thread at a
// time.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "base/error.h"

namespace correio::store::sqlite {

template <class T>
inline constexpr bool kIsOptional = false;
template <class T>
inline constexpr bool kIsOptional<std::optional<T>> = true;

// Maps a SQLite result code to an Error: busy/locked/full/IO are transient.
Error SqlError(sqlite3* db, int rc, std::string_view what);

// A binary value bound without copying; it must outlive the statement's
// next reset (the Stmt going out of scope).
struct StaticBlob {
  std::string_view bytes;
};
// A binary value bound by copy.
struct BlobValue {
  std::string_view bytes;
};

class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  Stmt(Stmt&& o) noexcept
      : db_(o.db_), s_(std::exchange(o.s_, nullptr)), bind_rc_(o.bind_rc_) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt() {
    if (s_) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }

  template <class... A>
  Stmt& Bind(const A&... args) {
    int i = 1;
    (BindOne(i++, args), ...);
    return *this;
  }

  // true: a row is available; false: done. A failed Bind (a value over
  // SQLite's size limit: SQLITE_TOOBIG) is reported here.
  Result<bool> Step() {
    if (bind_rc_ != SQLITE_OK) {
      return std::unexpected(SqlError(db_, bind_rc_, sqlite3_sql(s_)));
    }
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return std::unexpected(SqlError(db_, rc, sqlite3_sql(s_)));
  }
  // Runs a statement to completion, ignoring rows.
  Status Run() {
    for (;;) {
      auto r = Step();
      if (!r) return std::unexpected(r.error());
      if (!*r) return {};
    }
  }

  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  bool IsNull(int col) const {
    return sqlite3_column_type(s_, col) == SQLITE_NULL;
  }
  // Octets of a text or blob column (0 for NULL and for empty values),
  // without copying it.
  int Bytes(int col) const { return sqlite3_column_bytes(s_, col); }
  std::string Text(int col) const {
    const void* p = sqlite3_column_blob(s_, col);
    int n = sqlite3_column_bytes(s_, col);
    return p ? std::string(static_cast<const char*>(p), n) : std::string();
  }

 private:
  template <class T>
  void BindOne(int i, const T& v) {
    int rc = BindValue(i, v);
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }

  template <class T>
  int BindValue(int i, const T& v) {
    if constexpr (std::is_same_v<T, std::nullptr_t>) {
      return sqlite3_bind_null(s_, i);
    } else if constexpr (std::is_same_v<T, bool>) {
      return sqlite3_bind_int64(s_, i, v ? 1 : 0);
    } else if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) {
      return sqlite3_bind_int64(s_, i, static_cast<int64_t>(v));
    } else if constexpr (std::is_same_v<T, StaticBlob>) {
      return sqlite3_bind_blob64(s_, i, v.bytes.data() ? v.bytes.data() : "",
                                 v.bytes.size(), SQLITE_STATIC);
    } else if constexpr (std::is_same_v<T, BlobValue>) {
      return sqlite3_bind_blob64(s_, i, v.bytes.data() ? v.bytes.data() : "",
                                 v.bytes.size(), SQLITE_TRANSIENT);
    } else if constexpr (kIsOptional<T>) {
      return v ? BindValue(i, *v) : sqlite3_bind_null(s_, i);  // NULL if unset
    } else {
      std::string_view sv(v);
      return sqlite3_bind_text64(s_, i, sv.data() ? sv.data() : "", sv.size(),
                                 SQLITE_TRANSIENT, SQLITE_UTF8);
    }
  }

  sqlite3* db_;
  sqlite3_stmt* s_;
  int bind_rc_ = SQLITE_OK;
};

class Db {
 public:
  // `vfs`: a registered SQLite VFS name, empty for the default.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, bool fsync,
                                          int busy_timeout_ms,
                                          const std::string& vfs = "");
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // `sql` must be a string literal: statements are cached by its address.
  Result<Stmt> Prepare(const char* sql);
  // Prepares, binds and runs to completion.
  template <class... A>
  Status Run(const char* sql, const A&... args) {
    auto s = Prepare(sql);
    if (!s) return std::unexpected(s.error());
    s->Bind(args...);
    return s->Run();
  }
  // Runs SQL text as it is (several statements, or text built at run
  // time), uncached: for schema and PRAGMAs. Statements run often (BEGIN,
  // COMMIT, SAVEPOINT) go through Run, which reuses their prepared form;
  // sqlite3_exec parses them anew every time (in the IMAP bench profile
  // that was a fifth of a small read's CPU).
  Status Exec(const char* sql);
  int64_t LastInsertId() const { return sqlite3_last_insert_rowid(db_); }
  int64_t Changes() const { return sqlite3_changes64(db_); }
  bool InTransaction() const { return !sqlite3_get_autocommit(db_); }
  sqlite3* raw() const { return db_; }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

}  // namespace correio::store::sqlite
