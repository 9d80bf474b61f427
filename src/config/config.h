// The server configuration: one TOML file (toml++), every setting with a
// default, so an empty file (or none) is a valid config.
//
// LoadConfig() reports every problem at once, each naming the key and the
// line; unknown keys are errors (a typo must not silently fall back to a
// default). DefaultConfigText() is the commented file `correio config
// default` prints; it parses to exactly Config{}.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace correio::config {

enum class Protocol : uint8_t { kSmtp, kSubmission, kPop3, kImap };
enum class TlsMode : uint8_t { kNone, kStartTls, kImplicit };

std::string_view ProtocolName(Protocol p);  // "smtp", "submission", ...
std::string_view TlsModeName(TlsMode m);    // "none", "starttls", "implicit"

struct Listener {
  Protocol protocol = Protocol::kSmtp;
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: pick a free port (tests)
  TlsMode tls = TlsMode::kNone;
  bool operator==(const Listener&) const = default;
};

// The unprivileged default set `make run` uses:
// 2525 MX, 5870 submission, 4650 submissions, 1100 POP3, 9950 POP3S,
// 1430 IMAP, 9930 IMAPS, all on 127.0.0.1; the plain ones offer STARTTLS.
// A config file with any [[listener]] replaces this whole set.
std::vector<Listener> DefaultListeners();

struct Limits {
  uint32_t max_connections = 10000;
  uint32_t max_connections_per_ip = 50;
  uint64_t max_message_size = 50ull << 20;  // 50 MiB
  uint32_t max_line_length = 8192;          // octets incl. CRLF; >= 1000
  uint64_t max_literal_size = 64ull << 20;  // IMAP literal after login
  uint32_t max_literal_before_auth = 8192;  // IMAP literal before login
  uint32_t max_recipients = 1000;
  uint32_t max_bad_commands = 20;
  uint32_t max_received_headers = 50;  // SMTP loop detection
  uint32_t idle_timeout_seconds = 1800;     // IMAP (RFC 9051 §5.4: >= 30 min)
  uint32_t command_timeout_seconds = 300;   // SMTP (RFC 5321 §4.5.3.2)
  uint32_t data_timeout_seconds = 600;      // SMTP DATA block
  uint32_t shutdown_grace_seconds = 10;
  bool operator==(const Limits&) const = default;
};

struct Tls {
  std::string cert_file;  // empty: self-signed cert made in the data dir
  std::string key_file;
  bool operator==(const Tls&) const = default;
};

struct Auth {
  bool allow_plaintext = false;  // LOGIN/USER/AUTH before TLS on plain ports
  uint32_t throttle_free_failures = 3;  // per IP+account before delays start
  uint32_t throttle_max_delay_seconds = 15;
  uint32_t throttle_block_after = 10;   // failures per 10 min -> temp refusal
  // A verified password is remembered this long (keyed hash in memory), so
  // the account's next logins with it skip Argon2id (auth/verified_cache.h).
  uint32_t login_cache_seconds = 300;
  bool operator==(const Auth&) const = default;
};

struct Pop3 {
  std::string delete_mode = "delete";  // delete | keep-seen | archive
  bool mark_seen_on_retr = true;
  bool download_once = false;
  bool apop = false;
  // RFC 2449 LOGIN-DELAY: minimum seconds between logins to one maildrop
  // (advertised in CAPA; 0: none).
  uint32_t login_delay_seconds = 0;
  // RFC 1939 §3 autologout: a session idle this long (or one whose
  // command line takes this long to arrive) is closed, applying nothing.
  // The RFC asks for at least 10 minutes.
  uint32_t autologout_seconds = 600;
  bool operator==(const Pop3&) const = default;
};

struct Imap {
  // QRESYNC (RFC 7162): how long the record of each expunged message is
  // kept, so that a client offline that long still resyncs exactly with
  // VANISHED (EARLIER) of only what went away. After that a client is told
  // every UID it knew that is gone (still exact, longer). 0: forever.
  uint32_t expunge_log_days = 400;
  bool operator==(const Imap&) const = default;
};

struct Queue {
  // Retry delays in seconds; the last repeats until max_age_seconds.
  std::vector<uint32_t> retry_schedule = {300, 600, 1800, 3600, 7200, 14400};
  uint32_t max_age_seconds = 5 * 86400;
  uint32_t delay_warning_seconds = 4 * 3600;
  uint32_t max_per_destination = 4;
  std::string smarthost;  // "host:port", empty: deliver by MX
  std::string smarthost_user;
  std::string smarthost_password;
  // Port for direct delivery to MX hosts (25; tests use a high port).
  uint16_t mx_port = 25;
  // Per-domain static routes, lowercase domain -> "host:port"; they win
  // over the smarthost and over MX records.
  std::map<std::string, std::string> routes;
  bool operator==(const Queue&) const = default;
};

struct Dns {
  std::vector<std::string> servers;  // "127.0.0.1:5353"; empty: resolv.conf
  bool operator==(const Dns&) const = default;
};

struct Log {
  std::string level = "info";
  std::string format = "text";  // text | json
  std::string file;             // empty: stderr
  bool operator==(const Log&) const = default;
};

struct Search {
  // The background indexer leaves text younger than this for later: mail
  // downloaded and deleted by then (POP3, drafts, APPEND+EXPUNGE churn)
  // costs no index work, neither to index nor to drop again. A SEARCH
  // still indexes whatever its mailbox has pending first, so results are
  // always complete. 0: index at once.
  uint32_t index_delay_seconds = 60;
  bool operator==(const Search&) const = default;
};

struct Config {
  std::string hostname;               // empty: the machine's host name
  std::vector<std::string> domains;   // added to the store at start
  std::string data_dir = "./correio-data";
  std::string store = "sqlite";       // sqlite (postgres later)
  std::string user;  // drop to this user after binding when started as root
  uint32_t workers = 0;  // io threads; 0: IoThreads() picks
  // How long an io thread out of work polls before it sleeps (net/server.h
  // ServerLimits::idle_poll); 0: sleep at once.
  uint32_t idle_poll_us = 50;
  std::vector<Listener> listeners = DefaultListeners();
  Tls tls;
  Limits limits;
  Auth auth;
  Pop3 pop3;
  Imap imap;
  Search search;
  Queue queue;
  Dns dns;
  Log log;
  bool operator==(const Config&) const = default;
};

struct Problem {
  uint32_t line = 0;  // 0 when not tied to a line
  std::string key;    // "limits.max_line_length", "listener[2].port"
  std::string message;
  std::string ToString() const;  // "line 12: limits.max_line_length: ..."
};

// Parses TOML text. `origin` names the file in messages. *problems (may be
// null) is cleared, then filled in line order. Thread-safe (no shared state).
Result<Config> ParseConfig(std::string_view text, std::vector<Problem>* problems,
                           std::string_view origin = "config");
// Reads and parses a file. On failure, *problems lists every problem.
Result<Config> LoadConfig(const std::string& path,
                          std::vector<Problem>* problems);

// The number of io threads: `workers` if set, else one per core less one
// (at least one), which leaves a core to the store's threads: the writer
// that commits every delivery, the pool, the indexer. On 2 cores one io
// thread took 7-17% less CPU per SMTP message than two in two A/B runs
// (fewer thread hand-offs; bench/README.md, eleventh session), and IMAP
// was the same.
uint32_t IoThreads(const Config& cfg, unsigned cores);

// The commented default config (`correio config default`).
std::string DefaultConfigText();

}  // namespace correio::config
