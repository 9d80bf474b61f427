// The embedded SQLite backend of store::Store (ARCHITECTURE "Storage";
// schema and reasons in docs/schema.md, measurements in docs/storage.md).
//
// One database file holds metadata and message bodies (deduplicated blobs),
// so one WAL commit covers a body and the rows that name it: after a crash
// no row can name a missing body. The FTS5 trigram full-text index lives in
// a second file (SearchIndexPath), built by an indexer thread from the text
// each delivery queues in fts_pending; SearchText first indexes what is
// still pending for its mailbox, so searches are always complete.
//
// Writes: every write call becomes a job on ONE writer thread with ONE
// connection. The writer takes every queued job, runs them in a single
// BEGIN IMMEDIATE ... COMMIT with a SAVEPOINT per job (a failing job is
// rolled back alone and gets its own error), commits once (one fsync for the
// whole batch: group commit), publishes the batch's changes on the ChangeHub
// in commit order, then wakes the callers. A write returns only once it is
// durable (synchronous=FULL).
// Reads: a small pool of reader connections, each call in one read
// transaction (WAL snapshot isolation).
// Other processes (admin CLI) may open the same file at the same time; they
// wait on SQLite's busy timeout.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "store/change_hub.h"
#include "store/store.h"

namespace correio::store {

struct SqliteOptions {
  std::string path;  // the database file, e.g. <data_dir>/correio.db
  // Test-only: false sets synchronous=OFF so durability tests can be shown
  // to depend on fsync. Never turn off in production.
  bool fsync = true;
  // How long a connection waits for another process' lock (ms).
  int busy_timeout_ms = 30000;
  // Test-only seam (STYLE 19): the name of a registered SQLite VFS every
  // connection uses, e.g. one that simulates power loss. Empty: default.
  std::string vfs;
  // Run the indexer thread (full-text index, garbage blobs). The server
  // does; short-lived processes (admin CLI) leave the work to it. Searches
  // catch up their mailbox on their own either way.
  // Exactly one process per data directory may (the server: one indexer
  // per search database).
  bool background_index = false;
  // The indexer thread leaves pending text younger than this for later
  // (config search.index_delay_seconds): mail deleted by then costs no
  // index work. Searches catch up their mailbox regardless.
  std::chrono::seconds index_delay{0};
};

// The full-text index database beside `db_path`: correio.db ->
// correio-search.db. Part of the data directory (back it up with it).
std::string SearchIndexPath(std::string_view db_path);

// The file beside `db_path` that holds Store::DirectoryVersion for every
// process on the store (base/shared_counter.h): correio.db ->
// correio-directory.version. Nothing in it needs a backup.
std::string DirectoryVersionPath(std::string_view db_path);

// Opens (creating if needed) and migrates the database. `hub` must outlive
// the store; it may be null (nothing is published).
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options,
                                               ChangeHub* hub);

// The schema version this build writes (PRAGMA user_version).
inline constexpr int kSqliteSchemaVersion = 8;

}  // namespace correio::store
