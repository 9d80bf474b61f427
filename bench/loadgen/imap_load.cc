// correio_imap_load: the IMAP load generator of bench/imapload.py
// (`session` and `login` profiles) in C++, so that the client costs little
// CPU next to the server it measures (docs/benchmarks.md, "The IMAP load
// generator"). Same command cycle, same account spreading, same
// ramp/measured-window rule, same JSON on stdout; imapload.py stays the
// reference and the `idle` profile.
//
//   correio_imap_load session --port 1430 --messages DIR --accounts 4
//       --clients 10 --duration 10 --ramp 2   (one command line)
//
// One thread, one io_context, one coroutine per client: the server under
// test needs the other cores.
//
// Profiles (see imapload.py for the why):
//   session  connect, LOGIN, SELECT INBOX once, then repeat:
//              FETCH newest 50 headers, FETCH one full message, STORE
//              +/-FLAGS (\Flagged), SEARCH SUBJECT word, APPEND (LITERAL+
//              when offered), UID STORE \Deleted + UID EXPUNGE on it
//              (NOOP, STORE, EXPUNGE without UIDPLUS), NOOP
//   login    connect, LOGIN, SELECT INBOX, FETCH newest 50 headers,
//            LOGOUT, again and again
//
// Latency: from writing a command to reading its tagged reply. A command
// counts when its reply arrives inside [t_start, t_end]; t_start is
// --start-at (CLOCK_MONOTONIC seconds, Python's time.monotonic()) or now
// + --ramp. A tagged NO/BAD, a dropped connection or a 60 s stall is an
// error: the client closes the connection, waits 50 ms and starts again
// with a new one (as imapload.py does). At t_end + 2 s every connection
// still open is closed.

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common.h"
#include "imap_response.h"

namespace correio::bench {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kHeaders =
    "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS "
    "(DATE FROM TO CC SUBJECT MESSAGE-ID)])";
constexpr std::array<std::string_view, 5> kSearchWords = {
    "report", "invoice", "meeting", "photos", "order"};
// imapload.py has a 60 s timeout on connect + greeting; here every
// operation has it, checked once a second (no timer per command).
constexpr auto kStall = std::chrono::seconds(60);
constexpr auto kRetryPause = std::chrono::milliseconds(50);
constexpr auto kGrace = std::chrono::seconds(2);
constexpr size_t kReadBuffer = 64 * 1024;

// Command names in the JSON; in sorted order, as imapload.py prints them.
enum CmdName {
  kAppend,
  kConnect,
  kExpunge,
  kFetchBody,
  kFetchHeaders,
  kLogin,
  kLogout,
  kNoop,
  kSearch,
  kSelect,
  kStore,
  kNumCmd
};
constexpr std::array<std::string_view, kNumCmd> kCmdNames = {
    "APPEND", "CONNECT", "EXPUNGE", "FETCH body", "FETCH headers", "LOGIN",
    "LOGOUT", "NOOP",    "SEARCH",  "SELECT",     "STORE"};

struct Options {
  std::string profile;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string user = "u%d@example.org";
  std::string password = "benchpw";
  int accounts = 1;
  int clients = 10;
  double duration = 10;
  double ramp = 2;
  double start_at = -1;
  std::string messages;
};

class ImapError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Stats {
  Clock::time_point t_start, t_end;
  std::array<std::vector<int64_t>, kNumCmd> lat;  // nanoseconds
  int64_t errors = 0;
  std::optional<std::string> first_error;

  void Add(CmdName name, Clock::time_point t0, Clock::time_point t1) {
    // Throughput counts commands completing inside the window.
    if (t_start <= t1 && t1 <= t_end) {
      lat[name].push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0)
              .count());
    }
  }
  void Error(std::string_view what) {
    ++errors;
    if (!first_error) first_error = std::string(what.substr(0, 300));
  }
};

class Conn;

// Every open connection, so that a stalled one can be closed (kStall) and
// all of them at the end of the run.
struct Registry {
  std::unordered_set<Conn*> conns;
  bool stopping = false;
};

bool StartsWith(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

bool StartsWithNoCase(std::string_view s, std::string_view p) {
  if (s.size() < p.size()) return false;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = s[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != p[i]) return false;
  }
  return true;
}

// Parses the decimal number at the start of s; 0 digits → nullopt.
std::optional<uint64_t> Number(std::string_view s, size_t* used) {
  uint64_t v = 0;
  size_t i = 0;
  while (i < s.size() && i < 19 && s[i] >= '0' && s[i] <= '9') {
    v = v * 10 + static_cast<uint64_t>(s[i] - '0');
    ++i;
  }
  *used = i;
  if (i == 0) return std::nullopt;
  return v;
}

// The UID of `[APPENDUID <validity> <uid>]` in a tagged reply (RFC 4315
// §3), as text; empty if absent.
std::string AppendUid(std::string_view line) {
  for (size_t at = line.find("[APPENDUID "); at != std::string_view::npos;
       at = line.find("[APPENDUID ", at + 1)) {
    std::string_view r = line.substr(at + 11);
    size_t n = 0;
    if (!Number(r, &n) || n >= r.size() || r[n] != ' ') continue;
    r = r.substr(n + 1);
    size_t m = 0;
    if (!Number(r, &m) || m >= r.size() || r[m] != ']') continue;
    return std::string(r.substr(0, m));
  }
  return {};
}

class Conn {
 public:
  Conn(asio::any_io_executor ex, Registry* reg)
      : sock_(ex), buf_(kReadBuffer), reg_(reg) {
    reg_->conns.insert(this);
  }
  ~Conn() { reg_->conns.erase(this); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  int exists() const { return exists_; }
  bool uidplus() const { return uidplus_; }
  Clock::time_point deadline() const { return deadline_; }

  void Close(bool stalled) {
    stalled_ = stalled_ || stalled;
    boost::system::error_code ec;
    sock_.close(ec);
  }

  // TCP connect and the greeting (* OK or * PREAUTH).
  awaitable<void> Connect(tcp::endpoint ep) {
    Arm();
    auto [ec] = co_await sock_.async_connect(ep, asio::as_tuple(use_awaitable));
    if (ec) Throw(ec);
    sock_.set_option(tcp::no_delay(true), ec);  // as asyncio does
    co_await ReadResponse();
    std::string_view g = scanner_.Head();
    if (!StartsWith(g, "* OK") && !StartsWith(g, "* PREAUTH")) {
      throw ImapError("greeting: " + std::string(g.substr(0, 200)));
    }
    CapsFrom(g);
    deadline_ = Clock::time_point::max();
  }

  // Sends `text` with a new tag (and `literal` after it: LITERAL+ when
  // offered, else a synchronizing literal after the server's "+"), reads
  // up to the tagged reply and returns that line (valid until the next
  // command). With `check`, a reply other than OK throws.
  awaitable<std::string_view> Command(std::string_view text,
                                      const std::string* literal = nullptr,
                                      bool check = true) {
    Arm();
    tag_.clear();
    fmt::format_to(std::back_inserter(tag_), "A{} ", ++n_);
    out_.assign(tag_);
    out_.append(text);
    if (literal == nullptr) {
      out_.append("\r\n");
      co_await Write(std::array{asio::const_buffer(asio::buffer(out_))});
    } else if (literal_plus_) {
      fmt::format_to(std::back_inserter(out_), " {{{}+}}\r\n", literal->size());
      co_await Write(std::array<asio::const_buffer, 3>{
          asio::buffer(out_), asio::buffer(*literal), asio::buffer("\r\n", 2)});
    } else {
      fmt::format_to(std::back_inserter(out_), " {{{}}}\r\n", literal->size());
      co_await Write(std::array{asio::const_buffer(asio::buffer(out_))});
      for (;;) {
        co_await ReadResponse();
        std::string_view line = scanner_.Head();
        if (StartsWith(line, "+")) break;
        if (StartsWith(line, tag_)) Refused(text, line);
        Note(line);
      }
      co_await Write(std::array<asio::const_buffer, 2>{
          asio::buffer(*literal), asio::buffer("\r\n", 2)});
    }
    for (;;) {
      co_await ReadResponse();
      std::string_view line = scanner_.Head();
      if (StartsWith(line, tag_)) break;
      Note(line);
    }
    tagged_.assign(scanner_.Head());
    deadline_ = Clock::time_point::max();
    CapsFrom(tagged_);
    if (check &&
        !StartsWith(std::string_view(tagged_).substr(tag_.size()), "OK")) {
      Refused(text, tagged_);
    }
    co_return std::string_view(tagged_);
  }

  // LOGIN with quoted strings (the bench's credentials need no escaping),
  // then CAPABILITY unless the reply carried it.
  awaitable<void> Login(std::string user, std::string password) {
    std::string_view line =
        co_await Command(fmt::format("LOGIN \"{}\" \"{}\"", user, password));
    if (line.find("[CAPABILITY") == std::string_view::npos) {
      co_await Command("CAPABILITY");
    }
  }

 private:
  void Arm() { deadline_ = Clock::now() + kStall; }

  [[noreturn]] void Throw(const boost::system::error_code& ec) {
    if (stalled_) throw ImapError("timed out");
    if (ec == asio::error::eof) throw ImapError("connection closed by server");
    throw ImapError(ec.message());
  }

  [[noreturn]] static void Refused(std::string_view text,
                                   std::string_view line) {
    throw ImapError(
        fmt::format("{}: {}", text.substr(0, 60), line.substr(0, 200)));
  }

  template <typename Buffers>
  awaitable<void> Write(Buffers bufs) {
    auto [ec, n] =
        co_await asio::async_write(sock_, bufs, asio::as_tuple(use_awaitable));
    if (ec) Throw(ec);
  }

  // One whole response into scanner_ (literals skipped).
  awaitable<void> ReadResponse() {
    scanner_.Reset();
    for (;;) {
      if (rpos_ < wpos_) {
        rpos_ +=
            scanner_.Feed(std::string_view(buf_.data() + rpos_, wpos_ - rpos_));
        if (scanner_.Done()) co_return;
        if (scanner_.Failed()) throw ImapError(scanner_.error());
      }
      // The scanner took everything buffered: refill from the start.
      rpos_ = wpos_ = 0;
      auto [ec, n] = co_await sock_.async_read_some(
          asio::buffer(buf_), asio::as_tuple(use_awaitable));
      if (ec) Throw(ec);
      wpos_ = n;
    }
  }

  // Untagged data the generator tracks: EXISTS, EXPUNGE, CAPABILITY.
  void Note(std::string_view line) {
    if (StartsWith(line, "* ")) {
      size_t used = 0;
      std::optional<uint64_t> n = Number(line.substr(2), &used);
      if (n) {
        std::string_view rest = line.substr(2 + used);
        if (StartsWith(rest, " EXISTS")) {
          exists_ = static_cast<int>(*n);
        } else if (StartsWith(rest, " EXPUNGE") && exists_ > 0) {
          --exists_;
        }
        return;
      }
    }
    if (StartsWithNoCase(line, "* CAPABILITY ")) SetCaps(line.substr(13));
  }

  // [CAPABILITY ...] in a greeting or tagged reply.
  void CapsFrom(std::string_view line) {
    size_t at = line.find("[CAPABILITY ");
    if (at == std::string_view::npos) return;
    std::string_view rest = line.substr(at + 12);
    SetCaps(rest.substr(0, rest.find(']')));
  }

  void SetCaps(std::string_view list) {
    literal_plus_ = uidplus_ = false;
    while (!list.empty()) {
      size_t sp = list.find(' ');
      std::string_view cap = list.substr(0, sp);
      if (cap.size() == 8 && StartsWithNoCase(cap, "LITERAL+")) {
        literal_plus_ = true;
      }
      if (cap.size() == 7 && StartsWithNoCase(cap, "UIDPLUS")) uidplus_ = true;
      if (sp == std::string_view::npos) break;
      list.remove_prefix(sp + 1);
    }
  }

  tcp::socket sock_;
  std::vector<char> buf_;
  size_t rpos_ = 0, wpos_ = 0;
  ResponseScanner scanner_;
  Registry* reg_;
  uint64_t n_ = 0;
  std::string tag_, out_, tagged_;
  int exists_ = 0;
  bool literal_plus_ = false, uidplus_ = false, stalled_ = false;
  Clock::time_point deadline_ = Clock::time_point::max();
};

// What every client shares; lives in Main() for the whole run.
struct Run {
  Options opt;
  tcp::endpoint ep;
  std::vector<std::string> messages;
  Stats stats;
  Registry reg;
  int live = 0;                            // clients still running
  asio::steady_timer* watchdog = nullptr;  // cancelled when live drops to 0
};

int Uniform(std::mt19937_64& rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}

std::string UserName(const std::string& pattern, int account) {
  std::string u = pattern;
  size_t at = u.find("%d");
  if (at != std::string::npos) u.replace(at, 2, std::to_string(account));
  return u;
}

awaitable<void> Pause(Clock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::as_tuple(use_awaitable));
}

awaitable<std::string_view> Timed(Run* run, Conn* c, CmdName name,
                                  std::string text,
                                  const std::string* literal = nullptr) {
  Clock::time_point t0 = Clock::now();
  std::string_view line = co_await c->Command(text, literal);
  run->stats.Add(name, t0, Clock::now());
  co_return line;
}

// What both profiles do after SELECT: flags and headers of the newest 50
// (a message list), if there is any message.
awaitable<void> FetchNewestHeaders(Run* run, Conn* c) {
  const int n = c->exists();
  if (n == 0) co_return;
  co_await Timed(
      run, c, kFetchHeaders,
      fmt::format("FETCH {}:{} {}", std::max(1, n - 49), n, kHeaders));
}

bool Running(const Run* run) {
  return !run->reg.stopping && Clock::now() < run->stats.t_end;
}

void Failed(Run* run, const std::exception& e) {
  // After the end of the run connections are closed on purpose.
  if (!run->reg.stopping) run->stats.Error(e.what());
}

awaitable<void> SessionClient(Run* run, int idx) {
  auto ex = co_await asio::this_coro::executor;
  const std::string user = UserName(run->opt.user, idx % run->opt.accounts);
  std::mt19937_64 rng(static_cast<uint64_t>(idx));
  std::unique_ptr<Conn> c;
  while (Running(run)) {
    bool failed = false;
    try {
      if (!c) {
        Clock::time_point t0 = Clock::now();
        c = std::make_unique<Conn>(ex, &run->reg);
        co_await c->Connect(run->ep);
        co_await c->Login(user, run->opt.password);
        run->stats.Add(kLogin, t0, Clock::now());
        co_await Timed(run, c.get(), kSelect, "SELECT INBOX");
      }
      co_await FetchNewestHeaders(run, c.get());
      const int n = c->exists();
      if (n > 0) {
        co_await Timed(run, c.get(), kFetchBody,
                       fmt::format("FETCH {} BODY.PEEK[]", Uniform(rng, 1, n)));
        const char op = Uniform(rng, 0, 1) ? '-' : '+';
        co_await Timed(run, c.get(), kStore,
                       fmt::format("STORE {} {}FLAGS (\\Flagged)",
                                   Uniform(rng, 1, n), op));
      }
      co_await Timed(
          run, c.get(), kSearch,
          fmt::format("SEARCH SUBJECT {}",
                      kSearchWords[Uniform(rng, 0, kSearchWords.size() - 1)]));
      const std::string* msg = &run->messages[Uniform(
          rng, 0, static_cast<int>(run->messages.size()) - 1)];
      std::string_view line =
          co_await Timed(run, c.get(), kAppend, "APPEND INBOX (\\Seen)", msg);
      const std::string uid = AppendUid(line);
      if (!uid.empty() && c->uidplus()) {
        co_await Timed(
            run, c.get(), kStore,
            fmt::format("UID STORE {} +FLAGS.SILENT (\\Deleted)", uid));
        co_await Timed(run, c.get(), kExpunge,
                       fmt::format("UID EXPUNGE {}", uid));
      } else {
        // The APPEND response told us the new EXISTS (or NOOP will).
        co_await Timed(run, c.get(), kNoop, "NOOP");
        co_await Timed(
            run, c.get(), kStore,
            fmt::format("STORE {} +FLAGS.SILENT (\\Deleted)", c->exists()));
        co_await Timed(run, c.get(), kExpunge, "EXPUNGE");
      }
      co_await Timed(run, c.get(), kNoop, "NOOP");
    } catch (const std::exception& e) {
      Failed(run, e);
      failed = true;
    }
    if (failed) {
      c.reset();
      co_await Pause(kRetryPause);
    }
  }
  if (c && !run->reg.stopping) {
    try {
      co_await c->Command("LOGOUT", nullptr, false);
    } catch (const std::exception&) {
    }
  }
}

awaitable<void> LoginClient(Run* run, int idx) {
  auto ex = co_await asio::this_coro::executor;
  const std::string user = UserName(run->opt.user, idx % run->opt.accounts);
  while (Running(run)) {
    bool failed = false;
    try {
      Clock::time_point t0 = Clock::now();
      auto c = std::make_unique<Conn>(ex, &run->reg);
      co_await c->Connect(run->ep);
      run->stats.Add(kConnect, t0, Clock::now());
      t0 = Clock::now();
      co_await c->Login(user, run->opt.password);
      run->stats.Add(kLogin, t0, Clock::now());
      co_await Timed(run, c.get(), kSelect, "SELECT INBOX");
      co_await FetchNewestHeaders(run, c.get());
      t0 = Clock::now();
      co_await c->Command("LOGOUT", nullptr, false);
      run->stats.Add(kLogout, t0, Clock::now());
    } catch (const std::exception& e) {
      Failed(run, e);
      failed = true;
    }
    if (failed) co_await Pause(kRetryPause);
  }
}

// Closes connections stalled for kStall; at t_end + kGrace closes them
// all so that every client ends.
awaitable<void> Watchdog(Run* run) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  run->watchdog = &t;
  const Clock::time_point end = run->stats.t_end + kGrace;
  while (run->live > 0) {
    t.expires_after(std::chrono::seconds(1));
    co_await t.async_wait(asio::as_tuple(use_awaitable));
    if (run->live == 0) break;
    const Clock::time_point now = Clock::now();
    if (now >= end) run->reg.stopping = true;
    // Close() leaves the set untouched; connections leave it when their
    // client destroys them.
    for (Conn* c : run->reg.conns) {
      if (run->reg.stopping) {
        c->Close(false);
      } else if (c->deadline() <= now) {
        c->Close(true);
      }
    }
  }
  run->watchdog = nullptr;
}

// Python's percentile() in imapload.py: the value at round(p% of n-1),
// rounding halves to even as Python's round() does.
double PercentileMs(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  const int64_t k = std::min<int64_t>(
      static_cast<int64_t>(v.size()) - 1,
      std::max<int64_t>(0, static_cast<int64_t>(std::nearbyint(pos))));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return static_cast<double>(v[k]) / 1e6;
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20 || ch >= 0x7f) {
      out += fmt::format("\\u{:04x}", ch < 0x80 ? ch : '?');
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

// The JSON object imapload.py's run_load() returns, plus the generator's
// name and its own CPU time.
std::string Report(Run& run) {
  Stats& st = run.stats;
  std::vector<int64_t> all;
  for (int k = 0; k < kNumCmd; ++k) {
    if (k != kConnect)
      all.insert(all.end(), st.lat[k].begin(), st.lat[k].end());
  }
  const size_t total = all.size();
  std::string out = fmt::format(
      "{{\"profile\": {}, \"clients\": {}, \"seconds\": {}, \"commands\": {}, "
      "\"rate\": {}, \"p50_ms\": {}, \"p99_ms\": {}, \"per_command\": {{",
      JsonString(run.opt.profile), run.opt.clients, run.opt.duration, total,
      static_cast<double>(total) / run.opt.duration, PercentileMs(all, 50),
      PercentileMs(all, 99));
  bool first = true;
  for (int k = 0; k < kNumCmd; ++k) {
    if (st.lat[k].empty()) continue;
    out += fmt::format("{}{}: {{\"n\": {}, \"p50_ms\": {}, \"p99_ms\": {}}}",
                       first ? "" : ", ", JsonString(kCmdNames[k]),
                       st.lat[k].size(), PercentileMs(st.lat[k], 50),
                       PercentileMs(st.lat[k], 99));
    first = false;
  }
  out += fmt::format(
      "}}, \"errors\": {}, \"first_error\": {}, \"generator\": "
      "\"correio_imap_load\", \"cpu_seconds\": {}}}",
      st.errors, st.first_error ? JsonString(*st.first_error) : "null",
      CpuSeconds());
  return out;
}

std::vector<std::string> LoadMessages(const std::string& dir) {
  std::vector<std::filesystem::path> paths;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file()) paths.push_back(e.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::ifstream f(p, std::ios::binary);
    out.emplace_back(std::istreambuf_iterator<char>(f),
                     std::istreambuf_iterator<char>());
  }
  return out;
}

// Feeds sample responses to ResponseScanner split at every offset and one
// octet at a time (STYLE 23); returns the number of failures.
int SelfTest() {
  const std::string stream =
      "* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n"
      "* 3 FETCH (UID 3 BODY[] {5}\r\nab\r\nc FLAGS (\\Seen) "
      "BODY[HEADER] {2+}\r\n\r\n)\r\n"
      "* 4 FETCH (BODY[] {0}\r\n)\r\n"
      "A1 OK done\r\n";
  const std::vector<std::string> want = {
      "* OK [CAPABILITY IMAP4rev1 LITERAL+] hi",
      "* 3 FETCH (UID 3 BODY[] {5}\r\n", "* 4 FETCH (BODY[] {0}\r\n",
      "A1 OK done"};
  auto scan = [&](const std::vector<std::string_view>& chunks) {
    std::vector<std::string> got;
    ResponseScanner s;
    for (std::string_view c : chunks) {
      while (!c.empty()) {
        c.remove_prefix(s.Feed(c));
        if (s.Failed()) return std::vector<std::string>{"error"};
        if (s.Done()) {
          got.emplace_back(s.Head());
          s.Reset();
        }
      }
    }
    return got;
  };
  int bad = CheckEverySplit(stream, want, scan);
  if (AppendUid("A5 OK [APPENDUID 1700 42] done") != "42" ||
      !AppendUid("A5 OK [APPENDUID 1700 4:5] done").empty()) {
    std::fprintf(stderr, "selftest: APPENDUID\n");
    ++bad;
  }
  std::vector<int64_t> v = {4000000, 1000000, 3000000, 2000000};
  // Python: round(0.5 * 3) = round(1.5) = 2 → the third smallest.
  if (PercentileMs(v, 50) != 3.0) {
    std::fprintf(stderr, "selftest: percentile\n");
    ++bad;
  }
  std::printf("selftest: %s\n", bad ? "FAILED" : "ok");
  return bad ? 1 : 0;
}

int Main(int argc, char** argv) {
  Run run;
  Options& o = run.opt;
  CLI::App app{
      "IMAP load generator: the session and login profiles of "
      "bench/imapload.py in C++"};
  app.add_option("profile", o.profile, "session, login or selftest")
      ->required()
      ->check(CLI::IsMember({"session", "login", "selftest"}));
  app.add_option("--host", o.host);
  app.add_option("--port", o.port);
  app.add_option("--user", o.user, "login name pattern, %d = account number");
  app.add_option("--password", o.password);
  app.add_option("--accounts", o.accounts)->check(CLI::PositiveNumber);
  app.add_option("--clients", o.clients)->check(CLI::PositiveNumber);
  app.add_option("--duration", o.duration)->check(CLI::PositiveNumber);
  app.add_option("--ramp", o.ramp);
  app.add_option("--start-at", o.start_at,
                 "start of the measured window, CLOCK_MONOTONIC seconds "
                 "(Python's time.monotonic()); default now + ramp");
  app.add_option("--messages", o.messages,
                 "directory of messages to APPEND (one per file)");
  CLI11_PARSE(app, argc, argv);
  if (o.profile == "selftest") return SelfTest();
  if (o.port <= 0) {
    std::fprintf(stderr, "--port is required\n");
    return 2;
  }
  if (o.profile == "session") {
    if (o.messages.empty()) {
      std::fprintf(stderr, "--messages DIR is required for session\n");
      return 2;
    }
    try {
      run.messages = LoadMessages(o.messages);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 2;
    }
    if (run.messages.empty()) {
      std::fprintf(stderr, "no message in %s\n", o.messages.c_str());
      return 2;
    }
  }
  boost::system::error_code ec;
  run.ep = tcp::endpoint(asio::ip::make_address(o.host, ec),
                         static_cast<uint16_t>(o.port));
  if (ec) {
    std::fprintf(stderr, "--host: %s\n", ec.message().c_str());
    return 2;
  }
  using Secs = std::chrono::duration<double>;
  run.stats.t_start =
      o.start_at >= 0
          ? Clock::time_point(
                std::chrono::duration_cast<Clock::duration>(Secs(o.start_at)))
          : Clock::now() +
                std::chrono::duration_cast<Clock::duration>(Secs(o.ramp));
  run.stats.t_end =
      run.stats.t_start +
      std::chrono::duration_cast<Clock::duration>(Secs(o.duration));

  asio::io_context io(1);
  auto client = o.profile == "session" ? SessionClient : LoginClient;
  for (int i = 0; i < o.clients; ++i) {
    ++run.live;
    asio::co_spawn(io, client(&run, i), [&run, i](std::exception_ptr e) {
      if (--run.live == 0 && run.watchdog) run.watchdog->cancel();
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          std::fprintf(stderr, "client %d: %s\n", i, ex.what());
        }
      }
    });
  }
  asio::co_spawn(io, Watchdog(&run), [](std::exception_ptr e) {
    if (e) std::fprintf(stderr, "watchdog failed\n");
  });
  io.run();
  std::printf("%s\n", Report(run).c_str());
  return 0;
}

}  // namespace
}  // namespace correio::bench

int main(int argc, char** argv) { return correio::bench::Main(argc, argv); }
