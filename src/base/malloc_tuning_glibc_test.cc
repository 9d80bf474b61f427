#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "base/malloc_tuning.h"

namespace correio {
namespace {

// Built without sanitizers in every build (src/base/CMakeLists.txt): it
// tests glibc's allocator, which a sanitizer replaces.
long ThreadMinorFaults() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

// Allocates `bytes` in 4 KiB blocks, writes each, then frees them all, as
// a group commit's jobs take and give back their sub-journals: the page
// faults that took.
long AllocateTouchFree(size_t bytes) {
  std::vector<void*> blocks;
  blocks.reserve(bytes / 4096);
  long before = ThreadMinorFaults();
  for (size_t i = 0; i < bytes / 4096; ++i) {
    void* p = std::malloc(4096);
    std::memset(p, 0xa5, 4096);
    blocks.push_back(p);
  }
  for (void* p : blocks) std::free(p);
  return ThreadMinorFaults() - before;
}

TEST(MallocTuning, FreedMemoryIsReusedWithoutFaultingItInAgain) {
  ASSERT_TRUE(TuneMallocForServer());
  long first = 0;
  long again = 0;
  // A thread of its own: an arena whose top is this test's memory.
  std::thread([&] {
    first = AllocateTouchFree(512 * 1024);
    again = AllocateTouchFree(512 * 1024);
  }).join();
  EXPECT_GE(first, 100);  // the pages were new: the count is real
  EXPECT_LE(again, 8) << "freed memory was given back and faulted in again";
}

}  // namespace
}  // namespace correio
