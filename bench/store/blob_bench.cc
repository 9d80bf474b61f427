// Throwaway measurement for docs/storage.md: deliveries/second with fsync
// on, bodies stored inside SQLite (what store/sqlite does) versus bodies as
// fsynced files beside the database (file + fsync + rename + dir fsync, then
// the metadata row committed through the same store with an empty body).
//
// Not part of the CMake build. Build and run by hand (see docs/storage.md):
//   g++ -O2 -std=c++23 -I src bench/store/blob_bench.cc \
//     src/store/sqlite/sqlite_db.cc src/store/sqlite/sqlite_store.cc \
//     src/store/store.cc src/store/change_hub.cc src/base/{clock,error,log,strings}.cc \
//     -lsqlite3 -lcrypto -lspdlog -lfmt -pthread -o /tmp/blob_bench
//   /tmp/blob_bench /path/on/real/disk
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/sqlite_store.h"

using namespace correio::store;

namespace {

struct Env {
  std::unique_ptr<Store> store;
  MailboxId inbox = 0;
};

Env Open(const std::string& dir) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  SqliteOptions o;
  o.path = dir + "/correio.db";
  Env e;
  e.store = std::move(*OpenSqliteStore(o, nullptr));
  (void)e.store->AddDomain("example.org");
  Account a;
  a.address = "a@example.org";
  AccountId id = e.store->CreateAccount(a)->id;
  e.inbox = e.store->GetMailbox(id, "INBOX")->id;
  return e;
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

double Run(const std::string& base, bool files, size_t size, int threads,
           int per_thread) {
  std::string dir = base + (files ? "/files" : "/inline");
  Env e = Open(dir);
  std::string blobdir = dir + "/blobs";
  std::filesystem::create_directories(blobdir);
  std::atomic<int> errors{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        NewBlob b;
        std::string unique = std::to_string(t) + "-" + std::to_string(i);
        std::string body = unique + std::string(size - unique.size(), 'x');
        if (files) {
          if (!WriteFileSynced(blobdir, unique, body)) errors++;
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
  double secs = std::chrono::duration<double>(
                    std::chrono::steady_clock::now() - start)
                    .count();
  if (errors) std::fprintf(stderr, "errors: %d\n", errors.load());
  return threads * per_thread / secs;
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = argc > 1 ? argv[1] : "/tmp/correio-bench";
  int n = argc > 2 ? std::atoi(argv[2]) : 300;
  std::printf("%-8s %-7s %-8s %s\n", "bodies", "size", "threads",
              "deliveries/s");
  for (bool files : {false, true}) {
    for (size_t size : {size_t{1024}, size_t{100 * 1024}}) {
      for (int threads : {1, 10}) {
        double r = Run(base, files, size, threads, n / threads);
        std::printf("%-8s %-7s %-8d %.0f\n", files ? "files" : "sqlite",
                    size == 1024 ? "1KB" : "100KB", threads, r);
        std::fflush(stdout);
      }
    }
  }
  std::filesystem::remove_all(base);
}
