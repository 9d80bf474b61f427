// Internal to store/sqlite: a VFS shim that gathers a connection's WAL
// writes into one write(2) per commit.
//
// SQLite writes each WAL frame with two calls, the 24-byte frame header and
// then the page, so a commit that dirties 15 pages costs 30 pwrite(2)s
// before its one fsync: 20 of the server's ~75 system calls per SMTP
// message (strace, 2,000 messages at 10 sessions). SQLite has no option to
// batch them, and the WAL format is SQLite's own, so the batching belongs
// in the VFS layer SQLite provides for it (the same way its own
// multiplexor and checksum shims wrap the default VFS).
//
// The rule that keeps it correct: a connection's WAL bytes are held back
// only across consecutive writes to that WAL, each contiguous with the
// last. Any other call on the WAL or on the connection's own database file
// (sync, read, size, truncate, lock, shared-memory lock or barrier, close)
// first writes what is held. So:
//  - a commit's frames reach the file before its xSync (synchronous=FULL)
//    and before the barrier that publishes the new WAL index header to
//    other connections (any synchronous level): no reader, in this process
//    or another, can be told of a frame that is not in the file;
//  - the connection re-reading its own spilled frames, a checkpoint, and a
//    rewrite of a frame already written all see the file as if every write
//    had gone straight through.
// The one difference from the default VFS: a failed write shows at the next
// call (normally the commit's xSync), not at the frame's own xWrite. SQLite
// then rolls the transaction back as for any failed commit.
#pragma once

#include <string>

namespace correio::store::sqlite {

// Registers (once per base) the gathering VFS over `base`, a registered
// VFS's name (empty: SQLite's default), and returns its name for
// sqlite3_open_v2. Thread-safe.
const char* WalGatherVfs(const std::string& base = "");

}  // namespace correio::store::sqlite
