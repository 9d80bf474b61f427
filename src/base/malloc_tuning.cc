#include "base/malloc_tuning.h"

#include <cstdlib>  // defines __GLIBC__ with glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace correio {

bool TuneMallocForServer() {
#if defined(__GLIBC__)
  constexpr int kMmapThreshold = 1 << 20;
  constexpr int kTrimThreshold = 2 << 20;
  // Setting either fixes both thresholds (glibc no longer moves them),
  // so both are set.
  return mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 &&
         mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
#else
  return false;
#endif
}

}  // namespace correio
