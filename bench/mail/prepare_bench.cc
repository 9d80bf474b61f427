// CPU of mail::PrepareBlob, the work every delivery (SMTP DATA, IMAP
// APPEND, a bounce) does on the session's thread before the store sees it:
// the MIME summary and the text queued for the search index (Google
// Benchmark, one thread). The message shapes:
//
//   BM_PrepareBlob/plain/N: one text/plain part of N octets, as
//     smtp-source sends (the SMTP scenario of bench/run.py);
//   BM_PrepareBlob_Multipart: a 40 KB text part beside a 60 KB base64
//     attachment, the corpus's common shape.
//
// For before/after comparisons of the delivery path's parse, where the
// SMTP bench is too noisy on a shared 2-core machine to show a few per
// cent:
//
//   build-bench/bench/correio_mail_prepare_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <string>
#include <utility>
#include <vector>

#include "mail/deliver.h"

namespace correio::mail {
namespace {

std::string Header() {
  return "From: <sender@example.org>\r\nTo: <user@example.org>\r\n"
         "Date: Mon, 07 Dec 2026 18:00:00 +0000\r\n"
         "Message-Id: <bench.1@example.org>\r\nSubject: benchmark\r\n";
}

// Lines of 78 octets of ASCII text and CRLF, up to `size` octets in all.
std::string TextLines(size_t size) {
  std::string out;
  for (size_t line = 0; out.size() < size; ++line) {
    std::string l = "La de da de da " + std::to_string(line) + " ";
    while (l.size() < 78) l += "text ";
    l.resize(78);
    out += l + "\r\n";
  }
  out.resize(size);
  return out;
}

// PrepareBlob takes the message by value, as a session hands it over; the
// copies it consumes are made outside the timed part, 64 at a time.
void Run(benchmark::State& state, const std::string& message) {
  std::vector<std::string> copies;
  for (auto _ : state) {
    if (copies.empty()) {
      state.PauseTiming();
      copies.assign(64, message);
      state.ResumeTiming();
    }
    auto blob = PrepareBlob(std::move(copies.back()));
    benchmark::DoNotOptimize(blob);
    copies.pop_back();  // moved from: nothing to free
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(message.size()));
}

void BM_PrepareBlob(benchmark::State& state) {
  const std::string message =
      Header() + "\r\n" + TextLines(static_cast<size_t>(state.range(0)));
  Run(state, message);
}
BENCHMARK(BM_PrepareBlob)->ArgName("plain")->Arg(1024)->Arg(100 * 1024);

void BM_PrepareBlob_Multipart(benchmark::State& state) {
  std::string attachment;
  for (const char c : TextLines(60 * 1024)) {
    attachment += static_cast<char>('A' + static_cast<unsigned char>(c) % 26);
    if (attachment.size() % 78 == 76) attachment += "\r\n";
  }
  const std::string message =
      Header() +
      "MIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
      "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
      TextLines(40 * 1024) +
      "\r\n--b1\r\nContent-Type: application/octet-stream\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n" +
      attachment + "\r\n--b1--\r\n";
  Run(state, message);
}
BENCHMARK(BM_PrepareBlob_Multipart);

}  // namespace
}  // namespace correio::mail

BENCHMARK_MAIN();
