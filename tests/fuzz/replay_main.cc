// main() for fuzz targets in builds without libFuzzer (GCC, the normal
// `make test` build): runs LLVMFuzzerTestOneInput once over every file
// named on the command line, descending into directories, so the seed
// corpora and every crash ever found stay regression tests under
// ASan/UBSan. Arguments starting with '-' (libFuzzer flags) are ignored,
// so one command line works for both kinds of binary.
//
// This is replay only: it does not mutate and is not coverage-guided.
//
// Memory: libFuzzer's -rss_limit_mb=512 has no ASan equivalent, so the
// peak RSS is checked after every input (getrusage) and the run fails
// naming the first input after which it exceeded CORREIO_FUZZ_RSS_LIMIT_MB
// (default 512). Single huge allocations are caught by ASan's
// max_allocation_size_mb, which the CTest registration sets.
#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

long PeakRssMb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;  // Linux reports KiB
}

void Collect(const std::filesystem::path& p, std::vector<std::string>* out) {
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(p, ec)) {
      if (e.is_regular_file(ec)) out->push_back(e.path().string());
    }
  } else if (std::filesystem::is_regular_file(p, ec)) {
    out->push_back(p.string());
  } else {
    std::fprintf(stderr, "replay: no such file or directory: %s\n",
                 p.string().c_str());
    std::exit(2);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') continue;
    Collect(argv[i], &files);
  }
  std::sort(files.begin(), files.end());
  // An empty corpus would make the CTest test pass without testing
  // anything.
  if (files.empty()) {
    std::fprintf(stderr, "replay: no inputs\n");
    return 2;
  }
  long limit_mb = 512;
  if (const char* env = std::getenv("CORREIO_FUZZ_RSS_LIMIT_MB")) {
    limit_mb = std::strtol(env, nullptr, 10);
  }
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    std::printf("replay: %s (%zu bytes)\n", f.c_str(), data.size());
    std::fflush(stdout);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()),
                           data.size());
    if (long rss = PeakRssMb(); rss > limit_mb) {
      std::fprintf(stderr, "replay: peak RSS %ld MB > %ld MB after %s\n", rss,
                   limit_mb, f.c_str());
      return 1;
    }
  }
  std::printf("replay: %zu inputs ok, peak RSS %ld MB\n", files.size(),
              PeakRssMb());
  return 0;
}
