#include "config/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "base/temp_dir.h"

namespace correio::config {
namespace {

// Parses `text`, expects failure, and returns each problem as
// "line N: key: message" so tests assert line, key and text exactly.
std::vector<std::string> Errors(std::string_view text) {
  std::vector<Problem> problems;
  auto r = ParseConfig(text, &problems, "test.toml");
  EXPECT_FALSE(r.has_value()) << "expected problems in:\n" << text;
  std::vector<std::string> out;
  for (const Problem& p : problems) out.push_back(p.ToString());
  if (!r.has_value()) {
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalid);
    std::string want = std::to_string(problems.size()) +
                       (problems.size() == 1 ? " problem" : " problems") +
                       " in test.toml";
    EXPECT_EQ(r.error().message(), want);
  }
  return out;
}

using Lines = std::vector<std::string>;

Config Parse(std::string_view text) {
  std::vector<Problem> problems;
  auto r = ParseConfig(text, &problems, "test.toml");
  std::string all;
  for (const Problem& p : problems) all += p.ToString() + "\n";
  EXPECT_TRUE(r.has_value()) << all;
  EXPECT_TRUE(problems.empty());
  return r.value_or(Config{});
}

TEST(ConfigNames, ProtocolAndTls) {
  EXPECT_EQ(ProtocolName(Protocol::kSmtp), "smtp");
  EXPECT_EQ(ProtocolName(Protocol::kSubmission), "submission");
  EXPECT_EQ(ProtocolName(Protocol::kPop3), "pop3");
  EXPECT_EQ(ProtocolName(Protocol::kImap), "imap");
  EXPECT_EQ(TlsModeName(TlsMode::kNone), "none");
  EXPECT_EQ(TlsModeName(TlsMode::kStartTls), "starttls");
  EXPECT_EQ(TlsModeName(TlsMode::kImplicit), "implicit");
}

TEST(ConfigProblem, ToString) {
  EXPECT_EQ((Problem{12, "limits.max_line_length", "must be at least 1000"})
                .ToString(),
            "line 12: limits.max_line_length: must be at least 1000");
  EXPECT_EQ((Problem{0, "", "cannot open x: nope"}).ToString(),
            "cannot open x: nope");
  EXPECT_EQ((Problem{3, "", "syntax"}).ToString(), "line 3: syntax");
}

TEST(ConfigDefaults, DefaultListeners) {
  std::vector<Listener> want = {
      {Protocol::kSmtp, "127.0.0.1", 2525, TlsMode::kStartTls},
      {Protocol::kSubmission, "127.0.0.1", 5870, TlsMode::kStartTls},
      {Protocol::kSubmission, "127.0.0.1", 4650, TlsMode::kImplicit},
      {Protocol::kPop3, "127.0.0.1", 1100, TlsMode::kStartTls},
      {Protocol::kPop3, "127.0.0.1", 9950, TlsMode::kImplicit},
      {Protocol::kImap, "127.0.0.1", 1430, TlsMode::kStartTls},
      {Protocol::kImap, "127.0.0.1", 9930, TlsMode::kImplicit},
  };
  EXPECT_EQ(DefaultListeners(), want);
  EXPECT_EQ(Config{}.listeners, want);
}

TEST(ConfigDefaults, EmptyTextGivesDefaults) {
  EXPECT_EQ(Parse(""), Config{});
  EXPECT_EQ(Parse("# only a comment\n\n"), Config{});
  // Empty tables change nothing either.
  EXPECT_EQ(Parse("[limits]\n[tls]\n[auth]\n[pop3]\n[queue]\n[dns]\n[log]\n"),
            Config{});
}

TEST(ConfigDefaults, MissingKeysKeepDefaults) {
  Config c = Parse("workers = 4\n[limits]\nmax_recipients = 200\n");
  Config want;
  want.workers = 4;
  want.limits.max_recipients = 200;
  EXPECT_EQ(c, want);
}

TEST(ConfigDefaults, DefaultTextRoundTrips) {
  std::string text = DefaultConfigText();
  EXPECT_EQ(Parse(text), Config{});
  // It really sets the keys rather than commenting them out: changing one
  // value in the text changes the result.
  std::string changed = text;
  size_t at = changed.find("max_recipients = 1000");
  ASSERT_NE(at, std::string::npos);
  changed.replace(at, 21, "max_recipients = 999");
  EXPECT_EQ(Parse(changed).limits.max_recipients, 999u);
}

TEST(ConfigDefaults, DefaultTextExplainsEveryKey) {
  // Every `key = value` line is preceded by a comment line or another key
  // of the same group; no key appears without any explanation nearby.
  std::string text = DefaultConfigText();
  size_t keys = 0;
  size_t pos = 0;
  bool comment_seen_since_header = false;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.starts_with("#")) {
      comment_seen_since_header = true;
    } else if (line.starts_with("[") && !line.starts_with("[[")) {
      comment_seen_since_header = false;
    } else if (line.find(" = ") != std::string::npos) {
      ++keys;
      EXPECT_TRUE(comment_seen_since_header) << line;
    }
  }
  // 7 top-level + 7*4 listener + 2 tls + 13 limits + 5 auth + 6 pop3 +
  // 1 imap + 1 search + 9 queue + 1 dns + 3 log.
  EXPECT_EQ(keys, 7u + 28u + 2u + 13u + 5u + 6u + 1u + 1u + 9u + 1u + 3u);
}

TEST(ConfigSyntax, ParserLineAndMessage) {
  // The parser's own message (toml++ 3.x wording) after its line number.
  auto errors = Errors("hostname = \"a.example\"\n\nworkers = = 3\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].starts_with("line 3: ")) << errors[0];
  EXPECT_NE(errors[0].find("could not determine value type"), std::string::npos)
      << errors[0];

  // A key or table set twice is a TOML error, reported at the second one.
  errors = Errors("workers = 1\nworkers = 2\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].starts_with("line 2: ")) << errors[0];
  EXPECT_NE(errors[0].find("cannot redefine existing integer 'workers'"),
            std::string::npos)
      << errors[0];
  errors = Errors("[log]\nlevel = \"info\"\n[log]\nformat = \"json\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].starts_with("line 3: ")) << errors[0];

  errors = Errors("[limits\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].starts_with("line 1: ")) << errors[0];
  EXPECT_NE(errors[0].find("expected ']'"), std::string::npos) << errors[0];

  // Integers beyond 64 bits are the parser's problem, not ours.
  errors = Errors("\n[limits]\nmax_message_size = 99999999999999999999999\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].starts_with("line 3: ")) << errors[0];
}

TEST(ConfigUnknownKeys, AtEveryLevel) {
  EXPECT_EQ(Errors("hostnme = \"x\"\n"),
            (Lines{"line 1: hostnme: unknown key (did you mean hostname?)"}));
  EXPECT_EQ(Errors("\n[limits]\nmax_line_lenght = 1000\n"),
            (Lines{"line 3: limits.max_line_lenght: unknown key (did you mean "
                   "max_line_length?)"}));
  EXPECT_EQ(Errors("[frobnicate]\nx = 1\n"),
            (Lines{"line 1: frobnicate: unknown key"}));
  EXPECT_EQ(
      Errors("[[listener]]\nprotocol = \"imap\"\nport = 143\n"
             "tsl = \"none\"\n"),
      (Lines{"line 4: listener[1].tsl: unknown key (did you mean tls?)"}));
  EXPECT_EQ(Errors("[[listeners]]\nprotocol = \"imap\"\n"),
            (Lines{"line 1: listeners: unknown key (did you mean listener?)"}));
  EXPECT_EQ(Errors("[log]\nlevel = \"info\"\n[log.extra]\na = 1\n"),
            (Lines{"line 3: log.extra: unknown key"}));
}

TEST(ConfigTypes, WrongTypes) {
  EXPECT_EQ(Errors("hostname = 5\n"),
            (Lines{"line 1: hostname: must be a string, not an integer"}));
  EXPECT_EQ(Errors("workers = \"4\"\n"),
            (Lines{"line 1: workers: must be an integer, not a string"}));
  EXPECT_EQ(Errors("workers = 1.5\n"),
            (Lines{"line 1: workers: must be an integer, not a "
                   "floating-point number"}));
  EXPECT_EQ(Errors("[auth]\nallow_plaintext = \"yes\"\n"),
            (Lines{"line 2: auth.allow_plaintext: must be true or false, not "
                   "a string"}));
  EXPECT_EQ(Errors("domains = \"example.org\"\n"),
            (Lines{"line 1: domains: must be an array of strings, not a "
                   "string"}));
  EXPECT_EQ(Errors("domains = [\n  \"a.example\",\n  7,\n]\n"),
            (Lines{"line 3: domains[2]: must be a string, not an integer"}));
  EXPECT_EQ(Errors("limits = 3\n"),
            (Lines{"line 1: limits: must be a table ([limits]), not an "
                   "integer"}));
  EXPECT_EQ(Errors("listener = 5\n"),
            (Lines{"line 1: listener: must be an array of tables "
                   "([[listener]]), not an integer"}));
  EXPECT_EQ(Errors("listener = [1]\n"),
            (Lines{"line 1: listener[1]: must be a table ([[listener]]), not "
                   "an integer"}));
  EXPECT_EQ(Errors("[limits]\nmax_message_size = true\n"),
            (Lines{"line 2: limits.max_message_size: must be an integer or a "
                   "size string such as \"50M\", not a boolean"}));
  EXPECT_EQ(Errors("[queue]\nretry_schedule = 60\n"),
            (Lines{"line 2: queue.retry_schedule: must be an array of "
                   "integers, not an integer"}));
  EXPECT_EQ(Errors("[log]\nlevel = 3\n"),
            (Lines{"line 2: log.level: must be a string, not an integer"}));
}

TEST(ConfigRanges, Numbers) {
  EXPECT_EQ(Errors("workers = 257\n"),
            (Lines{"line 1: workers: must be at most 256"}));
  EXPECT_EQ(Parse("workers = 256\n").workers, 256u);
  EXPECT_EQ(Parse("idle_poll_us = 0\n").idle_poll_us, 0u);
  EXPECT_EQ(Errors("idle_poll_us = 1001\n"),
            (Lines{"line 1: idle_poll_us: must be at most 1000"}));
  EXPECT_EQ(Errors("workers = -1\n"),
            (Lines{"line 1: workers: must not be negative"}));
  EXPECT_EQ(Errors("[limits]\nmax_connections = 4294967296\n"),
            (Lines{"line 2: limits.max_connections: must be at most "
                   "4294967295"}));
  EXPECT_EQ(
      Parse("[limits]\nmax_connections = 4294967295\n").limits.max_connections,
      4294967295u);
  EXPECT_EQ(Errors("[limits]\nmax_connections = 0\n"),
            (Lines{"line 2: limits.max_connections: must be at least 1"}));
  EXPECT_EQ(Errors("[limits]\n\nmax_line_length = 999\n"),
            (Lines{"line 3: limits.max_line_length: must be at least 1000"}));
  EXPECT_EQ(Parse("[limits]\nmax_line_length = 1000\n").limits.max_line_length,
            1000u);
  EXPECT_EQ(Errors("[limits]\nmax_message_size = 1023\n"),
            (Lines{"line 2: limits.max_message_size: must be at least 1024 "
                   "(1 KiB)"}));
  EXPECT_EQ(
      Parse("[limits]\nmax_message_size = 1024\n").limits.max_message_size,
      1024u);
  EXPECT_EQ(Errors("[limits]\nmax_line_length = \"4G\"\n"),
            (Lines{"line 2: limits.max_line_length: must be at most "
                   "4294967295 (4.0 GiB)"}));
  EXPECT_EQ(Errors("[limits]\nidle_timeout_seconds = 0\n"),
            (Lines{"line 2: limits.idle_timeout_seconds: must be at least 1"}));
  EXPECT_EQ(Errors("[limits]\ncommand_timeout_seconds = 0\n"),
            (Lines{"line 2: limits.command_timeout_seconds: must be at least "
                   "1"}));
  EXPECT_EQ(Errors("[limits]\ndata_timeout_seconds = 0\n"),
            (Lines{"line 2: limits.data_timeout_seconds: must be at least 1"}));
  EXPECT_EQ(Parse("[limits]\nshutdown_grace_seconds = 0\n")
                .limits.shutdown_grace_seconds,
            0u);
  EXPECT_EQ(Errors("[limits]\nmax_connections = 10\n"
                   "max_connections_per_ip = 11\n"),
            (Lines{"line 3: limits.max_connections_per_ip: must not exceed "
                   "limits.max_connections (10)"}));
  EXPECT_EQ(Errors("[auth]\nthrottle_block_after = -3\n"),
            (Lines{"line 2: auth.throttle_block_after: must not be negative"}));
}

TEST(ConfigSizes, Units) {
  auto size = [](std::string_view v) {
    return Parse("[limits]\nmax_message_size = " + std::string(v) + "\n")
        .limits.max_message_size;
  };
  EXPECT_EQ(size("\"50M\""), 50ull << 20);
  EXPECT_EQ(size("\"10MB\""), 10ull << 20);
  EXPECT_EQ(size("\"10MiB\""), 10ull << 20);
  EXPECT_EQ(size("\"1G\""), 1ull << 30);
  EXPECT_EQ(size("\"512k\""), 512ull << 10);
  EXPECT_EQ(size("\"2048\""), 2048u);
  EXPECT_EQ(size("2048"), 2048u);
  EXPECT_EQ(size("1_048_576"), 1048576u);
  EXPECT_EQ(
      Parse("[limits]\nmax_line_length = \"16K\"\n").limits.max_line_length,
      16384u);
  EXPECT_EQ(Errors("[limits]\nmax_message_size = \"ten\"\n"),
            (Lines{"line 2: limits.max_message_size: \"ten\" is not a size: "
                   "write bytes or a number with K, M or G (\"50M\")"}));
  EXPECT_EQ(Errors("[limits]\nmax_message_size = \"5 M\"\n"),
            (Lines{"line 2: limits.max_message_size: \"5 M\" is not a size: "
                   "write bytes or a number with K, M or G (\"50M\")"}));
  EXPECT_EQ(Errors("[limits]\nmax_literal_size = -5\n"),
            (Lines{"line 2: limits.max_literal_size: must not be negative"}));
  EXPECT_EQ(Errors("[limits]\nmax_message_size = \"99999999999T\"\n"),
            (Lines{"line 2: limits.max_message_size: \"99999999999T\" is not "
                   "a size: write bytes or a number with K, M or G "
                   "(\"50M\")"}));
}

TEST(ConfigEnums, BadValues) {
  EXPECT_EQ(Errors("store = \"postgres\"\n"),
            (Lines{"line 1: store: must be \"sqlite\" or \"memory\", not "
                   "\"postgres\""}));
  EXPECT_EQ(Errors("[pop3]\ndelete_mode = \"purge\"\n"),
            (Lines{"line 2: pop3.delete_mode: must be \"delete\", "
                   "\"keep-seen\" or \"archive\", not \"purge\""}));
  EXPECT_EQ(Errors("[log]\nlevel = \"verbose\"\n"),
            (Lines{"line 2: log.level: must be \"trace\", \"debug\", "
                   "\"info\", \"warn\", \"error\", \"critical\" or \"off\", "
                   "not \"verbose\""}));
  EXPECT_EQ(Errors("[log]\nformat = \"xml\"\n"),
            (Lines{"line 2: log.format: must be \"text\" or \"json\", not "
                   "\"xml\""}));
  EXPECT_EQ(Errors("[[listener]]\nprotocol = \"smpt\"\nport = 25\n"),
            (Lines{"line 2: listener[1].protocol: must be \"smtp\", "
                   "\"submission\", \"pop3\" or \"imap\", not \"smpt\""}));
  EXPECT_EQ(Errors("[[listener]]\nprotocol = \"imap\"\nport = 993\n"
                   "tls = \"yes\"\n"),
            (Lines{"line 4: listener[1].tls: must be \"none\", \"starttls\" "
                   "or \"implicit\", not \"yes\""}));
  Config c = Parse(
      "store = \"memory\"\n[pop3]\ndelete_mode = \"keep-seen\"\n"
      "[log]\nlevel = \"debug\"\nformat = \"json\"\n");
  EXPECT_EQ(c.store, "memory");
  EXPECT_EQ(c.pop3.delete_mode, "keep-seen");
  EXPECT_EQ(c.log.level, "debug");
  EXPECT_EQ(c.log.format, "json");
}

TEST(ConfigListeners, ReplaceDefaults) {
  Config c = Parse(R"(
[[listener]]
protocol = "imap"
address = "::"
port = 993
tls = "implicit"

[[listener]]
protocol = "smtp"
port = 25
)");
  std::vector<Listener> want = {
      {Protocol::kImap, "::", 993, TlsMode::kImplicit},
      {Protocol::kSmtp, "127.0.0.1", 25, TlsMode::kNone},
  };
  EXPECT_EQ(c.listeners, want);
  // An explicitly empty list means no listeners at all.
  EXPECT_TRUE(Parse("listener = []\n").listeners.empty());
  // Inline tables are the same thing.
  EXPECT_EQ(Parse("listener = [{protocol = \"pop3\", port = 0}]\n").listeners,
            (std::vector<Listener>{
                {Protocol::kPop3, "127.0.0.1", 0, TlsMode::kNone}}));
}

TEST(ConfigListeners, PortRange) {
  EXPECT_EQ(Errors("[[listener]]\nprotocol = \"smtp\"\nport = 65536\n"),
            (Lines{"line 3: listener[1].port: must be at most 65535"}));
  EXPECT_EQ(Errors("[[listener]]\nprotocol = \"smtp\"\nport = -1\n"),
            (Lines{"line 3: listener[1].port: must not be negative"}));
  EXPECT_EQ(Parse("[[listener]]\nprotocol = \"smtp\"\nport = 65535\n")
                .listeners[0]
                .port,
            65535);
}

TEST(ConfigListeners, MissingProtocolAndPort) {
  EXPECT_EQ(Errors("[[listener]]\nprotocol = \"smtp\"\nport = 25\n\n"
                   "[[listener]]\naddress = \"::1\"\n"),
            (Lines{"line 5: listener[2].protocol: missing (\"smtp\", "
                   "\"submission\", \"pop3\" or \"imap\")",
                   "line 5: listener[2].port: missing (0 picks a free port)"}));
}

TEST(ConfigListeners, BadAddress) {
  EXPECT_EQ(Errors("[[listener]]\nprotocol = \"smtp\"\nport = 25\n"
                   "address = \"localhost\"\n"),
            (Lines{"line 4: listener[1].address: \"localhost\" is not an IPv4 "
                   "or IPv6 address (such as \"0.0.0.0\" or \"::\", no "
                   "brackets)"}));
  EXPECT_EQ(Errors("[[listener]]\nprotocol = \"smtp\"\nport = 25\n"
                   "address = \"[::1]\"\n"),
            (Lines{"line 4: listener[1].address: \"[::1]\" is not an IPv4 "
                   "or IPv6 address (such as \"0.0.0.0\" or \"::\", no "
                   "brackets)"}));
}

TEST(ConfigListeners, DuplicateAddressAndPort) {
  const char* text = R"([[listener]]
protocol = "smtp"
address = "::1"
port = 25

[[listener]]
protocol = "submission"
address = "0::1"
port = 25
)";
  EXPECT_EQ(Errors(text),
            (Lines{"line 9: listener[2].port: 0::1 port 25 is already used "
                   "by listener[1]"}));
  // 0.0.0.0 takes the port on every IPv4 address.
  EXPECT_EQ(Errors("[[listener]]\nprotocol = \"smtp\"\naddress = \"0.0.0.0\"\n"
                   "port = 25\n[[listener]]\nprotocol = \"imap\"\n"
                   "port = 25\n"),
            (Lines{"line 7: listener[2].port: 127.0.0.1 port 25 is already "
                   "used by listener[1]"}));
  // Port 0, different ports, and different addresses are all fine.
  EXPECT_EQ(Parse("[[listener]]\nprotocol = \"smtp\"\nport = 0\n"
                  "[[listener]]\nprotocol = \"imap\"\nport = 0\n"
                  "[[listener]]\nprotocol = \"imap\"\nport = 143\n"
                  "[[listener]]\nprotocol = \"imap\"\nport = 143\n"
                  "address = \"127.0.0.2\"\n"
                  "[[listener]]\nprotocol = \"imap\"\nport = 143\n"
                  "address = \"::\"\n")
                .listeners.size(),
            5u);
}

TEST(ConfigDomains, ValidationAndNormalisation) {
  Config c = Parse(
      "domains = [\"Example.ORG\", \"mail.example.net\", "
      "\"localhost\", \"xn--bcher-kva.example\"]\n");
  EXPECT_EQ(c.domains,
            (std::vector<std::string>{"example.org", "mail.example.net",
                                      "localhost", "xn--bcher-kva.example"}));
  std::string long_label(64, 'a');
  auto errors = Errors(
      "domains = [\n"
      "  \"ok.example\",\n"
      "  \"bad_name.example\",\n"
      "  \"-dash.example\",\n"
      "  \"dot.example.\",\n"
      "  \"a..b\",\n"
      "  \"bücher.example\",\n"
      "  \"" +
      long_label +
      ".example\",\n"
      "  \"\",\n"
      "  \"OK.example\",\n"
      "]\n");
  EXPECT_EQ(errors,
            (Lines{
                "line 3: domains[2]: \"bad_name.example\" has an invalid "
                "character '_'",
                "line 4: domains[3]: \"-dash.example\" has a label that starts "
                "or ends with '-'",
                "line 5: domains[4]: \"dot.example.\" must not end with a dot",
                "line 6: domains[5]: \"a..b\" has an empty label",
                "line 7: domains[6]: \"bücher.example\" is not ASCII: write "
                "the A-label (xn--) form (RFC 5890)",
                "line 8: domains[7]: \"" + long_label +
                    ".example\" has a label longer than 63 octets (RFC 1035 "
                    "§2.3.4)",
                "line 9: domains[8]: \"\" must not be empty",
                "line 10: domains[9]: \"OK.example\" is listed twice",
            }));
}

TEST(ConfigHostname, Validation) {
  EXPECT_EQ(Parse("hostname = \"mx1.example.org\"\n").hostname,
            "mx1.example.org");
  EXPECT_EQ(Errors("\nhostname = \"mx 1\"\n"),
            (Lines{"line 2: hostname: has an invalid character ' '"}));
  EXPECT_EQ(Errors("data_dir = \"\"\n"),
            (Lines{"line 1: data_dir: must not be empty"}));
}

TEST(ConfigTls, CertAndKeyTogether) {
  EXPECT_EQ(Errors("[tls]\ncert_file = \"/etc/ssl/c.pem\"\n"),
            (Lines{"line 2: tls.cert_file: tls.cert_file and tls.key_file go "
                   "together"}));
  EXPECT_EQ(Errors("[tls]\n\nkey_file = \"/etc/ssl/k.pem\"\n"),
            (Lines{"line 3: tls.key_file: tls.cert_file and tls.key_file go "
                   "together"}));
  Config c = Parse("[tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n");
  EXPECT_EQ(c.tls.cert_file, "c.pem");
  EXPECT_EQ(c.tls.key_file, "k.pem");
}

TEST(ConfigQueue, RetryScheduleAndSmarthost) {
  EXPECT_EQ(Parse("[queue]\nretry_schedule = [60, 120]\n").queue.retry_schedule,
            (std::vector<uint32_t>{60, 120}));
  EXPECT_EQ(Errors("[queue]\nretry_schedule = []\n"),
            (Lines{"line 2: queue.retry_schedule: must list at least one "
                   "delay"}));
  EXPECT_EQ(Errors("[queue]\nretry_schedule = [\n  60,\n  0,\n  \"1h\",\n"
                   "  4294967296,\n]\n"),
            (Lines{"line 4: queue.retry_schedule[2]: must be at least 1",
                   "line 5: queue.retry_schedule[3]: must be an integer, not "
                   "a string",
                   "line 6: queue.retry_schedule[4]: must be at most "
                   "4294967295"}));

  Config c = Parse(
      "[queue]\nsmarthost = \"relay.example.net:587\"\n"
      "smarthost_user = \"u\"\nsmarthost_password = \"p\"\n");
  EXPECT_EQ(c.queue.smarthost, "relay.example.net:587");
  EXPECT_EQ(c.queue.smarthost_user, "u");
  EXPECT_EQ(c.queue.smarthost_password, "p");
  EXPECT_EQ(
      Parse("[queue]\nsmarthost = \"[2001:db8::1]:25\"\n").queue.smarthost,
      "[2001:db8::1]:25");
  EXPECT_EQ(Parse("[queue]\nsmarthost = \"192.0.2.1:25\"\n").queue.smarthost,
            "192.0.2.1:25");
  EXPECT_EQ(Errors("[queue]\nsmarthost = \"relay.example.net\"\n"),
            (Lines{"line 2: queue.smarthost: must be \"host:port\" "
                   "(\"[::1]:587\" for IPv6)"}));
  EXPECT_EQ(Errors("[queue]\nsmarthost = \"relay.example.net:0\"\n"),
            (Lines{"line 2: queue.smarthost: has an invalid port \"0\""}));
  EXPECT_EQ(Errors("[queue]\nsmarthost = \"bad_host:25\"\n"),
            (Lines{"line 2: queue.smarthost: has an invalid host "
                   "\"bad_host\""}));
  EXPECT_EQ(Errors("[queue]\nsmarthost_user = \"u\"\n"
                   "smarthost_password = \"p\"\n"),
            (Lines{"line 2: queue.smarthost_user: is set but queue.smarthost "
                   "is not"}));
  EXPECT_EQ(Errors("[queue]\nsmarthost = \"r.example:25\"\n"
                   "smarthost_password = \"p\"\n"),
            (Lines{"line 3: queue.smarthost_password: queue.smarthost_user "
                   "and queue.smarthost_password go together"}));
}

TEST(ConfigQueue, RoutesAndMxPort) {
  Config c = Parse(
      "[queue]\nmx_port = 2525\n"
      "routes = { \"Example.NET\" = \"127.0.0.1:2526\" }\n"
      );
  EXPECT_EQ(c.queue.mx_port, 2525);
  EXPECT_EQ(c.queue.routes,
            (std::map<std::string, std::string>{
                {"example.net", "127.0.0.1:2526"}}));
}

TEST(ConfigQueue, RoutesTableAndErrors) {
  Config c = Parse(
      "[queue.routes]\n\"a.example\" = \"[::1]:25\"\n"
      "\"b.example\" = \"mx.b.example:25\"\n");
  EXPECT_EQ(c.queue.routes.size(), 2u);
  EXPECT_EQ(c.queue.routes["a.example"], "[::1]:25");
  EXPECT_EQ(Errors("[queue.routes]\n\"a.example\" = \"mx.example\"\n"
                   "\"bad_domain\" = \"h:25\"\n\"c.example\" = 25\n"),
            (Lines{"line 2: queue.routes.a.example: must be \"host:port\" "
                   "(\"[::1]:587\" for IPv6)",
                   "line 3: queue.routes.bad_domain: \"bad_domain\" "
                   "has an invalid character '_'",
                   "line 4: queue.routes.c.example: must be a string "
                   "(\"host:port\"), not an integer"}));
  EXPECT_EQ(Errors("[queue]\nmx_port = 0\n"),
            (Lines{"line 2: queue.mx_port: must be at least 1"}));
}

TEST(ConfigDns, Servers) {
  EXPECT_EQ(Parse("[dns]\nservers = [\"127.0.0.1:5353\", \"::1\", "
                  "\"[::1]:53\", \"192.0.2.53\"]\n")
                .dns.servers,
            (std::vector<std::string>{"127.0.0.1:5353", "::1", "[::1]:53",
                                      "192.0.2.53"}));
  EXPECT_EQ(Errors("[dns]\nservers = [\n  \"ns.example\",\n"
                   "  \"127.0.0.1:99999\",\n  \"[127.0.0.1]:53\",\n]\n"),
            (Lines{"line 3: dns.servers[1]: \"ns.example\" is not an IP "
                   "address with an optional port (\"127.0.0.1:5353\", "
                   "\"[::1]:53\")",
                   "line 4: dns.servers[2]: \"127.0.0.1:99999\" is not an IP "
                   "address with an optional port (\"127.0.0.1:5353\", "
                   "\"[::1]:53\")",
                   "line 5: dns.servers[3]: \"[127.0.0.1]:53\" is not an IP "
                   "address with an optional port (\"127.0.0.1:5353\", "
                   "\"[::1]:53\")"}));
}

TEST(ConfigProblems, AllReportedInLineOrder) {
  const char* text = R"(hostname = "ok.example"
workers = 300
colour = "blue"

[limits]
max_line_length = 100
max_message_size = "huge"

[[listener]]
protocol = "smtp"
port = 70000

[log]
level = "loud"
)";
  std::vector<Problem> problems;
  auto r = ParseConfig(text, &problems, "correio.toml");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "6 problems in correio.toml");
  Lines got;
  for (const Problem& p : problems) got.push_back(p.ToString());
  EXPECT_EQ(got,
            (Lines{
                "line 2: workers: must be at most 256",
                "line 3: colour: unknown key",
                "line 6: limits.max_line_length: must be at least 1000",
                "line 7: limits.max_message_size: \"huge\" is not a size: "
                "write bytes or a number with K, M or G (\"50M\")",
                "line 11: listener[1].port: must be at most 65535",
                "line 14: log.level: must be \"trace\", \"debug\", \"info\", "
                "\"warn\", \"error\", \"critical\" or \"off\", not \"loud\"",
            }));
  EXPECT_EQ(problems[4].line, 11u);
  EXPECT_EQ(problems[4].key, "listener[1].port");
  EXPECT_EQ(problems[4].message, "must be at most 65535");
}

TEST(ConfigProblems, NullProblemsAndReuse) {
  auto r = ParseConfig("workers = -1\n", nullptr);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "1 problem in config");

  std::vector<Problem> problems = {{1, "stale", "left over"}};
  EXPECT_TRUE(ParseConfig("", &problems).has_value());
  EXPECT_TRUE(problems.empty());
}

TEST(ConfigFull, RealisticFile) {
  const char* text = R"(
hostname = "mx1.example.org"
domains = ["example.org", "example.net"]
data_dir = "/var/lib/correio"
store = "sqlite"
user = "correio"
workers = 4

[[listener]]
protocol = "smtp"
address = "0.0.0.0"
port = 25
tls = "starttls"

[[listener]]
protocol = "submission"
address = "0.0.0.0"
port = 465
tls = "implicit"

[[listener]]
protocol = "imap"
address = "::"
port = 993
tls = "implicit"

[tls]
cert_file = "/etc/letsencrypt/live/mx1/fullchain.pem"
key_file = "/etc/letsencrypt/live/mx1/privkey.pem"

[limits]
max_connections = 2000
max_connections_per_ip = 20
max_message_size = "25M"
max_line_length = "4K"
max_literal_size = "30MB"
max_literal_before_auth = 4096
max_recipients = 100
max_bad_commands = 10
max_received_headers = 100
idle_timeout_seconds = 3600
command_timeout_seconds = 600
data_timeout_seconds = 900
shutdown_grace_seconds = 30

[auth]
allow_plaintext = false
throttle_free_failures = 5
throttle_max_delay_seconds = 30
throttle_block_after = 0

[pop3]
delete_mode = "archive"
mark_seen_on_retr = false
download_once = true
apop = true
login_delay_seconds = 300
autologout_seconds = 900

[queue]
retry_schedule = [60, 300, 3600]
max_age_seconds = 259200
delay_warning_seconds = 0
max_per_destination = 2
smarthost = "smtp.provider.example:587"
smarthost_user = "mx1"
smarthost_password = "s3cret"

[dns]
servers = ["9.9.9.9", "[2620:fe::fe]:53"]

[log]
level = "warn"
format = "json"
file = "/var/log/correio.log"
)";
  Config want;
  want.hostname = "mx1.example.org";
  want.domains = {"example.org", "example.net"};
  want.data_dir = "/var/lib/correio";
  want.store = "sqlite";
  want.user = "correio";
  want.workers = 4;
  want.listeners = {
      {Protocol::kSmtp, "0.0.0.0", 25, TlsMode::kStartTls},
      {Protocol::kSubmission, "0.0.0.0", 465, TlsMode::kImplicit},
      {Protocol::kImap, "::", 993, TlsMode::kImplicit},
  };
  want.tls = {"/etc/letsencrypt/live/mx1/fullchain.pem",
              "/etc/letsencrypt/live/mx1/privkey.pem"};
  want.limits.max_connections = 2000;
  want.limits.max_connections_per_ip = 20;
  want.limits.max_message_size = 25ull << 20;
  want.limits.max_line_length = 4096;
  want.limits.max_literal_size = 30ull << 20;
  want.limits.max_literal_before_auth = 4096;
  want.limits.max_recipients = 100;
  want.limits.max_bad_commands = 10;
  want.limits.max_received_headers = 100;
  want.limits.idle_timeout_seconds = 3600;
  want.limits.command_timeout_seconds = 600;
  want.limits.data_timeout_seconds = 900;
  want.limits.shutdown_grace_seconds = 30;
  want.auth.allow_plaintext = false;
  want.auth.throttle_free_failures = 5;
  want.auth.throttle_max_delay_seconds = 30;
  want.auth.throttle_block_after = 0;
  want.pop3 = {"archive", false, true, true, 300, 900};
  want.queue.retry_schedule = {60, 300, 3600};
  want.queue.max_age_seconds = 259200;
  want.queue.delay_warning_seconds = 0;
  want.queue.max_per_destination = 2;
  want.queue.smarthost = "smtp.provider.example:587";
  want.queue.smarthost_user = "mx1";
  want.queue.smarthost_password = "s3cret";
  want.dns.servers = {"9.9.9.9", "[2620:fe::fe]:53"};
  want.log = {"warn", "json", "/var/log/correio.log"};
  EXPECT_EQ(Parse(text), want);
}

TEST(ConfigDocs, ExampleInConfigurationMdParses) {
  std::ifstream in(std::string(CORREIO_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md not found";
  std::string doc((std::istreambuf_iterator<char>(in)),
                  std::istreambuf_iterator<char>());
  size_t start = doc.find("```toml\n");
  ASSERT_NE(start, std::string::npos);
  start += 8;
  size_t end = doc.find("```", start);
  ASSERT_NE(end, std::string::npos);
  Config c = Parse(doc.substr(start, end - start));
  EXPECT_EQ(c.hostname, "mx1.example.org");
  EXPECT_EQ(c.listeners.size(), 3u);
  EXPECT_EQ(c.limits.max_message_size, 25ull << 20);
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.empty()); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  TempDir tmp_{"correio-config-test"};
  const std::string& dir_ = tmp_.path();
};

TEST_F(ConfigFileTest, MissingFile) {
  std::string path = dir_ + "/nope.toml";
  std::vector<Problem> problems;
  auto r = LoadConfig(path, &problems);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].ToString(),
            "cannot open " + path + ": No such file or directory");
}

TEST_F(ConfigFileTest, DirectoryIsUnreadable) {
  std::vector<Problem> problems;
  auto r = LoadConfig(dir_, &problems);
  ASSERT_FALSE(r.has_value());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].ToString(), "cannot read " + dir_ + ": Is a directory");
}

TEST_F(ConfigFileTest, LoadsAndReportsWithPath) {
  std::string good = Write("good.toml", "workers = 2\n");
  std::vector<Problem> problems;
  auto r = LoadConfig(good, &problems);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->workers, 2u);

  std::string bad = Write("bad.toml", "\nworkers = 999\n");
  r = LoadConfig(bad, &problems);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "1 problem in " + bad);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].ToString(), "line 2: workers: must be at most 256");

  std::string def = Write("default.toml", DefaultConfigText());
  r = LoadConfig(def, &problems);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, Config{});
}

TEST(ConfigWorkers, SetCountWinsElseOnePerCoreLessOne) {
  Config cfg;
  EXPECT_EQ(IoThreads(cfg, 0), 1u);  // the core count unknown
  EXPECT_EQ(IoThreads(cfg, 1), 1u);
  EXPECT_EQ(IoThreads(cfg, 2), 1u);
  EXPECT_EQ(IoThreads(cfg, 3), 2u);
  EXPECT_EQ(IoThreads(cfg, 16), 15u);
  cfg.workers = 4;
  EXPECT_EQ(IoThreads(cfg, 2), 4u);
  EXPECT_EQ(IoThreads(cfg, 16), 4u);
}

}  // namespace
}  // namespace correio::config
