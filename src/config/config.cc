// Config parsing: TOML (toml++) -> Config, with every problem collected.
//
// toml++ is included only here, so its exception mode cannot differ between
// translation units. Debian builds it as a shared library with exceptions
// on, so we use that mode and turn toml::parse_error into a Problem.
#include "config/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <utility>

#include "base/strings.h"

namespace correio::config {

std::string_view ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kSmtp:
      return "smtp";
    case Protocol::kSubmission:
      return "submission";
    case Protocol::kPop3:
      return "pop3";
    case Protocol::kImap:
      return "imap";
  }
  return "?";
}

std::string_view TlsModeName(TlsMode m) {
  switch (m) {
    case TlsMode::kNone:
      return "none";
    case TlsMode::kStartTls:
      return "starttls";
    case TlsMode::kImplicit:
      return "implicit";
  }
  return "?";
}

std::vector<Listener> DefaultListeners() {
  // Unprivileged ports (the well-known port with a trailing 0 or a 2525
  // for 25) so `make run` works without root. The MX offers STARTTLS but
  // cannot require it (RFC 3207 §4); implicit-TLS ports per RFC 8314 §3.
  const char* kLoopback = "127.0.0.1";
  return {
      {Protocol::kSmtp, kLoopback, 2525, TlsMode::kStartTls},
      {Protocol::kSubmission, kLoopback, 5870, TlsMode::kStartTls},
      {Protocol::kSubmission, kLoopback, 4650, TlsMode::kImplicit},
      {Protocol::kPop3, kLoopback, 1100, TlsMode::kStartTls},
      {Protocol::kPop3, kLoopback, 9950, TlsMode::kImplicit},
      {Protocol::kImap, kLoopback, 1430, TlsMode::kStartTls},
      {Protocol::kImap, kLoopback, 9930, TlsMode::kImplicit},
  };
}

std::string Problem::ToString() const {
  std::string out;
  if (line > 0) out += fmt::format("line {}: ", line);
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

namespace {

constexpr uint64_t kU32Max = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kKiB = 1024;
// A config file is a few kilobytes; refuse to slurp /dev/zero.
constexpr size_t kMaxFileSize = 1 << 20;

constexpr std::string_view kProtocols[] = {"smtp", "submission", "pop3",
                                           "imap"};
constexpr std::string_view kTlsModes[] = {"none", "starttls", "implicit"};
constexpr std::string_view kStores[] = {"sqlite", "memory"};
constexpr std::string_view kDeleteModes[] = {"delete", "keep-seen", "archive"};
// The names spdlog::level::from_str understands.
constexpr std::string_view kLogLevels[] = {"trace", "debug",    "info", "warn",
                                           "error", "critical", "off"};
constexpr std::string_view kLogFormats[] = {"text", "json"};

uint32_t LineOf(const toml::node& n) { return n.source().begin.line; }

std::string_view TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string QuoteList(std::span<const std::string_view> names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += fmt::format("\"{}\"", names[i]);
  }
  return out;
}

// Levenshtein distance, for "did you mean" on unknown keys.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min(
          {row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// nullopt when `s` is a valid DNS host name in A-label form; otherwise why
// not. RFC 1035 §2.3.1 (letters, digits, hyphen; no hyphen at either end of
// a label; RFC 1123 §2.1 allows a leading digit), §2.3.4 (63-octet labels,
// 253 octets in text form).
std::optional<std::string> HostnameProblem(std::string_view s) {
  if (s.empty()) return "must not be empty";
  if (s.size() > 253) return "is longer than 253 octets (RFC 1035 §2.3.4)";
  if (s.back() == '.') return "must not end with a dot";
  for (std::string_view label : SplitString(s, '.')) {
    if (label.empty()) return "has an empty label";
    if (label.size() > 63) {
      return "has a label longer than 63 octets (RFC 1035 §2.3.4)";
    }
    for (char c : label) {
      auto u = static_cast<unsigned char>(c);
      if (u >= 0x80) {
        return "is not ASCII: write the A-label (xn--) form (RFC 5890)";
      }
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') || c == '-';
      if (!ok) return fmt::format("has an invalid character '{}'", c);
    }
    if (label.front() == '-' || label.back() == '-') {
      return "has a label that starts or ends with '-'";
    }
  }
  return std::nullopt;
}

// An IP address literal in binary form, to compare "::1" with "0::1".
struct IpAddress {
  int family = 0;  // AF_INET or AF_INET6
  unsigned char bytes[16] = {};
  bool operator==(const IpAddress&) const = default;
};

std::optional<IpAddress> ParseIp(std::string_view s) {
  if (s.empty() || s.size() > 64) return std::nullopt;
  std::string z(s);  // inet_pton wants a NUL-terminated string
  IpAddress ip;
  if (inet_pton(AF_INET, z.c_str(), ip.bytes) == 1) {
    ip.family = AF_INET;
    return ip;
  }
  if (inet_pton(AF_INET6, z.c_str(), ip.bytes) == 1) {
    ip.family = AF_INET6;
    return ip;
  }
  return std::nullopt;
}

bool IsIpv4Any(const IpAddress& ip) {
  return ip.family == AF_INET && ip == IpAddress{AF_INET, {}};
}

// "host", "host:port", "1.2.3.4:53", "[::1]:53" or a bare "::1".
struct HostPort {
  std::string_view host;
  std::optional<std::string_view> port;
  bool bracketed = false;
};

std::optional<HostPort> SplitHostPort(std::string_view s) {
  HostPort hp;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    hp.host = s.substr(1, close - 1);
    hp.bracketed = true;
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      hp.port = rest.substr(1);
    }
    return hp;
  }
  size_t colon = s.find(':');
  if (colon == std::string_view::npos ||
      s.find(':', colon + 1) != std::string_view::npos) {
    hp.host = s;  // no port, or a bare IPv6 address
    return hp;
  }
  hp.host = s.substr(0, colon);
  hp.port = s.substr(colon + 1);
  return hp;
}

std::optional<uint16_t> ParsePort(std::string_view s) {
  auto n = ParseUint64(s);
  if (!n || *n < 1 || *n > 65535) return std::nullopt;
  return static_cast<uint16_t>(*n);
}

class Checker {
 public:
  void Add(uint32_t line, std::string key, std::string message) {
    problems_.push_back({line, std::move(key), std::move(message)});
  }
  void WrongType(const toml::node& n, const std::string& key,
                 std::string_view want) {
    Add(LineOf(n), key, fmt::format("must be {}, not {}", want, TypeName(n)));
  }

  // An integer in [min, max]; nullopt (and a problem) otherwise.
  std::optional<uint64_t> Integer(const toml::node& n, const std::string& key,
                                  uint64_t min, uint64_t max) {
    const auto* v = n.as_integer();
    if (v == nullptr) {
      WrongType(n, key, "an integer");
      return std::nullopt;
    }
    int64_t x = v->get();
    if (x < 0) {
      Add(LineOf(n), key, "must not be negative");
      return std::nullopt;
    }
    return InRange(n, key, static_cast<uint64_t>(x), min, max, false);
  }

  // A byte count: an integer, or a string such as "50M" (binary units).
  std::optional<uint64_t> Size(const toml::node& n, const std::string& key,
                               uint64_t min, uint64_t max) {
    uint64_t bytes = 0;
    if (const auto* i = n.as_integer()) {
      if (i->get() < 0) {
        Add(LineOf(n), key, "must not be negative");
        return std::nullopt;
      }
      bytes = static_cast<uint64_t>(i->get());
    } else if (const auto* s = n.as_string()) {
      auto parsed = ParseSize(s->get());
      if (!parsed) {
        Add(LineOf(n), key,
            fmt::format("\"{}\" is not a size: write bytes or a number "
                        "with K, M or G (\"50M\")",
                        s->get()));
        return std::nullopt;
      }
      bytes = *parsed;
    } else {
      WrongType(n, key, "an integer or a size string such as \"50M\"");
      return std::nullopt;
    }
    return InRange(n, key, bytes, min, max, true);
  }

  // One of `names`; returns its index.
  std::optional<size_t> Choice(const toml::node& n, const std::string& key,
                               std::span<const std::string_view> names) {
    const auto* s = n.as_string();
    if (s == nullptr) {
      WrongType(n, key, "a string");
      return std::nullopt;
    }
    for (size_t i = 0; i < names.size(); ++i) {
      if (s->get() == names[i]) return i;
    }
    Add(LineOf(n), key,
        fmt::format("must be {}, not \"{}\"", QuoteList(names), s->get()));
    return std::nullopt;
  }

  std::vector<Problem> Take() { return std::move(problems_); }

 private:
  std::optional<uint64_t> InRange(const toml::node& n, const std::string& key,
                                  uint64_t x, uint64_t min, uint64_t max,
                                  bool size) {
    auto show = [size](uint64_t v) {
      if (!size || v < kKiB) return fmt::format("{}", v);
      return fmt::format("{} ({})", v, FormatSize(v));
    };
    if (x < min) {
      Add(LineOf(n), key, "must be at least " + show(min));
      return std::nullopt;
    }
    if (x > max) {
      Add(LineOf(n), key, "must be at most " + show(max));
      return std::nullopt;
    }
    return x;
  }

  std::vector<Problem> problems_;
};

// Reads the keys of one TOML table. Every known key is asked for by name,
// so Finish() knows the full key set and reports every other key as
// unknown: a typo must never fall back to a default silently.
class TableReader {
 public:
  TableReader(Checker* checker, const toml::table* table, std::string prefix)
      : c_(checker), table_(table), prefix_(std::move(prefix)) {}

  std::string Key(std::string_view name) const {
    return prefix_ + std::string(name);
  }

  const toml::node* Get(std::string_view name) {
    known_.push_back(name);
    return table_ == nullptr ? nullptr : table_->get(name);
  }

  uint32_t LineOfKey(std::string_view name) const {
    const toml::node* n = table_ == nullptr ? nullptr : table_->get(name);
    return n == nullptr ? Line() : LineOf(*n);
  }
  uint32_t Line() const { return table_ == nullptr ? 0 : LineOf(*table_); }
  bool Has(std::string_view name) const {
    return table_ != nullptr && table_->contains(name);
  }

  // Each reader leaves *out untouched when the key is absent or bad.
  bool String(std::string_view name, std::string* out) {
    const toml::node* n = Get(name);
    if (n == nullptr) return false;
    if (const auto* s = n->as_string()) {
      *out = s->get();
      return true;
    }
    c_->WrongType(*n, Key(name), "a string");
    return false;
  }

  void Bool(std::string_view name, bool* out) {
    const toml::node* n = Get(name);
    if (n == nullptr) return;
    if (const auto* b = n->as_boolean()) {
      *out = b->get();
    } else {
      c_->WrongType(*n, Key(name), "true or false");
    }
  }

  template <class T>
  void Integer(std::string_view name, T* out, uint64_t min,
               uint64_t max = std::numeric_limits<T>::max()) {
    const toml::node* n = Get(name);
    if (n == nullptr) return;
    if (auto v = c_->Integer(*n, Key(name), min, max))
      *out = static_cast<T>(*v);
  }

  template <class T>
  void Size(std::string_view name, T* out, uint64_t min,
            uint64_t max = std::numeric_limits<T>::max()) {
    const toml::node* n = Get(name);
    if (n == nullptr) return;
    if (auto v = c_->Size(*n, Key(name), min, max)) *out = static_cast<T>(*v);
  }

  void Choice(std::string_view name, std::string* out,
              std::span<const std::string_view> names) {
    const toml::node* n = Get(name);
    if (n == nullptr) return;
    if (auto i = c_->Choice(*n, Key(name), names)) *out = names[*i];
  }

  // An array of strings; each entry with its line for later checks.
  struct Entry {
    std::string value;
    uint32_t line;
  };
  std::optional<std::vector<Entry>> StringArray(std::string_view name) {
    const toml::node* n = Get(name);
    if (n == nullptr) return std::nullopt;
    const auto* arr = n->as_array();
    if (arr == nullptr) {
      c_->WrongType(*n, Key(name), "an array of strings");
      return std::nullopt;
    }
    std::vector<Entry> out;
    bool ok = true;
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::node& e = *arr->get(i);
      if (const auto* s = e.as_string()) {
        out.push_back({s->get(), LineOf(e)});
      } else {
        c_->WrongType(e, fmt::format("{}[{}]", Key(name), i + 1), "a string");
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // A sub-table ([limits]); nullptr when absent or not a table.
  const toml::table* Table(std::string_view name) {
    const toml::node* n = Get(name);
    if (n == nullptr) return nullptr;
    if (const auto* t = n->as_table()) return t;
    c_->WrongType(*n, Key(name), fmt::format("a table ([{}])", Key(name)));
    return nullptr;
  }

  void Finish() {
    if (table_ == nullptr) return;
    for (auto&& [k, v] : *table_) {
      std::string_view name = k.str();
      if (std::find(known_.begin(), known_.end(), name) != known_.end()) {
        continue;
      }
      std::string message = "unknown key";
      std::string_view best;
      size_t best_distance = 3;  // suggest only close matches
      for (std::string_view known : known_) {
        size_t d = EditDistance(name, known);
        if (d < best_distance) {
          best_distance = d;
          best = known;
        }
      }
      if (!best.empty()) message += fmt::format(" (did you mean {}?)", best);
      uint32_t line = k.source().begin.line;
      if (line == 0) line = LineOf(v);
      c_->Add(line, Key(name), std::move(message));
    }
  }

 private:
  Checker* c_;
  const toml::table* table_;
  std::string prefix_;
  std::vector<std::string_view> known_;
};

void ReadListeners(Checker& c, const toml::node& node,
                   std::vector<Listener>* out) {
  const auto* arr = node.as_array();
  if (arr == nullptr) {
    c.WrongType(node, "listener", "an array of tables ([[listener]])");
    return;
  }
  struct Seen {
    IpAddress ip;
    uint16_t port;
    size_t index;  // 1-based
  };
  std::vector<Seen> seen;
  std::vector<Listener> listeners;
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    std::string prefix = fmt::format("listener[{}]", i + 1);
    const auto* t = e.as_table();
    if (t == nullptr) {
      c.WrongType(e, prefix, "a table ([[listener]])");
      continue;
    }
    TableReader r(&c, t, prefix + ".");
    Listener l;
    // protocol and port have no default inside a [[listener]]: an entry
    // without them is a mistake, not a request for "smtp on any port".
    if (const toml::node* n = r.Get("protocol")) {
      if (auto k = c.Choice(*n, r.Key("protocol"), kProtocols)) {
        l.protocol = static_cast<Protocol>(*k);
      }
    } else {
      c.Add(LineOf(*t), r.Key("protocol"),
            "missing (" + QuoteList(kProtocols) + ")");
    }
    std::optional<IpAddress> ip = ParseIp(l.address);
    if (r.String("address", &l.address)) {
      ip = ParseIp(l.address);
      if (!ip) {
        c.Add(r.LineOfKey("address"), r.Key("address"),
              fmt::format("\"{}\" is not an IPv4 or IPv6 address (such as "
                          "\"0.0.0.0\" or \"::\", no brackets)",
                          l.address));
      }
    } else if (r.Has("address")) {
      ip.reset();
    }
    bool port_ok = false;
    if (const toml::node* n = r.Get("port")) {
      if (auto p = c.Integer(*n, r.Key("port"), 0, 65535)) {
        l.port = static_cast<uint16_t>(*p);
        port_ok = true;
      }
    } else {
      c.Add(LineOf(*t), r.Key("port"), "missing (0 picks a free port)");
    }
    if (const toml::node* n = r.Get("tls")) {
      if (auto k = c.Choice(*n, r.Key("tls"), kTlsModes)) {
        l.tls = static_cast<TlsMode>(*k);
      }
    }
    r.Finish();
    // Two listeners on one address and port cannot both bind; port 0 asks
    // the kernel for a fresh port each time. 0.0.0.0 covers every IPv4
    // address, so it clashes with any of them on the same port.
    if (ip && port_ok && l.port != 0) {
      for (const Seen& s : seen) {
        if (s.port != l.port) continue;
        bool clash =
            s.ip == *ip || (s.ip.family == AF_INET && ip->family == AF_INET &&
                            (IsIpv4Any(s.ip) || IsIpv4Any(*ip)));
        if (clash) {
          c.Add(r.LineOfKey("port"), r.Key("port"),
                fmt::format("{} port {} is already used by listener[{}]",
                            l.address, l.port, s.index));
          break;
        }
      }
      seen.push_back({*ip, l.port, i + 1});
    }
    listeners.push_back(std::move(l));
  }
  *out = std::move(listeners);
}

void ReadLimits(Checker& c, TableReader& r, Limits* l) {
  r.Integer("max_connections", &l->max_connections, 1);
  r.Integer("max_connections_per_ip", &l->max_connections_per_ip, 1);
  r.Size("max_message_size", &l->max_message_size, kKiB);
  // RFC 5321 §4.5.3.1.6: a text line is up to 1000 octets with CRLF, and
  // §4.5.3.1.4 a command line 512; a smaller limit would refuse valid mail.
  r.Size("max_line_length", &l->max_line_length, 1000);
  r.Size("max_literal_size", &l->max_literal_size, kKiB);
  r.Size("max_literal_before_auth", &l->max_literal_before_auth, 0);
  r.Integer("max_recipients", &l->max_recipients, 1);
  r.Integer("max_bad_commands", &l->max_bad_commands, 1);
  r.Integer("max_received_headers", &l->max_received_headers, 1);
  r.Integer("idle_timeout_seconds", &l->idle_timeout_seconds, 1);
  r.Integer("command_timeout_seconds", &l->command_timeout_seconds, 1);
  r.Integer("data_timeout_seconds", &l->data_timeout_seconds, 1);
  r.Integer("shutdown_grace_seconds", &l->shutdown_grace_seconds, 0);
  if (l->max_connections_per_ip > l->max_connections &&
      r.Has("max_connections_per_ip")) {
    c.Add(r.LineOfKey("max_connections_per_ip"),
          r.Key("max_connections_per_ip"),
          fmt::format("must not exceed limits.max_connections ({})",
                      l->max_connections));
  }
}

void ReadQueue(Checker& c, TableReader& r, Queue* q) {
  if (const toml::node* n = r.Get("retry_schedule")) {
    if (const auto* arr = n->as_array()) {
      std::vector<uint32_t> delays;
      bool ok = true;
      for (size_t i = 0; i < arr->size(); ++i) {
        auto v = c.Integer(*arr->get(i),
                           fmt::format("queue.retry_schedule[{}]", i + 1), 1,
                           kU32Max);
        if (v) {
          delays.push_back(static_cast<uint32_t>(*v));
        } else {
          ok = false;
        }
      }
      if (arr->empty()) {
        c.Add(LineOf(*n), r.Key("retry_schedule"),
              "must list at least one delay");
      } else if (ok) {
        q->retry_schedule = std::move(delays);
      }
    } else {
      c.WrongType(*n, r.Key("retry_schedule"), "an array of integers");
    }
  }
  r.Integer("max_age_seconds", &q->max_age_seconds, 1);
  r.Integer("delay_warning_seconds", &q->delay_warning_seconds, 0);
  r.Integer("max_per_destination", &q->max_per_destination, 1);
  // "host:port" as smarthost and routes take it; the problem, if any.
  auto host_port_problem = [](std::string_view value) {
    auto hp = SplitHostPort(value);
    std::optional<std::string> why;
    if (!hp || !hp->port) {
      why = "must be \"host:port\" (\"[::1]:587\" for IPv6)";
    } else if (!ParsePort(*hp->port)) {
      why = fmt::format("has an invalid port \"{}\"", *hp->port);
    } else {
      auto ip = ParseIp(hp->host);
      bool host_ok = hp->bracketed ? ip && ip->family == AF_INET6
                                   : ip || !HostnameProblem(hp->host);
      if (!host_ok) why = fmt::format("has an invalid host \"{}\"", hp->host);
    }
    return why;
  };
  if (r.String("smarthost", &q->smarthost) && !q->smarthost.empty()) {
    if (auto why = host_port_problem(q->smarthost)) {
      c.Add(r.LineOfKey("smarthost"), r.Key("smarthost"), *why);
    }
  }
  r.Integer("mx_port", &q->mx_port, 1);
  if (const toml::table* routes = r.Table("routes")) {
    for (auto&& [k, v] : *routes) {
      std::string domain(k.str());
      std::string key = "queue.routes." + domain;
      uint32_t line = k.source().begin.line;
      if (line == 0) line = LineOf(v);
      if (auto why = HostnameProblem(domain)) {
        c.Add(line, key, fmt::format("\"{}\" {}", domain, *why));
        continue;
      }
      const auto* value = v.as_string();
      if (value == nullptr) {
        c.WrongType(v, key, "a string (\"host:port\")");
        continue;
      }
      if (auto why = host_port_problem(value->get())) {
        c.Add(line, key, *why);
        continue;
      }
      q->routes[AsciiLowercase(domain)] = value->get();
    }
  }
  r.String("smarthost_user", &q->smarthost_user);
  r.String("smarthost_password", &q->smarthost_password);
  if (!q->smarthost_user.empty() && q->smarthost.empty()) {
    c.Add(r.LineOfKey("smarthost_user"), r.Key("smarthost_user"),
          "is set but queue.smarthost is not");
  }
  if (q->smarthost_user.empty() != q->smarthost_password.empty()) {
    std::string_view set =
        q->smarthost_user.empty() ? "smarthost_password" : "smarthost_user";
    c.Add(r.LineOfKey(set), r.Key(set),
          "queue.smarthost_user and queue.smarthost_password go together");
  }
}

void ReadDns(Checker& c, TableReader& r, Dns* d) {
  auto servers = r.StringArray("servers");
  if (!servers) return;
  bool ok = true;
  for (size_t i = 0; i < servers->size(); ++i) {
    const auto& [value, line] = (*servers)[i];
    auto hp = SplitHostPort(value);
    bool good = hp && ParseIp(hp->host) && (!hp->port || ParsePort(*hp->port));
    // "[1.2.3.4]" is not a thing; brackets are for IPv6 with a port.
    if (good && hp->bracketed && ParseIp(hp->host)->family != AF_INET6) {
      good = false;
    }
    if (!good) {
      c.Add(line, fmt::format("dns.servers[{}]", i + 1),
            fmt::format("\"{}\" is not an IP address with an optional port "
                        "(\"127.0.0.1:5353\", \"[::1]:53\")",
                        value));
      ok = false;
    }
  }
  if (!ok) return;
  d->servers.clear();
  for (auto& e : *servers) d->servers.push_back(std::move(e.value));
}

Config ReadConfig(Checker& c, const toml::table& root) {
  Config cfg;
  TableReader top(&c, &root, "");

  if (top.String("hostname", &cfg.hostname) && !cfg.hostname.empty()) {
    if (auto why = HostnameProblem(cfg.hostname)) {
      c.Add(top.LineOfKey("hostname"), "hostname", *why);
    }
  }
  if (auto domains = top.StringArray("domains")) {
    std::vector<std::string> seen;
    for (size_t i = 0; i < domains->size(); ++i) {
      const auto& [value, line] = (*domains)[i];
      std::string key = fmt::format("domains[{}]", i + 1);
      if (auto why = HostnameProblem(value)) {
        c.Add(line, key, fmt::format("\"{}\" {}", value, *why));
        continue;
      }
      // Domains are case-insensitive (RFC 5321 §2.4); keep one spelling.
      std::string lower = AsciiLowercase(value);
      if (std::find(seen.begin(), seen.end(), lower) != seen.end()) {
        c.Add(line, key, fmt::format("\"{}\" is listed twice", value));
        continue;
      }
      seen.push_back(std::move(lower));
    }
    cfg.domains = std::move(seen);
  }
  if (top.String("data_dir", &cfg.data_dir) && cfg.data_dir.empty()) {
    c.Add(top.LineOfKey("data_dir"), "data_dir", "must not be empty");
  }
  top.Choice("store", &cfg.store, kStores);
  top.String("user", &cfg.user);
  top.Integer("workers", &cfg.workers, 0, 256);
  top.Integer("idle_poll_us", &cfg.idle_poll_us, 0, 1000);
  if (const toml::node* n = top.Get("listener")) {
    ReadListeners(c, *n, &cfg.listeners);
  }

  {
    TableReader r(&c, top.Table("tls"), "tls.");
    r.String("cert_file", &cfg.tls.cert_file);
    r.String("key_file", &cfg.tls.key_file);
    if (cfg.tls.cert_file.empty() != cfg.tls.key_file.empty()) {
      std::string_view set =
          cfg.tls.cert_file.empty() ? "key_file" : "cert_file";
      c.Add(r.LineOfKey(set), r.Key(set),
            "tls.cert_file and tls.key_file go together");
    }
    r.Finish();
  }
  {
    TableReader r(&c, top.Table("limits"), "limits.");
    ReadLimits(c, r, &cfg.limits);
    r.Finish();
  }
  {
    TableReader r(&c, top.Table("auth"), "auth.");
    r.Bool("allow_plaintext", &cfg.auth.allow_plaintext);
    r.Integer("throttle_free_failures", &cfg.auth.throttle_free_failures, 0);
    r.Integer("throttle_max_delay_seconds",
              &cfg.auth.throttle_max_delay_seconds, 0);
    r.Integer("throttle_block_after", &cfg.auth.throttle_block_after, 0);
    r.Integer("login_cache_seconds", &cfg.auth.login_cache_seconds, 0);
    r.Finish();
  }
  {
    TableReader r(&c, top.Table("pop3"), "pop3.");
    r.Choice("delete_mode", &cfg.pop3.delete_mode, kDeleteModes);
    r.Bool("mark_seen_on_retr", &cfg.pop3.mark_seen_on_retr);
    r.Bool("download_once", &cfg.pop3.download_once);
    r.Bool("apop", &cfg.pop3.apop);
    r.Integer("login_delay_seconds", &cfg.pop3.login_delay_seconds, 0);
    r.Integer("autologout_seconds", &cfg.pop3.autologout_seconds, 1);
    r.Finish();
  }
  {
    TableReader r(&c, top.Table("imap"), "imap.");
    r.Integer("expunge_log_days", &cfg.imap.expunge_log_days, 0);
    r.Finish();
  }
  {
    TableReader r(&c, top.Table("search"), "search.");
    r.Integer("index_delay_seconds", &cfg.search.index_delay_seconds, 0);
    r.Finish();
  }
  {
    TableReader r(&c, top.Table("queue"), "queue.");
    ReadQueue(c, r, &cfg.queue);
    r.Finish();
  }
  {
    TableReader r(&c, top.Table("dns"), "dns.");
    ReadDns(c, r, &cfg.dns);
    r.Finish();
  }
  {
    TableReader r(&c, top.Table("log"), "log.");
    r.Choice("level", &cfg.log.level, kLogLevels);
    r.Choice("format", &cfg.log.format, kLogFormats);
    r.String("file", &cfg.log.file);
    r.Finish();
  }
  top.Finish();
  return cfg;
}

}  // namespace

Result<Config> ParseConfig(std::string_view text,
                           std::vector<Problem>* problems,
                           std::string_view origin) {
  if (problems != nullptr) problems->clear();
  std::vector<Problem> found;
  Config cfg;
  try {
    toml::table root = toml::parse(text, origin);
    Checker checker;
    cfg = ReadConfig(checker, root);
    found = checker.Take();
  } catch (const toml::parse_error& e) {
    // Syntax errors stop the parser: there is only the one to report.
    found.push_back({e.source().begin.line, "", std::string(e.description())});
  }
  if (found.empty()) return cfg;
  std::stable_sort(
      found.begin(), found.end(),
      [](const Problem& a, const Problem& b) { return a.line < b.line; });
  size_t n = found.size();
  if (problems != nullptr) *problems = std::move(found);
  return Fail(ErrorCode::kInvalid,
              fmt::format("{} problem{} in {}", n, n == 1 ? "" : "s", origin));
}

Result<Config> LoadConfig(const std::string& path,
                          std::vector<Problem>* problems) {
  if (problems != nullptr) problems->clear();
  auto fail = [&](int err, std::string message) -> Result<Config> {
    if (problems != nullptr) problems->push_back({0, "", message});
    ErrorCode code = err == ENOENT                     ? ErrorCode::kNotFound
                     : (err == EACCES || err == EPERM) ? ErrorCode::kPerm
                                                       : ErrorCode::kInvalid;
    return Fail(code, std::move(message));
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return fail(err, fmt::format("cannot open {}: {}", path, strerror(err)));
  }
  std::string text;
  char buf[8192];
  while (true) {
    ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return fail(err, fmt::format("cannot read {}: {}", path, strerror(err)));
    }
    if (got == 0) break;
    text.append(buf, static_cast<size_t>(got));
    if (text.size() > kMaxFileSize) {
      ::close(fd);
      return fail(0, fmt::format("cannot read {}: larger than {}", path,
                                 FormatSize(kMaxFileSize)));
    }
  }
  ::close(fd);
  return ParseConfig(text, problems, path);
}

}  // namespace correio::config

namespace correio::config {

// Every key is set to its default, so this text doubles as a test that the
// documented defaults are the real ones (config_test parses it and compares
// with Config{}). Keep it in step with config.h and docs/configuration.md.
std::string DefaultConfigText() {
  return R"(# correio configuration (TOML, https://toml.io).
#
# Every key below is shown with its default value; delete any line to keep
# the default. Unknown keys are errors, so a typo is reported rather than
# ignored. Sizes are bytes or a number with a binary unit: "512K", "50M",
# "1G" (also "50MB", "50MiB"). Times are whole seconds.

# Name this server gives in greetings and Received: lines. Empty: the
# machine's host name.
hostname = ""

# Mail domains this server accepts mail for; added to the store at start.
domains = []

# Directory for the database, message blobs, the queue and the
# self-signed certificate. Relative paths are from the working directory.
data_dir = "./correio-data"

# Metadata store: "sqlite" (embedded) or "memory" (tests only: everything
# is lost on exit).
store = "sqlite"

# When started as root: switch to this user after binding the ports.
# Empty: keep running as the starting user.
user = ""

# Network threads. 0: one per CPU core less one (at least one), leaving a
# core to the store's threads. At most 256.
workers = 0

# Microseconds a network thread with nothing to do keeps polling its
# connections before it sleeps, so that a client's next command (sent
# right after our reply) finds it awake. Only after work, never while a
# session waits for the store, and less often while polls find nothing;
# an idle server uses no CPU. 0: sleep at once. At most 1000.
idle_poll_us = 50

# Listeners. If the file has any [[listener]] table, the listed ones replace
# this whole default set. Each needs protocol and port.
#   protocol: "smtp" (MX, inbound from other servers), "submission"
#             (clients sending mail), "pop3" or "imap".
#   address:  IP address to bind. The default 127.0.0.1 only accepts local
#             connections; production sets "0.0.0.0" (all IPv4) or "::".
#   port:     0-65535; 0 picks a free port (tests).
#   tls:      "none", "starttls" (plain, STARTTLS/STLS offered; login is
#             refused before TLS unless auth.allow_plaintext) or "implicit"
#             (TLS from the first byte, RFC 8314).
# The defaults use unprivileged ports; production uses 25, 587, 465, 110,
# 995, 143 and 993.
[[listener]]
protocol = "smtp"
address = "127.0.0.1"
port = 2525
tls = "starttls"

[[listener]]
protocol = "submission"
address = "127.0.0.1"
port = 5870
tls = "starttls"

[[listener]]
protocol = "submission"
address = "127.0.0.1"
port = 4650
tls = "implicit"

[[listener]]
protocol = "pop3"
address = "127.0.0.1"
port = 1100
tls = "starttls"

[[listener]]
protocol = "pop3"
address = "127.0.0.1"
port = 9950
tls = "implicit"

[[listener]]
protocol = "imap"
address = "127.0.0.1"
port = 1430
tls = "starttls"

[[listener]]
protocol = "imap"
address = "127.0.0.1"
port = 9930
tls = "implicit"

[tls]
# PEM certificate chain and private key. Both empty: a self-signed
# certificate is made in data_dir (fine for testing, not for clients).
cert_file = ""
key_file = ""

[limits]
# Open connections, in total and from one IP address.
max_connections = 10000
max_connections_per_ip = 50
# Largest message accepted (SMTP SIZE, IMAP APPEND). At least 1K.
max_message_size = "50M"
# Longest protocol line including CRLF. At least 1000 (RFC 5321 §4.5.3.1.6).
max_line_length = 8192
# Largest IMAP literal after login, and before login.
max_literal_size = "64M"
max_literal_before_auth = 8192
# Recipients per SMTP transaction (RFC 5321 §4.5.3.1.8 asks for >= 100).
max_recipients = 1000
# Unknown or invalid commands before a session is closed.
max_bad_commands = 20
# Received: headers beyond which a message is a loop (RFC 5321 §6.3).
max_received_headers = 50
# IMAP idle time before logout (RFC 9051 §5.4: at least 30 minutes).
idle_timeout_seconds = 1800
# Wait for the next SMTP/POP3 command (RFC 5321 §4.5.3.2.7: 5 minutes).
command_timeout_seconds = 300
# Wait for the next chunk of an SMTP DATA/BDAT body.
data_timeout_seconds = 600
# On shutdown, time sessions get to finish before they are cut (0: none).
shutdown_grace_seconds = 10

[auth]
# Allow passwords on connections without TLS. Keep false in production.
allow_plaintext = false
# Failed logins per IP and account before each further try is delayed.
throttle_free_failures = 3
# Longest delay added to a failed login.
throttle_max_delay_seconds = 15
# Failures within 10 minutes after which logins are refused for a while
# (0: never).
throttle_block_after = 10
# Seconds a verified password is remembered (as a keyed hash in memory),
# so the account's next logins with it skip the Argon2id work: every IMAP
# connection of a client, a phone reconnecting. Wrong passwords are never
# remembered and always cost a full check. 0: off.
login_cache_seconds = 300

[pop3]
# What DELE + QUIT does: "delete" expunges the message, "keep-seen" only
# marks it \Seen and hides it from POP3, "archive" moves it to Archive.
delete_mode = "delete"
# RETR marks the message \Seen (as IMAP FETCH BODY[] would).
mark_seen_on_retr = true
# Hide messages that a POP3 session has already downloaded.
download_once = false
# Offer APOP (RFC 1939 §7). MD5-based, and it needs the password itself:
# while on, each password login (and user add/passwd) stores it in the
# account as the APOP secret; turned off, the next login removes it.
apop = false
# Minimum seconds between two logins to one maildrop (RFC 2449
# LOGIN-DELAY, advertised in CAPA); a login that comes sooner gets
# -ERR [LOGIN-DELAY]. 0: no minimum.
login_delay_seconds = 0
# Close a session idle this long, or whose command line takes this long to
# arrive, applying none of its deletions (RFC 1939 §3: at least 600).
autologout_seconds = 600

[imap]
# Days each expunged message is remembered for QRESYNC (RFC 7162), so a
# device offline that long learns exactly what went away. Older records
# are dropped; such a device is then told every UID it knew that is gone
# (correct, only longer). 0: keep forever.
expunge_log_days = 400

[search]
# Seconds new mail waits before the background indexer takes it, so mail
# deleted by then (POP3 download-and-delete, drafts) costs no index work.
# SEARCH first indexes its own mailbox's waiting mail, so results are
# always complete. 0: index at once.
index_delay_seconds = 60

[queue]
# Delays in seconds between delivery attempts; the last one repeats.
retry_schedule = [300, 600, 1800, 3600, 7200, 14400]
# Give up and bounce after this long (5 days).
max_age_seconds = 432000
# Tell the sender after this long that delivery is delayed (0: never).
delay_warning_seconds = 14400
# Parallel connections to one destination host.
max_per_destination = 4
# Relay all outbound mail through "host:port" ("[::1]:587" for IPv6).
# Empty: deliver directly to each domain's MX.
smarthost = ""
# Credentials for the smarthost (AUTH over TLS); both or neither.
smarthost_user = ""
smarthost_password = ""
# Port for direct delivery to the MX hosts of a domain.
mx_port = 25
# Static routes: mail for a domain goes to "host:port" instead of its MX
# (and instead of the smarthost), e.g. { "example.net" = "10.0.0.5:25" }.
routes = {}

[dns]
# Resolvers as "ip" or "ip:port" ("[::1]:53" for IPv6 with a port).
# Empty: the servers in /etc/resolv.conf.
servers = []

[log]
# "trace", "debug", "info", "warn", "error", "critical" or "off".
level = "info"
# "text" or "json" (one object per line).
format = "text"
# Log file. Empty: standard error.
file = ""
)";
}

uint32_t IoThreads(const Config& cfg, unsigned cores) {
  if (cfg.workers) return cfg.workers;
  return cores > 2 ? cores - 1 : 1;
}

}  // namespace correio::config
