#include "base/shared_counter.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace correio {

Result<std::unique_ptr<SharedCounter>> SharedCounter::Open(
    const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Fail(ErrorCode::kTemp, path + ": " + std::strerror(errno));
  }
  // A new file is empty: grow it to hold the value (zeros). Two processes
  // creating it at once both set the same size, which keeps what is there.
  struct stat st {};
  if (::fstat(fd, &st) != 0 ||
      (st.st_size < static_cast<off_t>(sizeof(uint64_t)) &&
       ::ftruncate(fd, sizeof(uint64_t)) != 0)) {
    int e = errno;
    ::close(fd);
    return Fail(ErrorCode::kTemp, path + ": " + std::strerror(e));
  }
  void* map = ::mmap(nullptr, sizeof(uint64_t), PROT_READ | PROT_WRITE,
                     MAP_SHARED, fd, 0);
  int e = errno;
  ::close(fd);  // the mapping keeps the file
  if (map == MAP_FAILED) {
    return Fail(ErrorCode::kTemp, path + ": mmap: " + std::strerror(e));
  }
  return std::unique_ptr<SharedCounter>(
      new SharedCounter(static_cast<uint64_t*>(map)));
}

SharedCounter::~SharedCounter() { ::munmap(value_, sizeof(uint64_t)); }

uint64_t SharedCounter::Load() const {
  return std::atomic_ref<uint64_t>(*value_).load(std::memory_order_acquire);
}

void SharedCounter::Increment() {
  std::atomic_ref<uint64_t>(*value_).fetch_add(1, std::memory_order_acq_rel);
}

}  // namespace correio
