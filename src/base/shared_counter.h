// A 64-bit counter kept in a small file mapped shared, so that every
// process mapping the same file sees one value. Reading it is one memory
// load: no system call, no lock, nothing that blocks. For stamps another
// process must see at once, e.g. store::Store::DirectoryVersion (the admin
// CLI adds an account while the server runs).
//
// The file holds nothing to back up: deleting it while processes have it
// mapped splits them (each keeps counting on its own copy) until they
// reopen it, so its users must also tolerate a stale value for a bounded
// time.
//
// Thread-safety: Load and Increment from any thread of any process.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/error.h"

namespace correio {

class SharedCounter {
 public:
  // Maps `path`, creating it (mode 0600, value 0) if it is missing.
  static Result<std::unique_ptr<SharedCounter>> Open(const std::string& path);
  ~SharedCounter();
  SharedCounter(const SharedCounter&) = delete;
  SharedCounter& operator=(const SharedCounter&) = delete;

  uint64_t Load() const;
  void Increment();

 private:
  explicit SharedCounter(uint64_t* value) : value_(value) {}
  uint64_t* value_;  // in the shared mapping (page aligned)
};

}  // namespace correio
