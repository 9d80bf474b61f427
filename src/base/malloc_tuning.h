// glibc malloc settings for the long-running server (`correio serve`).
//
// glibc returns the free memory at the top of a heap to the kernel as soon
// as it passes 128 KiB (M_TRIM_THRESHOLD), until it has seen a large block
// freed and raised its thresholds itself. The store's writer allocates and
// frees about that much for every job: SQLite keeps a SAVEPOINT's
// sub-journal in one chunk as large as its in-memory limit (124 KiB,
// store/sqlite/sqlite_db.cc), and each delivery in a group commit has its
// own savepoint. So every job gave the pages back (madvise) and faulted
// them in again, on the thread every delivery waits for. Measured with
// 5,000 1 KB deliveries over 10 sessions: 5,804 madvise calls and 18,379
// page faults, almost all on the writer, against none and 1,036 with the
// settings below; server CPU per message 7% lower (bench/README.md,
// seventeenth session).
//
// The settings are glibc's own steady state after it has seen a 1 MiB
// block freed: blocks under 1 MiB come from the heap, and a heap keeps up
// to 2 MiB of free memory at its top. At most 2 MiB per malloc arena (one
// per thread that allocates, up to 8 per core) stays resident unused.
#pragma once

namespace correio {

// Applies the settings above. False if the allocator refused them (a
// sanitizer's allocator, or a C library other than glibc): the server runs
// as before.
bool TuneMallocForServer();

}  // namespace correio
