// Helpers shared by the fuzz targets in tests/fuzz/ (STYLE 25).
//
// FUZZ_CHECK aborts on a broken invariant so libFuzzer (and the replay
// driver under ASan) reports it like any crash, with the failing condition
// printed first. Chunking helpers replay one input through an incremental
// parser in pieces of 1, 2, 3, 7 and 64 bytes and as a whole: a parser fed
// over the network sees every split, and the result may not depend on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace correio::fuzz {

[[noreturn]] inline void Die(const char* file, int line, const char* what) {
  std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", file, line, what);
  std::fflush(stderr);
  std::abort();
}

#define FUZZ_CHECK(cond)                                          \
  do {                                                            \
    if (!(cond)) ::correio::fuzz::Die(__FILE__, __LINE__, #cond); \
  } while (0)

// Chunk sizes every incremental parser is replayed with; 0 stands for "the
// whole input in one call".
inline constexpr size_t kChunkSizes[] = {0, 1, 2, 3, 7, 64};

// The n-th piece of `data` when cut into pieces of `chunk` bytes (0: one
// piece). Callers loop `for (auto piece : Pieces(data, chunk))`.
class Pieces {
 public:
  Pieces(std::string_view data, size_t chunk)
      : data_(data),
        chunk_(chunk != 0 ? chunk : (data.empty() ? 1 : data.size())) {}
  class Iterator {
   public:
    Iterator(std::string_view rest, size_t chunk)
        : rest_(rest), chunk_(chunk) {}
    std::string_view operator*() const { return rest_.substr(0, chunk_); }
    Iterator& operator++() {
      rest_.remove_prefix(rest_.size() < chunk_ ? rest_.size() : chunk_);
      return *this;
    }
    bool operator!=(const Iterator& o) const {
      return rest_.size() != o.rest_.size();
    }

   private:
    std::string_view rest_;
    size_t chunk_;
  };
  Iterator begin() const { return Iterator(data_, chunk_); }
  Iterator end() const { return Iterator(data_.substr(data_.size()), chunk_); }

 private:
  std::string_view data_;
  size_t chunk_;
};

inline std::string_view AsView(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// Well-formed UTF-8: no overlongs, no surrogates, nothing above U+10FFFF.
inline bool IsUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
        (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace correio::fuzz
