// SMTP DATA and BDAT readers (src/smtp/proto/data_reader.h), fed in chunks
// of 1, 2, 3, 7 and 64 bytes and as a whole. Every Feed before the end
// takes all it is given; the end is found at the same place and the
// message, size and flags never depend on the split (SMTP smuggling hides
// in splits). A message without bare CR/LF flags has only CRLF line ends,
// and a message within the size limit is stored whole.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "smtp/proto/data_reader.h"

namespace {

namespace smtp = correio::smtp;

struct DataResult {
  size_t consumed = 0;
  bool done = false;
  std::string message;
  uint64_t size = 0;
  bool bare_lf = false, bare_cr = false, too_big = false, too_long = false;
  bool operator==(const DataResult&) const = default;
};

DataResult RunData(std::string_view in, size_t chunk, uint64_t max_size,
                   uint64_t max_line) {
  smtp::DataReader r(max_size, max_line);
  DataResult out;
  for (std::string_view piece : correio::fuzz::Pieces(in, chunk)) {
    if (piece.empty()) break;
    size_t n = r.Feed(piece);
    FUZZ_CHECK(n <= piece.size());
    out.consumed += n;
    if (r.done()) break;
    FUZZ_CHECK(n == piece.size());  // progress: all taken until the end
  }
  out.done = r.done();
  out.message = r.message();
  out.size = r.size();
  out.bare_lf = r.bare_lf();
  out.bare_cr = r.bare_cr();
  out.too_big = r.too_big();
  out.too_long = r.line_too_long();
  return out;
}

void CheckClean(const std::string& m) {
  // Only CRLF line ends.
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n') FUZZ_CHECK(i > 0 && m[i - 1] == '\r');
    if (m[i] == '\r') FUZZ_CHECK(i + 1 < m.size() && m[i + 1] == '\n');
  }
}

struct ChunkResult {
  std::string message;
  uint64_t size = 0;
  bool bare_lf = false, bare_cr = false, too_big = false;
  bool operator==(const ChunkResult&) const = default;
};

ChunkResult RunBdat(std::string_view in, size_t chunk, uint64_t max_size) {
  smtp::ChunkAccumulator acc(max_size);
  for (std::string_view piece : correio::fuzz::Pieces(in, chunk)) {
    acc.Feed(piece);
  }
  acc.Finish();
  return {acc.message(), acc.size(), acc.bare_lf(), acc.bare_cr(),
          acc.too_big()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = correio::fuzz::AsView(data, size);
  for (auto [max_size, max_line] :
       {std::pair<uint64_t, uint64_t>{1 << 20, 1000}, {100, 20}}) {
    DataResult whole = RunData(in, 0, max_size, max_line);
    for (size_t chunk : correio::fuzz::kChunkSizes) {
      if (chunk == 0) continue;
      FUZZ_CHECK(RunData(in, chunk, max_size, max_line) == whole);
    }
    if (whole.done) {
      FUZZ_CHECK(in.substr(0, whole.consumed).ends_with("\r\n.\r\n") ||
                 in.substr(0, whole.consumed) == ".\r\n");
    }
    if (!whole.too_big) {
      FUZZ_CHECK(whole.message.size() == whole.size);
      FUZZ_CHECK(whole.size <= max_size);
    }
    FUZZ_CHECK(whole.message.size() <= max_size);
    if (whole.done && !whole.bare_lf && !whole.bare_cr) {
      CheckClean(whole.message);
    }

    ChunkResult bdat = RunBdat(in, 0, max_size);
    for (size_t chunk : correio::fuzz::kChunkSizes) {
      if (chunk == 0) continue;
      FUZZ_CHECK(RunBdat(in, chunk, max_size) == bdat);
    }
    if (!bdat.too_big) {
      FUZZ_CHECK(bdat.message == in);
      if (!bdat.bare_lf && !bdat.bare_cr) CheckClean(bdat.message);
    }
  }
  return 0;
}
