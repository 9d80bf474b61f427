// Deliveries per second through the SQLite store with fsync on (the numbers
// in docs/storage.md), Google Benchmark:
//
//   BM_Deliver/inline: bodies inside SQLite, what store/sqlite does.
//   BM_Deliver/files:  the alternative we did not take: each body written
//     to its own file (write + fsync + rename + directory fsync), then the
//     metadata row committed through the same store with a stub body.
//
// Arguments: body size in bytes, number of delivering threads. Each
// iteration delivers kPerIteration messages split over the threads, so with
// more threads the store's group commit shares fsyncs between them.
//
// Build: cmake -DCORREIO_BENCH=ON ... && ninja correio_store_blob_bench
// Run on the disk you care about (tmpfs makes fsync free):
//   CORREIO_BENCH_DIR=/var/tmp/correio-bench
//       build/bench/correio_store_blob_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/sqlite_store.h"

namespace correio::store {
namespace {

constexpr int kPerIteration = 100;

std::string BenchDir() {
  const char* env = std::getenv("CORREIO_BENCH_DIR");
  return env && *env ? env : "/var/tmp/correio-bench";
}

struct Env {
  std::unique_ptr<Store> store;
  MailboxId inbox = 0;
};

bool OpenEnv(const std::string& dir, Env& e) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/blobs");
  SqliteOptions o;
  o.path = dir + "/correio.db";
  auto s = OpenSqliteStore(o, nullptr);
  if (!s) return false;
  e.store = std::move(*s);
  if (!e.store->AddDomain("example.org")) return false;
  Account a;
  a.address = "a@example.org";
  auto acc = e.store->CreateAccount(a);
  if (!acc) return false;
  auto box = e.store->GetMailbox(acc->id, "INBOX");
  if (!box) return false;
  e.inbox = box->id;
  return true;
}

bool WriteFileSynced(const std::string& dir, const std::string& name,
                     const std::string& data) {
  std::string tmp = dir + "/tmp." + name, final = dir + "/" + name;
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return false;
  bool ok = write(fd, data.data(), data.size()) ==
                static_cast<ssize_t>(data.size()) &&
            fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), final.c_str()) != 0) return false;
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  ok = dfd >= 0 && fsync(dfd) == 0;
  if (dfd >= 0) close(dfd);
  return ok;
}

void Deliveries(benchmark::State& state, bool files) {
  const size_t size = static_cast<size_t>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  std::string dir = BenchDir() + (files ? "/files" : "/inline");
  Env e;
  if (!OpenEnv(dir, e)) {
    state.SkipWithError("cannot open the store");
    return;
  }
  std::atomic<int> errors{0};
  int64_t serial = 0;
  StoreStats before = e.store->Stats();
  for (auto _ : state) {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      int64_t first = serial + t * (kPerIteration / threads);
      ts.emplace_back([&, first] {
        for (int i = 0; i < kPerIteration / threads; ++i) {
          std::string unique = std::to_string(first + i) + "-";
          std::string body =
              unique +
              std::string(size > unique.size() ? size - unique.size() : 0, 'x');
          NewBlob b;
          if (files) {
            if (!WriteFileSynced(dir + "/blobs", unique, body)) errors++;
            b.data = unique;  // the row names the file
          } else {
            b.data = std::move(body);
          }
          b.search_text = b.data.substr(0, 200);
          if (!e.store->Deliver(b, {{e.inbox, {}, 0}})) errors++;
        }
      });
    }
    for (auto& t : ts) t.join();
    serial += kPerIteration;
  }
  if (errors) state.SkipWithError("deliveries failed");
  StoreStats after = e.store->Stats();
  int64_t delivered = state.iterations() * (kPerIteration / threads) * threads;
  state.SetItemsProcessed(delivered);
  state.SetBytesProcessed(delivered * static_cast<int64_t>(size));
  // How many deliveries shared one fsync on average (group commit).
  double commits = static_cast<double>(after.commits - before.commits);
  state.counters["per_commit"] = commits > 0 ? delivered / commits : 0;
  e.store.reset();
  std::filesystem::remove_all(dir);
}

void BM_DeliverInline(benchmark::State& state) { Deliveries(state, false); }
void BM_DeliverFiles(benchmark::State& state) { Deliveries(state, true); }

BENCHMARK(BM_DeliverInline)
    ->ArgsProduct({{1024, 100 * 1024}, {1, 10}})
    ->ArgNames({"size", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_DeliverFiles)
    ->ArgsProduct({{1024, 100 * 1024}, {1, 10}})
    ->ArgNames({"size", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace correio::store

BENCHMARK_MAIN();
