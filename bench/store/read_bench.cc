// CPU per small store read, the calls an IMAP session makes most (Google
// Benchmark, one thread, a warm store of 200 messages of 20 KB):
//
//   BM_ReadBlobHeads: info and the first 4 KB of 50 bodies in one snapshot
//     (FETCH of 50 message headers).
//   BM_GetMessages:   the rows of 50 messages (flags, sizes, blob ids).
//
// For before/after comparisons of the store's read path, where the IMAP
// bench is too noisy on a shared 2-core machine to show a few per cent.
//
//   CORREIO_BENCH_DIR=/var/tmp/correio-bench
//       build-bench/bench/correio_store_read_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_store.h"

namespace correio::store {
namespace {

constexpr int kMessages = 200;
constexpr int kBatch = 50;

struct Fixture {
  std::string dir;
  std::unique_ptr<Store> store;
  MailboxId inbox = 0;
  std::vector<BlobId> blobs;
  bool ok = false;

  Fixture() {
    const char* env = std::getenv("CORREIO_BENCH_DIR");
    dir = std::string(env && *env ? env : "/var/tmp/correio-bench") + "/read";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    SqliteOptions o;
    o.path = dir + "/correio.db";
    auto s = OpenSqliteStore(o, nullptr);
    if (!s) return;
    store = std::move(*s);
    if (!store->AddDomain("example.org")) return;
    Account a;
    a.address = "a@example.org";
    auto acc = store->CreateAccount(a);
    if (!acc) return;
    auto box = store->GetMailbox(acc->id, "INBOX");
    if (!box) return;
    inbox = box->id;
    std::vector<NewMessage> batch;
    for (int i = 0; i < kMessages; ++i) {
      NewMessage m;
      m.target.mailbox = inbox;
      m.blob.data = "Subject: message " + std::to_string(i) + "\r\n\r\n" +
                    std::string(20 * 1024, 'x');
      m.blob.summary = std::string(300, 's');
      batch.push_back(std::move(m));
    }
    auto d = store->AppendMany(batch, 0);
    if (!d) return;
    auto rows = store->GetMessages(inbox, {{1, 0xFFFFFFFFu}});
    if (!rows) return;
    for (const auto& r : *rows) blobs.push_back(r.blob);
    ok = blobs.size() == kMessages;
  }
  ~Fixture() {
    store.reset();
    std::filesystem::remove_all(dir);
  }
};

Fixture& Shared() {
  static Fixture f;
  return f;
}

void BM_ReadBlobHeads(benchmark::State& state) {
  Fixture& f = Shared();
  if (!f.ok) return state.SkipWithError("cannot fill the store");
  size_t at = 0;
  for (auto _ : state) {
    std::vector<BlobId> want;
    for (int i = 0; i < kBatch; ++i) want.push_back(f.blobs[at++ % kMessages]);
    size_t got = 0;
    auto st = f.store->ReadBlobHeads(
        want, [](size_t, const BlobInfo&) { return uint64_t{4096}; },
        [&](size_t, Result<BlobInfo> info, std::string data) {
          if (info && data.size() == 4096) got++;
        });
    if (!st || got != kBatch) return state.SkipWithError("read failed");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_GetMessages(benchmark::State& state) {
  Fixture& f = Shared();
  if (!f.ok) return state.SkipWithError("cannot fill the store");
  Uid first = 1;
  for (auto _ : state) {
    Uid last = first + kBatch - 1;
    auto rows = f.store->GetMessages(f.inbox, {{first, last}});
    if (!rows || rows->size() != kBatch) {
      return state.SkipWithError("read failed");
    }
    first = first + kBatch > kMessages ? 1 : first + kBatch;
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

BENCHMARK(BM_ReadBlobHeads)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GetMessages)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace correio::store

BENCHMARK_MAIN();
