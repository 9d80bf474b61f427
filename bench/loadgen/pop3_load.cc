// correio_pop3_load: the POP3 client of bench/run.py's POP3 scenario
// (_pop3_download) in C++. Downloading and deleting 100 MB takes some
// 13,000 round trips, and each took the Python client 0.1-0.2 ms, so the
// scenario measured the client more than the servers (bench/README.md,
// fifth session). This one spends microseconds of CPU per round trip.
//
//   correio_pop3_load --host 127.0.0.1 --port 1100 --user pop@example.org
//       --password benchpw   (one command line)
//
// The session, as _pop3_download: greeting, USER, PASS, STAT (n), LIST
// (read and dropped), then for i = 1..n: RETR i, DELE i; then QUIT. One
// command in flight at a time, no pipelining, as fetchmail and getmail
// download. Prints {"messages": n, "bytes": B, "seconds": S,
// "quit_seconds": Q, "cpu_seconds": C}: B counts the octets of every RETR
// reply after its status line, terminator included, as the Python client
// does; S runs from connect to QUIT's +OK, Q from QUIT to its +OK (the
// server applying the deletions); C is this process's CPU time (run.py's own
// rusage would also count its threads draining the server's output). A
// -ERR, a closed connection or 60 s without a reply ends the run
// with status 1 and the reason on stderr.
//
// Plain blocking POSIX sockets: one connection and one command at a time
// need no event loop.

#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common.h"

namespace correio::bench {
namespace {

using Clock = std::chrono::steady_clock;

// A 100 KB message arrives in one or two reads.
constexpr size_t kReadBuffer = 256 * 1024;
// The Python client has no timeout; a server that stops answering should
// fail the figure, not hang the run.
constexpr int kStallSeconds = 60;

class Pop3Error : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Splits a POP3 server's byte stream into replies. No I/O (STYLE 2): fed
// bytes, it says how many it took and whether the reply is complete, so
// the selftest can split input at every offset.
//
// RFC 1939 §3: a reply is a status line (+OK or -ERR) ending in CRLF; a
// positive reply to a multi-line command (LIST, RETR) goes on with lines
// up to a line holding a single ".", i.e. up to CRLF "." CRLF, or ".CRLF"
// right after the status line for an empty body. Lines starting with "."
// are dot-stuffed and are data. Body octets are counted, never copied.
//
// The body is scanned line by line with memchr and a three-octet match at
// each line start, so its cost is linear whatever the read boundaries,
// including a terminator split across reads. Octets after the terminator
// are left for the next reply.
class ReplyScanner {
 public:
  // A status line longer than this is an error (ours are under 100).
  static constexpr size_t kMaxStatus = 64 * 1024;

  void Reset(bool multiline) {
    state_ = State::kStatus;
    multiline_ = multiline;
    status_.clear();
    body_octets_ = 0;
    bol_ = true;
    prev_cr_ = false;
    dot_ = 0;
  }

  // Consumes bytes of `in` until the reply is complete (then Done()) or
  // `in` is used up; returns how many bytes it took.
  size_t Feed(std::string_view in) {
    size_t i = 0;
    if (state_ == State::kStatus) {
      const void* nl = std::memchr(in.data(), '\n', in.size());
      const size_t end =
          nl ? static_cast<size_t>(static_cast<const char*>(nl) - in.data()) + 1
             : in.size();
      if (status_.size() + end > kMaxStatus) {
        Fail("status line too long");
        return 0;
      }
      status_.append(in.data(), end);
      i = end;
      if (!nl) return i;
      while (!status_.empty() &&
             (status_.back() == '\n' || status_.back() == '\r')) {
        status_.pop_back();
      }
      // RFC 1939 §3: only a positive reply has a multi-line body.
      state_ = multiline_ && Ok() ? State::kBody : State::kDone;
    }
    if (state_ == State::kBody) {
      const size_t start = i;
      i = ScanBody(in, i);
      body_octets_ += i - start;
    }
    return i;
  }

  bool Done() const { return state_ == State::kDone; }
  bool Failed() const { return state_ == State::kError; }
  const std::string& error() const { return error_; }
  // The status line without its CRLF. Valid once Done().
  std::string_view Status() const { return status_; }
  bool Ok() const { return status_.starts_with("+OK"); }
  // Octets after the status line, terminator included (what
  // smtpclient.Pop3Session.multiline returns the length of).
  uint64_t body_octets() const { return body_octets_; }

 private:
  enum class State { kStatus, kBody, kDone, kError };

  void Fail(const char* why) {
    state_ = State::kError;
    error_ = why;
  }

  // From in[i], up to the end of the terminator or of `in`; returns the
  // index reached. bol_: the next octet starts a line (the previous one
  // ended in CRLF, or the body just began). dot_: how many octets of
  // ".\r\n" have matched at the current line start. prev_cr_: the last
  // octet taken was CR, for a CRLF split across reads.
  size_t ScanBody(std::string_view in, size_t i) {
    static constexpr char kTerm[] = ".\r\n";
    while (i < in.size()) {
      if (dot_ > 0) {
        const char c = in[i];
        if (c == kTerm[dot_]) {
          ++i;
          prev_cr_ = c == '\r';
          if (++dot_ == 3) {
            state_ = State::kDone;
            return i;
          }
          continue;
        }
        // A line that only starts with "." (dot-stuffed): data; find its
        // end from this octet.
        dot_ = 0;
      } else if (bol_) {
        bol_ = false;
        if (in[i] == '.') {
          dot_ = 1;
          prev_cr_ = false;
          ++i;
          continue;
        }
      }
      const void* nl = std::memchr(in.data() + i, '\n', in.size() - i);
      if (!nl) {
        prev_cr_ = in.back() == '\r';
        return in.size();
      }
      const size_t p =
          static_cast<size_t>(static_cast<const char*>(nl) - in.data());
      // A line ends in CRLF (the Python client looks for CRLF.CRLF too);
      // a bare LF does not start a line that could end the body.
      bol_ = p > i ? in[p - 1] == '\r' : prev_cr_;
      prev_cr_ = false;
      i = p + 1;
    }
    return i;
  }

  State state_ = State::kStatus;
  bool multiline_ = false;
  std::string status_;
  std::string error_;
  uint64_t body_octets_ = 0;
  bool bol_ = true;
  bool prev_cr_ = false;
  int dot_ = 0;
};

// One POP3 connection, one command at a time.
class Conn {
 public:
  Conn() : buf_(kReadBuffer) {}
  ~Conn() { Close(); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  void Connect(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string service = std::to_string(port);
    if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res)) {
      throw Pop3Error(fmt::format("{}: {}", host, gai_strerror(rc)));
    }
    int err = 0;
    for (addrinfo* a = res; a != nullptr && fd_ < 0; a = a->ai_next) {
      const int fd =
          socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) {
        err = errno;
        continue;
      }
      if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
        err = errno;
        close(fd);
        continue;
      }
      fd_ = fd;
    }
    freeaddrinfo(res);
    if (fd_ < 0) {
      throw Pop3Error(
          fmt::format("connect {}:{}: {}", host, port, std::strerror(err)));
    }
    // As asyncio does for the Python client.
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const timeval tv{kStallSeconds, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  // Sends `text` CRLF (nothing when `text` is empty: the greeting) and
  // reads the whole reply; a -ERR throws. `label` names the command in
  // errors. The scanner holds the reply until the next call.
  const ReplyScanner& Command(std::string_view text, std::string_view label,
                              bool multiline = false) {
    if (!text.empty()) {
      out_.assign(text);
      out_.append("\r\n");
      Send(out_, label);
    }
    Read(label, multiline);
    if (!scanner_.Ok()) {
      throw Pop3Error(
          fmt::format("{}: {}", label, scanner_.Status().substr(0, 300)));
    }
    return scanner_;
  }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  void Send(std::string_view data, std::string_view label) {
    while (!data.empty()) {
      const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        Failed(label, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  void Read(std::string_view label, bool multiline) {
    scanner_.Reset(multiline);
    for (;;) {
      if (rpos_ < wpos_) {
        rpos_ +=
            scanner_.Feed(std::string_view(buf_.data() + rpos_, wpos_ - rpos_));
        if (scanner_.Done()) return;
        if (scanner_.Failed()) {
          throw Pop3Error(fmt::format("{}: {}", label, scanner_.error()));
        }
      }
      // The scanner took everything buffered: refill from the start.
      rpos_ = wpos_ = 0;
      const ssize_t n = recv(fd_, buf_.data(), buf_.size(), 0);
      if (n == 0) {
        throw Pop3Error(fmt::format("{}: connection closed by server", label));
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        Failed(label, errno);
      }
      wpos_ = static_cast<size_t>(n);
    }
  }

  [[noreturn]] static void Failed(std::string_view label, int err) {
    if (err == EAGAIN || err == EWOULDBLOCK) {
      throw Pop3Error(
          fmt::format("{}: no answer for {} s", label, kStallSeconds));
    }
    throw Pop3Error(fmt::format("{}: {}", label, std::strerror(err)));
  }

  int fd_ = -1;
  std::vector<char> buf_;
  size_t rpos_ = 0, wpos_ = 0;
  ReplyScanner scanner_;
  std::string out_;
};

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string user;
  std::string password = "benchpw";
};

struct Result {
  uint64_t messages = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  double quit_seconds = 0;  // QUIT to its +OK: the deletions
};

// The number after "+OK " in a STAT reply (RFC 1939 §5: "+OK nn mm").
std::optional<uint64_t> StatCount(std::string_view status) {
  if (!status.starts_with("+OK ")) return std::nullopt;
  status.remove_prefix(4);
  uint64_t v = 0;
  size_t i = 0;
  while (i < status.size() && i < 19 && status[i] >= '0' && status[i] <= '9') {
    v = v * 10 + static_cast<uint64_t>(status[i] - '0');
    ++i;
  }
  if (i == 0 || (i < status.size() && status[i] != ' ')) return std::nullopt;
  return v;
}

Result Download(const Options& o) {
  Result r;
  Conn c;
  const Clock::time_point t0 = Clock::now();
  c.Connect(o.host, o.port);
  c.Command("", "greeting");
  c.Command("USER " + o.user, "USER");
  c.Command("PASS " + o.password, "PASS");  // the label keeps it off stderr
  const ReplyScanner& stat = c.Command("STAT", "STAT");
  const std::optional<uint64_t> n = StatCount(stat.Status());
  if (!n) {
    throw Pop3Error(
        fmt::format("STAT: cannot read {}", stat.Status().substr(0, 300)));
  }
  r.messages = *n;
  c.Command("LIST", "LIST", true);
  std::string cmd;
  for (uint64_t i = 1; i <= r.messages; ++i) {
    cmd = fmt::format("RETR {}", i);
    r.bytes += c.Command(cmd, cmd, true).body_octets();
    cmd = fmt::format("DELE {}", i);
    c.Command(cmd, cmd);
  }
  // RFC 1939 §6: the deletions are applied at QUIT, before its +OK.
  const Clock::time_point quit = Clock::now();
  c.Command("QUIT", "QUIT");
  const Clock::time_point end = Clock::now();
  r.seconds = std::chrono::duration<double>(end - t0).count();
  r.quit_seconds = std::chrono::duration<double>(end - quit).count();
  c.Close();
  return r;
}

// Feeds a sample session's replies to ReplyScanner split at every offset
// and one octet at a time (STYLE 23); returns the number of failures.
int SelfTest() {
  // One session's replies, as the server sends them: the status line,
  // then the body of a positive reply to a multi-line command. Bodies:
  // dot-stuffed lines, a line ".\r." that is data, a bare LF before "."
  // that does not end the body, an empty line last; an empty body; one
  // that is only an empty line. A -ERR to RETR has no body.
  struct Reply {
    bool multiline;
    std::string status;  // without CRLF, what Status() returns
    std::string body;    // its size is what body_octets() returns
  };
  const std::vector<Reply> want = {
      {false, "+OK POP3 ready", ""},
      {false, "+OK", ""},
      {false, "+OK", ""},
      {false, "+OK 2 125", ""},
      {true, "+OK 2 messages", "1 120\r\n2 5\r\n.\r\n"},
      {true, "+OK 120 octets",
       "Subject: x\r\n\r\n..dot\r\n.\r.\r\n...\r\nbare\n.\r\n\r\n.\r\n"},
      {false, "+OK", ""},
      {true, "+OK 0 octets", ".\r\n"},
      {true, "+OK", "\r\n.\r\n"},
      {true, "-ERR no such message", ""},
      {false, "+OK bye", ""}};
  std::string stream;
  std::vector<std::string> expect;
  for (const Reply& r : want) {
    stream += r.status + "\r\n" + r.body;
    expect.push_back(fmt::format("{}|{}", r.status, r.body.size()));
  }
  // Each reply as "status|octets", or "error".
  auto scan = [&](const std::vector<std::string_view>& chunks) {
    std::vector<std::string> got;
    ReplyScanner s;
    size_t k = 0;
    s.Reset(want[0].multiline);
    for (std::string_view c : chunks) {
      while (!c.empty()) {
        if (k == want.size()) return std::vector<std::string>{"extra octets"};
        c.remove_prefix(s.Feed(c));
        if (s.Failed()) return std::vector<std::string>{"error"};
        if (s.Done()) {
          got.push_back(fmt::format("{}|{}", s.Status(), s.body_octets()));
          if (++k < want.size()) s.Reset(want[k].multiline);
        }
      }
    }
    return got;
  };
  int bad = CheckEverySplit(stream, expect, scan);
  // A body with no terminator yet is not complete, whatever it ends with.
  for (std::string_view partial :
       {"+OK\r\n", "+OK\r\nx\r\n", "+OK\r\nx\r\n.", "+OK\r\nx\r\n.\r",
        "+OK\r\nx\r\n..\r\n", "+OK\r\nx\n.\r\n"}) {
    ReplyScanner s;
    s.Reset(true);
    if (s.Feed(partial) != partial.size() || s.Done() || s.Failed()) {
      std::fprintf(stderr, "selftest: incomplete body taken as done\n");
      ++bad;
    }
  }
  if (StatCount("+OK 681 10000000") != 681 || StatCount("+OK 0 0") != 0 ||
      StatCount("+OK") || StatCount("+OK x 1") || StatCount("+OK 12x 1")) {
    std::fprintf(stderr, "selftest: STAT\n");
    ++bad;
  }
  std::printf("selftest: %s\n", bad ? "FAILED" : "ok");
  return bad ? 1 : 0;
}

int Main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "POP3 download client of bench/run.py's POP3 scenario: USER, PASS, "
      "STAT, LIST, then RETR and DELE of every message, QUIT"};
  app.add_option("--host", o.host);
  app.add_option("--port", o.port);
  app.add_option("--user", o.user);
  app.add_option("--password", o.password);
  CLI::App* selftest =
      app.add_subcommand("selftest", "check the reply scanner and exit");
  CLI11_PARSE(app, argc, argv);
  if (*selftest) return SelfTest();
  if (o.port <= 0 || o.user.empty()) {
    std::fprintf(stderr, "--port and --user are required\n");
    return 2;
  }
  try {
    const Result r = Download(o);
    std::printf(
        "{\"messages\": %llu, \"bytes\": %llu, \"seconds\": %.6f, "
        "\"quit_seconds\": %.6f, \"cpu_seconds\": %.6f}\n",
        static_cast<unsigned long long>(r.messages),
        static_cast<unsigned long long>(r.bytes), r.seconds, r.quit_seconds,
        CpuSeconds());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "correio_pop3_load: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace correio::bench

int main(int argc, char** argv) { return correio::bench::Main(argc, argv); }
