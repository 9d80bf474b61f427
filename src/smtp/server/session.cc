#include "smtp/server/session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <ctime>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include "auth/sasl.h"
#include "base/strings.h"
#include "mail/deliver.h"
#include "mail/recipient_cache.h"
#include "queue/dsn.h"
#include "smtp/proto/command.h"
#include "smtp/proto/data_reader.h"
#include "smtp/proto/reply.h"

namespace correio::smtp {

namespace {

namespace asio = boost::asio;

// The parser's NOTIFY bits go into queue::Recipient::notify unchanged.
static_assert(int{kNotifyNever} == int{queue::kNotifyNever} &&
              int{kNotifySuccess} == int{queue::kNotifySuccess} &&
              int{kNotifyFailure} == int{queue::kNotifyFailure} &&
              int{kNotifyDelay} == int{queue::kNotifyDelay});

// RFC 4954 §4: an AUTH exchange line may be up to 12288 octets.
constexpr size_t kMaxAuthLine = 12288;
// Replies to a pipelined group are sent together (RFC 2920 §3.2), but never
// more than this much is held back.
constexpr size_t kMaxHeldReplies = 4096;
constexpr size_t kMaxChunkRead = 64 * 1024;

const config::Config& DefaultConfig() {
  static const config::Config kConfig;
  return kConfig;
}

std::string NewId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kChars = "0123456789BCDFGHJKLMNPQRSTVWXZ";
  uint64_t v = rng();
  std::string out;
  for (int i = 0; i < 12; ++i) {
    out.push_back(kChars[v % 30]);
    v /= 30;
  }
  return out;
}

// RFC 5322 §3.3 date-time in UTC, independent of the locale.
std::string Rfc5322Date(std::time_t t) {
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed",
                                "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{}, {:02d} {} {:04d} {:02d}:{:02d}:{:02d} +0000",
                     kDays[tm.tm_wday], tm.tm_mday, kMonths[tm.tm_mon],
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

// What a client said in EHLO goes into our Received header as given (RFC
// 5321 §4.4), as Postfix does: every printable octet is kept, so
// "${jndi:x}" or "%s%n" reads back byte for byte. Replaced by '?': controls
// and space (they could fold or break the header), and the four octets that
// delimit Received's own syntax: "(" ")" (the comment after the name), ";"
// (the date) and the backslash (quoting).
std::string CleanHelo(std::string_view helo) {
  std::string out;
  for (unsigned char c : helo) {
    bool ok = (c > 0x20 && c < 0x7f &&
               std::string_view("();\\").find(static_cast<char>(c)) ==
                   std::string_view::npos) ||
              c >= 0x80;
    out.push_back(ok ? static_cast<char>(c) : '?');
  }
  return out;
}

// Relay attempts in disguise (the MX never relays): addresses that a naive
// or a later hop might route elsewhere than the domain we check.
// One AUTH client response (RFC 4954 §4); "=" is the empty initial response.
std::optional<std::string> DecodeSaslResponse(std::string_view text) {
  if (text.empty() || text == "=") return std::string();
  return Base64Decode(text);
}

// One line of an AUTH exchange, read by Session::ReadSaslAnswer.
struct SaslAnswer {
  bool closed = false;       // the session must end (read failed)
  std::optional<Reply> end;  // the exchange ends with this reply
  std::string data;          // decoded response
};

bool IsRelayDisguise(const Path& p) {
  return p.source_route || p.trailing_dot ||
         p.local.find_first_of("%!@") != std::string::npos;
}

bool HasQuota(const mail::Resolution& r) {
  return std::any_of(r.local.begin(), r.local.end(), [](const auto& a) {
    return a.quota_bytes || a.quota_messages;
  });
}

// mail::ResolveRecipient for RCPT (blocks: on the pool), kept in `cache`
// (may be null) under the directory version from before the lookup, so
// that a change committed during it makes the entry stale at once.
Result<mail::Resolution> ResolveRcpt(store::Store& store,
                                     mail::RecipientCache* cache,
                                     const std::string& address,
                                     bool postmaster) {
  uint64_t version = store.DirectoryVersion();
  std::string target = address;
  if (postmaster) {
    // RFC 5321 §4.1.1.3: "<Postmaster>" is postmaster of our first domain.
    auto domains = store.ListDomains();
    if (!domains) return Fail(domains.error());
    if (domains->empty()) return Fail(ErrorCode::kNotFound, "no domains");
    target = "postmaster@" + domains->front().name;
  }
  auto found = mail::ResolveRecipient(store, target);
  if (cache) cache->Remember(address, version, found);
  return found;
}

// kOverQuota (naming the account) if a local account of `r` has no room
// for `size` more octets or one more message (blocks: on the pool).
Status CheckQuotas(store::Store& store, const mail::Resolution& r,
                   uint64_t size) {
  for (const auto& account : r.local) {
    if (!account.quota_bytes && !account.quota_messages) continue;
    auto usage = store.GetQuotaUsage(account.id);
    if (!usage) return Fail(usage.error());
    if ((account.quota_bytes && (usage->bytes >= account.quota_bytes ||
                                 size > account.quota_bytes - usage->bytes)) ||
        (account.quota_messages && usage->messages >= account.quota_messages)) {
      return Fail(ErrorCode::kOverQuota, account.address);
    }
  }
  return {};
}

struct RcptEntry {
  std::string address;  // as the client gave it (canonical form)
  uint8_t notify = 0;
  std::string orcpt;
  std::vector<store::Account> local;
  std::vector<std::string> remote;  // alias targets or the address itself
  bool forwarded = false;           // remote came from an alias
};

// Lambdas handed to net::RunBlocking capture only pointers and references
// to locals of the suspended coroutine frame (which outlive the call): GCC
// 12 destroys a by-value capture of such a temporary twice (seen under ASan
// as a double free).
class Session {
 public:
  Session(std::shared_ptr<net::Connection> conn, mail::Env env,
          SessionOptions options)
      : conn_(std::move(conn)),
        env_(std::move(env)),
        options_(std::move(options)),
        config_(env_.config ? *env_.config : DefaultConfig()),
        origin_(env_.NextOrigin()) {}

  net::awaitable<void> Run();

 private:
  const config::Limits& limits() const { return config_.limits; }
  const std::string& host() const { return options_.hostname; }
  bool tls() const { return conn_->tls_active(); }
  bool AuthOffered() const {
    return options_.submission && (tls() || config_.auth.allow_plaintext);
  }

  void Reply(uint16_t code, std::string_view status, std::string_view text) {
    out_ += FormatReply(code, status, text);
  }
  void Reply(const smtp::Reply& r) { out_ += FormatReply(r); }
  net::awaitable<bool> Flush();
  // Counts a client error; past the limit queues 421 and says stop.
  bool CountBad();
  // Says goodbye after a failed read; always ends the session.
  net::awaitable<void> ReadFailed(const Error& error);
  net::awaitable<void> Wait(std::chrono::seconds delay);

  net::awaitable<bool> Dispatch(std::string line);
  bool OnHelo(std::string_view args, bool esmtp);
  net::awaitable<bool> OnMail(std::string_view args);
  net::awaitable<bool> OnRcpt(std::string_view args);
  net::awaitable<Result<mail::Resolution>> LookUpRecipient(
      const std::string& address, bool postmaster, uint64_t size);
  net::awaitable<bool> OnData();
  net::awaitable<bool> OnBdat(std::string_view args);
  net::awaitable<bool> OnStartTls();
  net::awaitable<bool> OnAuth(std::string_view args);
  net::awaitable<SaslAnswer> ReadSaslAnswer();
  // End of DATA or BDAT LAST: checks, trace headers, one store delivery
  // and one enqueue, then the reply. Always ends the transaction.
  net::awaitable<bool> FinishMessage(std::string message, bool bare_lf,
                                     bool bare_cr, bool too_big,
                                     bool line_too_long);
  // FinishMessage's store write when every recipient is local and no
  // success report is due: Return-Path in front, one delivery to each
  // account's INBOX, durable before it returns.
  net::awaitable<Status> DeliverLocally(std::string data,
                                        std::vector<store::AccountId> accounts,
                                        const std::string& return_path);
  std::string ReceivedHeader(std::string_view id) const;
  // STYLE 8: the one place store/queue errors become replies.
  smtp::Reply ErrorReply(const Error& error, std::string_view what) const;

  void ResetTransaction() {
    mail_.reset();
    rcpts_.clear();
    chunks_.reset();
  }

  std::shared_ptr<net::Connection> conn_;
  mail::Env env_;
  SessionOptions options_;
  const config::Config& config_;
  uint64_t origin_;
  std::string out_;  // replies not yet written
  uint32_t bad_ = 0;

  std::string helo_;  // empty: no EHLO/HELO yet
  bool esmtp_ = false;
  std::optional<store::Account> account_;
  std::optional<MailArgs> mail_;
  std::vector<RcptEntry> rcpts_;
  std::optional<ChunkAccumulator> chunks_;  // set: BDAT transfer under way
};

net::awaitable<bool> Session::Flush() {
  if (out_.empty()) co_return true;
  std::string data = std::move(out_);
  out_.clear();
  auto st = co_await conn_->Write(data);
  co_return st.has_value();
}

bool Session::CountBad() {
  if (++bad_ > options_.max_bad_commands) {
    Reply(421, "4.7.0", host() + " Too many errors, closing connection");
    return false;
  }
  return true;
}

net::awaitable<void> Session::ReadFailed(const Error& error) {
  if (conn_->stopping()) {
    Reply(421, "4.3.2", host() + " Service shutting down");
  } else if (conn_->timed_out()) {
    // The connection is closed already; nothing can be said.
    spdlog::info("smtp#{} timeout", conn_->id());
  } else if (error.code() != ErrorCode::kNotFound) {
    spdlog::info("smtp#{} read: {}", conn_->id(), error.message());
  }
  co_await Flush();
}

net::awaitable<void> Session::Wait(std::chrono::seconds delay) {
  if (delay.count() <= 0) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(delay);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

smtp::Reply Session::ErrorReply(const Error& error,
                                std::string_view what) const {
  switch (error.code()) {
    case ErrorCode::kOverQuota:
      return {452, "4.2.2", "Mailbox full"};
    case ErrorCode::kNoSpace:  // RFC 5321 452, RFC 3463 4.3.1
      spdlog::error("smtp#{} {}: {}", conn_->id(), what, error.ToString());
      return {452, "4.3.1", "Insufficient system storage, try again later"};
    case ErrorCode::kTooBig:
      return {552, "5.3.4", "Message too big"};
    default:
      spdlog::error("smtp#{} {}: {}", conn_->id(), what, error.ToString());
      return {451, "4.3.0", "Temporary failure, please try again later"};
  }
}

net::awaitable<void> Session::Run() {
  conn_->SetTimeout(std::chrono::seconds(options_.command_timeout_seconds));
  Reply(220, "", host() + " ESMTP correio");
  if (!co_await Flush()) co_return;
  for (;;) {
    if (conn_->stopping()) {
      Reply(421, "4.3.2", host() + " Service shutting down");
      co_await Flush();
      co_return;
    }
    auto line = co_await conn_->ReadLine(options_.max_line_length);
    if (!line) {
      if (line.error().code() != ErrorCode::kTooBig) {
        co_await ReadFailed(line.error());
        co_return;
      }
      // RFC 5321 §4.5.3.1.4: 512 octets at least; ours is configurable.
      Reply(500, "5.5.2", "Line too long");
      if (!CountBad()) {
        co_await Flush();
        co_return;
      }
    } else if (line->bare_lf) {
      // RFC 5321 §2.3.8: commands end with CRLF only.
      Reply(500, "5.5.2", "Bare LF not allowed in commands");
      if (!CountBad()) {
        co_await Flush();
        co_return;
      }
    } else if (!co_await Dispatch(std::string(line->text))) {
      co_await Flush();
      co_return;
    }
    if (conn_->buffered() == 0 || out_.size() > kMaxHeldReplies) {
      if (!co_await Flush()) co_return;
    }
  }
}

net::awaitable<bool> Session::Dispatch(std::string line) {
  auto parsed = ParseCommandLine(line);
  if (!parsed) {
    Reply(parsed.error());
    co_return CountBad();
  }
  const CommandSpec& spec = *parsed->spec;
  std::string_view args = parsed->args;
  // The table's flags (STYLE 5): handlers may assume them.
  if ((spec.flags & kNoArgs) && !args.empty()) {
    Reply(501, "5.5.4", "No parameters allowed for " + std::string(spec.name));
    co_return CountBad();
  }
  if (chunks_ && !(spec.flags & kDuringBdat)) {
    // RFC 3030 §2: between BDAT chunks only BDAT (and RSET/NOOP/QUIT).
    Reply(503, "5.5.1", "Bad sequence of commands: BDAT transfer in progress");
    co_return CountBad();
  }
  if ((spec.flags & kNeedHelo) && helo_.empty()) {
    Reply(503, "5.5.1", "Send EHLO or HELO first");
    co_return CountBad();
  }
  if ((spec.flags & kNeedEhlo) && !esmtp_) {
    Reply(503, "5.5.1", "Send EHLO first");
    co_return CountBad();
  }
  switch (spec.verb) {
    case Verb::kEhlo:
      co_return OnHelo(args, true);
    case Verb::kHelo:
      co_return OnHelo(args, false);
    case Verb::kMail:
      co_return co_await OnMail(args);
    case Verb::kRcpt:
      co_return co_await OnRcpt(args);
    case Verb::kData:
      co_return co_await OnData();
    case Verb::kBdat:
      co_return co_await OnBdat(args);
    case Verb::kRset:
      ResetTransaction();
      Reply(250, "2.0.0", "Ok");
      co_return true;
    case Verb::kNoop:
      Reply(250, "2.0.0", "Ok");
      co_return true;
    case Verb::kQuit:
      Reply(221, "2.0.0", host() + " Bye");
      co_return false;
    case Verb::kHelp: {
      std::string text = "Commands:";
      for (const auto& c : CommandTable()) {
        text += " ";
        text += c.name;
      }
      Reply(214, "2.0.0", text);
      co_return true;
    }
    case Verb::kVrfy:
      if (args.empty()) {
        Reply(501, "5.5.4", "Syntax: VRFY address");
        co_return CountBad();
      }
      // RFC 5321 §3.5.3: 252 when we will not say (no user enumeration).
      Reply(252, "2.5.0",
            "Cannot VRFY user, but will accept message and attempt delivery");
      co_return true;
    case Verb::kExpn:
      // RFC 5321 §3.5.2: EXPN may be disabled; lists are not disclosed.
      Reply(502, "5.5.1", "EXPN not available");
      co_return true;
    case Verb::kStartTls:
      co_return co_await OnStartTls();
    case Verb::kAuth:
      co_return co_await OnAuth(args);
  }
  co_return true;
}

bool Session::OnHelo(std::string_view args, bool esmtp) {
  auto name = ParseHelo(args);
  if (!name) {
    Reply(name.error());
    return CountBad();
  }
  // RFC 5321 §4.1.4: EHLO/HELO mid-transaction resets it.
  ResetTransaction();
  helo_ = std::move(*name);
  esmtp_ = esmtp;
  if (!esmtp) {
    Reply(250, "", host());
    return true;
  }
  // RFC 2034 §4: no enhanced code on the EHLO reply.
  std::vector<std::string> lines = {host()};
  lines.push_back("PIPELINING");
  lines.push_back(fmt::format("SIZE {}", limits().max_message_size));
  lines.push_back("8BITMIME");
  lines.push_back("SMTPUTF8");
  lines.push_back("ENHANCEDSTATUSCODES");
  lines.push_back("CHUNKING");
  lines.push_back("DSN");
  if (options_.offer_starttls && options_.tls && !tls()) {
    lines.push_back("STARTTLS");
  }
  if (AuthOffered()) {
    std::string mechs = "AUTH";
    for (const auto& m :
         auth::SaslMechanisms(tls(), config_.auth.allow_plaintext)) {
      mechs += " " + m;
    }
    lines.push_back(mechs);
  }
  // RFC 8689 §4.1: REQUIRETLS is offered only over TLS.
  if (tls()) lines.push_back("REQUIRETLS");
  out_ += FormatMultiline(250, "", lines);
  return true;
}

net::awaitable<bool> Session::OnMail(std::string_view args) {
  if (mail_) {
    Reply(503, "5.5.1", "Nested MAIL command");
    co_return CountBad();
  }
  if (options_.submission && !account_) {
    // RFC 4954 §6 / RFC 6409 §4.3: submission needs authentication.
    Reply(530, "5.7.0", "Authentication required");
    co_return CountBad();
  }
  auto m = ParseMail(args);
  if (!m) {
    Reply(m.error());
    co_return CountBad();
  }
  if (m->has_params && !esmtp_) {
    Reply(555, "5.5.4", "MAIL parameters need EHLO");
    co_return CountBad();
  }
  if (m->require_tls && !tls()) {
    Reply(530, "5.7.10", "REQUIRETLS needs an encrypted connection");
    co_return CountBad();
  }
  if (m->path.utf8 && !m->smtputf8) {
    // RFC 6531 §3.5.
    Reply(553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
    co_return CountBad();
  }
  if (m->size && *m->size > limits().max_message_size) {
    // RFC 1870 §6.1.
    Reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    co_return true;
  }
  if (options_.submission) {
    if (m->path.null) {
      Reply(553, "5.7.1", "Null sender not allowed on submission");
      co_return CountBad();
    }
    store::Store* store = env_.store;
    const store::Account& account = *account_;
    std::string address = m->path.address;
    auto owns =
        co_await net::RunBlocking(*env_.pool, [store, &account, &address] {
          return mail::OwnsAddress(*store, account, address);
        });
    if (!owns) {
      Reply(ErrorReply(owns.error(), "sender check"));
      co_return true;
    }
    if (!*owns) {
      Reply(553, "5.7.1", "Sender address not owned by you");
      co_return CountBad();
    }
  }
  mail_ = std::move(*m);
  Reply(250, "2.1.0", "Ok");
  co_return true;
}

// Where RCPT's address leads, and whether each local account has room for
// `size` more octets. A recipient looked up a moment ago is answered from
// options_.recipients on this thread (mail/recipient_cache.h); the store
// pool is asked for the rest, and for the usage of an account with a quota.
net::awaitable<Result<mail::Resolution>> Session::LookUpRecipient(
    const std::string& address, bool postmaster, uint64_t size) {
  store::Store* store = env_.store;
  // "<Postmaster>" is resolved against the domain list: not kept.
  mail::RecipientCache* cache = postmaster ? nullptr : options_.recipients;
  std::optional<Result<mail::Resolution>> known;
  if (cache) known = cache->Find(address, store->DirectoryVersion());
  if (known && (!*known || !HasQuota(**known))) co_return std::move(*known);
  // Resolution and quota in one trip to the pool.
  auto res = co_await net::RunBlocking(
      *env_.pool,
      [store, cache, &address, &known, size,
       postmaster]() -> Result<mail::Resolution> {
        auto found = known ? std::move(*known)
                           : ResolveRcpt(*store, cache, address, postmaster);
        if (!found) return found;
        if (auto full = CheckQuotas(*store, *found, size); !full) {
          return Fail(full.error());
        }
        return found;
      });
  co_return res;
}

net::awaitable<bool> Session::OnRcpt(std::string_view args) {
  if (!mail_) {
    Reply(503, "5.5.1", "Need MAIL command first");
    co_return CountBad();
  }
  auto r = ParseRcpt(args);
  if (!r) {
    Reply(r.error());
    co_return CountBad();
  }
  if (r->has_params && !esmtp_) {
    Reply(555, "5.5.4", "RCPT parameters need EHLO");
    co_return CountBad();
  }
  const Path& path = r->path;
  if (path.utf8 && !mail_->smtputf8) {
    Reply(553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
    co_return CountBad();
  }
  if (rcpts_.size() >= limits().max_recipients) {
    // RFC 5321 §4.5.3.1.10.
    Reply(452, "4.5.3", "Too many recipients");
    co_return true;
  }
  const bool authenticated = account_.has_value();
  if (!authenticated && IsRelayDisguise(path)) {
    Reply(554, "5.7.1", "Relay access denied");
    co_return CountBad();
  }
  std::string address = path.address;
  auto res = co_await LookUpRecipient(address, path.domain.empty(),
                                      mail_->size.value_or(0));
  RcptEntry entry;
  entry.address = address;
  entry.notify = r->notify;
  entry.orcpt = r->orcpt;
  if (!res) {
    switch (res.error().code()) {
      case ErrorCode::kPerm:
        // The domain is not ours.
        if (!authenticated) {
          Reply(554, "5.7.1", "Relay access denied");
          co_return CountBad();
        }
        entry.remote.push_back(address);
        break;
      case ErrorCode::kNotFound:
        Reply(550, "5.1.1", "Recipient address rejected: user unknown");
        co_return CountBad();
      case ErrorCode::kInvalid:
        Reply(501, "5.1.3", "Bad recipient address syntax");
        co_return CountBad();
      default:
        Reply(ErrorReply(res.error(), "recipient lookup"));
        co_return true;
    }
  } else {
    entry.local = std::move(res->local);
    entry.remote = std::move(res->remote);
    entry.forwarded = !entry.remote.empty();
  }
  if (!entry.remote.empty() && !options_.queue) {
    Reply(451, "4.3.0", "Cannot relay or forward now, try again later");
    co_return true;
  }
  rcpts_.push_back(std::move(entry));
  Reply(250, "2.1.5", "Ok");
  co_return true;
}

net::awaitable<bool> Session::OnData() {
  if (!mail_) {
    Reply(503, "5.5.1", "Need MAIL command first");
    co_return CountBad();
  }
  if (rcpts_.empty()) {
    // RFC 2920 §3.1 / RFC 5321 §3.3.
    Reply(554, "5.5.1", "No valid recipients");
    co_return CountBad();
  }
  Reply(354, "", "End data with <CR><LF>.<CR><LF>");
  if (!co_await Flush()) co_return false;
  conn_->SetTimeout(std::chrono::seconds(limits().data_timeout_seconds));
  const uint32_t max_line = std::max<uint32_t>(limits().max_line_length, 1000);
  DataReader reader(limits().max_message_size, max_line);
  // The octets go to the reader as they arrive, not line by line: it finds
  // CRLF.CRLF, bare LFs and CRs and overlong lines itself, and a 100 KB
  // message is a few reads, not 1,300 awaited lines. What follows the end
  // (pipelined commands) goes back to the connection.
  constexpr size_t kDataChunk = 64 * 1024;
  while (!reader.done()) {
    auto chunk = co_await conn_->ReadSome(kDataChunk);
    if (!chunk) {
      co_await ReadFailed(chunk.error());
      co_return false;
    }
    size_t used = reader.Feed(*chunk);
    if (reader.done()) conn_->Unread(chunk->size() - used);
  }
  conn_->SetTimeout(std::chrono::seconds(options_.command_timeout_seconds));
  co_return co_await FinishMessage(reader.TakeMessage(), reader.bare_lf(),
                                   reader.bare_cr(), reader.too_big(),
                                   reader.line_too_long());
}

net::awaitable<bool> Session::OnBdat(std::string_view args) {
  auto b = ParseBdat(args);
  if (!b) {
    // Without a size we cannot tell the chunk from the next command: stop
    // here rather than read message octets as commands.
    Reply(b.error());
    Reply(421, "4.5.0", host() + " Closing connection");
    co_return false;
  }
  // RFC 3030 §2: the chunk is always read, whatever the answer will be.
  const bool accept = mail_ && !rcpts_.empty();
  if (accept && !chunks_) chunks_.emplace(limits().max_message_size);
  conn_->SetTimeout(std::chrono::seconds(limits().data_timeout_seconds));
  uint64_t remaining = b->size;
  while (remaining > 0) {
    auto got = co_await conn_->ReadSome(
        static_cast<size_t>(std::min<uint64_t>(remaining, kMaxChunkRead)));
    if (!got) {
      co_await ReadFailed(got.error());
      co_return false;
    }
    if (accept) chunks_->Feed(*got);
    remaining -= got->size();
  }
  conn_->SetTimeout(std::chrono::seconds(options_.command_timeout_seconds));
  if (!mail_) {
    Reply(503, "5.5.1", "Need MAIL command first");
    co_return CountBad();
  }
  if (rcpts_.empty()) {
    Reply(554, "5.5.1", "No valid recipients");
    ResetTransaction();
    co_return CountBad();
  }
  if (chunks_->too_big()) {
    Reply(552, "5.3.4", "Message too big");
    ResetTransaction();
    co_return true;
  }
  if (!b->last) {
    Reply(250, "2.0.0", fmt::format("{} octets received", b->size));
    co_return true;
  }
  chunks_->Finish();
  bool bare_lf = chunks_->bare_lf(), bare_cr = chunks_->bare_cr();
  std::string message = chunks_->TakeMessage();
  co_return co_await FinishMessage(std::move(message), bare_lf, bare_cr, false,
                                   false);
}

std::string Session::ReceivedHeader(std::string_view id) const {
  // RFC 5321 §4.4 trace; RFC 3848 / RFC 6531 §3.7.3 protocol types.
  std::string with = mail_->smtputf8 ? "UTF8SMTP" : esmtp_ ? "ESMTP" : "SMTP";
  if (esmtp_ && tls()) with += "S";
  if (esmtp_ && account_) with += "A";
  std::string h =
      fmt::format("Received: from {} ([{}])\r\n\tby {} with {} id {}",
                  CleanHelo(helo_), conn_->remote_ip(), host(), with, id);
  if (tls()) h += fmt::format("\r\n\t({})", conn_->tls_description());
  // "for" only with one recipient, so Bcc recipients stay private.
  if (rcpts_.size() == 1) h += fmt::format("\r\n\tfor <{}>", rcpts_[0].address);
  h += fmt::format(";\r\n\t{}\r\n", Rfc5322Date(std::time(nullptr)));
  return h;
}

net::awaitable<bool> Session::FinishMessage(std::string message, bool bare_lf,
                                            bool bare_cr, bool too_big,
                                            bool line_too_long) {
  // RFC 5321 §4.1.1.4: whatever the outcome, the transaction is over.
  struct Reset {
    Session* s;
    ~Reset() { s->ResetTransaction(); }
  } reset{this};
  if (bare_lf || bare_cr) {
    // SMTP smuggling defence, as Postfix smtpd_forbid_bare_newline=reject.
    Reply(554, "5.6.11", "Bare CR or LF not allowed; use CRLF line ends");
    co_return true;
  }
  if (too_big) {
    Reply(552, "5.3.4", "Message too big");
    co_return true;
  }
  if (line_too_long) {
    // RFC 5321 §4.5.3.1.10.
    Reply(500, "5.5.2", "Line too long");
    co_return true;
  }
  HeaderInfo header = ScanHeader(message);
  if (header.received > limits().max_received_headers) {
    // RFC 5321 §6.3: a loop.
    Reply(554, "5.4.6", "Too many hops, mail loop?");
    co_return true;
  }
  const std::string id = NewId();
  std::string trace = ReceivedHeader(id);
  if (options_.submission) {
    // RFC 6409 §8.2/§8.3: the submission server may add what is missing.
    if (!header.has_date) {
      trace += "Date: " + Rfc5322Date(std::time(nullptr)) + "\r\n";
    }
    if (!header.has_message_id) {
      trace += fmt::format("Message-ID: <{}.{}@{}>\r\n", id, NewId(), host());
    }
  }
  // In place (the reader's buffer has growth slack): `trace + message`
  // held the message twice, and a 50 MB message cost 165 MB at its peak.
  message.insert(0, trace);
  std::string data = std::move(message);
  if (data.size() > limits().max_message_size + 64 * 1024) {
    Reply(552, "5.3.4", "Message too big");
    co_return true;
  }

  // Local accounts (each once) and remote recipients (each once).
  std::vector<store::AccountId> accounts;
  std::set<store::AccountId> seen_accounts;
  queue::Envelope envelope;
  // Recipients that asked NOTIFY=SUCCESS and get their report from us:
  // local mailboxes ("delivered"), aliases fanning out ("expanded"; their
  // forwarded copies then ask for no second one). A single forward passes
  // the NOTIFY on instead (queue::SuccessAction).
  queue::Envelope delivered_report, expanded_report;
  std::set<std::string> seen_remote;
  for (const auto& rcpt : rcpts_) {
    for (const auto& a : rcpt.local) {
      if (seen_accounts.insert(a.id).second) accounts.push_back(a.id);
    }
    std::string_view success =
        queue::SuccessAction(rcpt.local.size(), rcpt.remote.size());
    bool wants = (rcpt.notify & kNotifySuccess) && !(rcpt.notify & kNotifyNever);
    if (wants && success == "delivered") {
      delivered_report.recipients.push_back(
          {rcpt.address, rcpt.notify, rcpt.orcpt});
    } else if (wants && success == "expanded") {
      expanded_report.recipients.push_back(
          {rcpt.address, rcpt.notify, rcpt.orcpt});
    }
    for (const auto& target : rcpt.remote) {
      if (!seen_remote.insert(AsciiLowercase(target)).second) continue;
      envelope.recipients.push_back(
          rcpt.forwarded
              ? queue::ForwardedRecipient(target, rcpt.notify, rcpt.orcpt,
                                          rcpt.address, rcpt.local.size(),
                                          rcpt.remote.size())
              : queue::Recipient{target, rcpt.notify, rcpt.orcpt});
    }
  }
  const MailArgs& mail = *mail_;
  envelope.mail_from = mail.path.null ? "" : mail.path.address;
  envelope.envid = mail.envid;
  envelope.ret = mail.ret == Ret::kFull      ? queue::Ret::kFull
                 : mail.ret == Ret::kHeaders ? queue::Ret::kHeaders
                                             : queue::Ret::kDefault;
  envelope.smtputf8 = mail.smtputf8;
  envelope.eight_bit = mail.body == Body::k8BitMime;
  envelope.require_tls = mail.require_tls;
  envelope.authenticated_user = account_ ? account_->address : "";
  envelope.client_ip = conn_->remote_ip();
  // The success reports return the header only (queue/dsn.h): keep that
  // much (bounded), as the message itself may be moved into the store.
  std::string report_header;
  if (envelope.mail_from.empty()) {
    delivered_report.recipients.clear();
    expanded_report.recipients.clear();
  }
  for (auto* r : {&delivered_report, &expanded_report}) {
    r->mail_from = envelope.mail_from;
    r->envid = envelope.envid;
    r->smtputf8 = envelope.smtputf8;
  }
  if (!delivered_report.recipients.empty() ||
      !expanded_report.recipients.empty()) {
    constexpr size_t kMaxReportHeader = 256 * 1024;
    report_header = queue::HeaderBlock(data).substr(0, kMaxReportHeader);
  }

  store::Store* store = env_.store;
  queue::Queue* queue = options_.queue;
  uint64_t origin = origin_;
  std::string return_path = mail::ReturnPathHeader(envelope.mail_from);
  // One parse, one blob, one transaction for every local recipient; then
  // one enqueue for the remote ones. 250 only after both are durable.
  const uint64_t size = data.size();
  Status done;
  if (envelope.recipients.empty() && delivered_report.recipients.empty() &&
      expanded_report.recipients.empty()) {
    done = co_await DeliverLocally(std::move(data), std::move(accounts),
                                   return_path);
  } else {
    done = co_await net::RunBlocking(
        *env_.pool,
        [&data, &accounts, &envelope, &return_path, &delivered_report,
         &expanded_report, &report_header, store, queue, origin]() -> Status {
          if (!accounts.empty()) {
            // The blob takes the message itself when nothing else needs it:
            // Return-Path goes in front in place (the reader's slack), so a
            // large message is not held twice.
            std::string local = envelope.recipients.empty() ? std::move(data)
                                                            : std::string(data);
            local.insert(0, return_path);
            auto blob = mail::PrepareBlob(std::move(local));
            if (!blob) return Fail(blob.error());
            auto delivered = mail::DeliverToInboxes(*store, *blob, accounts,
                                                    std::time(nullptr), origin);
            if (!delivered) return Fail(delivered.error());
          }
          if (!envelope.recipients.empty()) {
            if (!queue) return Fail(ErrorCode::kTemp, "no outbound queue");
            auto queued = queue->Enqueue(envelope, data);
            if (!queued) return Fail(queued.error());
          }
          // Last, once nothing can turn the 250 into a 4xx (a retry would
          // report twice); a failure here is logged, not answered.
          if (queue) {
            for (auto [r, action] : {std::pair{&delivered_report, "delivered"},
                                     std::pair{&expanded_report, "expanded"}}) {
              if (r->recipients.empty()) continue;
              if (auto st = queue->ReportDelivered(*r, report_header, action);
                  !st) {
                spdlog::error("smtp: success report for <{}>: {}", r->mail_from,
                              st.error().ToString());
              }
            }
          }
          return {};
        });
  }
  if (!done) {
    Reply(ErrorReply(done.error(), "delivery"));
    co_return true;
  }
  spdlog::info(
      "smtp#{} accepted {} from=<{}> rcpts={} local={} remote={} "
      "size={}{}",
      conn_->id(), id, envelope.mail_from, rcpts_.size(), accounts.size(),
      envelope.recipients.size(), size,
      account_ ? " user=" + account_->address : "");
  Reply(250, "2.0.0", "Ok: queued as " + id);
  co_return true;
}

net::awaitable<Status> Session::DeliverLocally(
    std::string data, std::vector<store::AccountId> accounts,
    const std::string& return_path) {
  // The common case (local recipients only, no success report) needs no
  // pool thread to wait for the commit: the store's writer reports to this
  // session's executor directly (bench/README.md: each thread hand-off
  // costs more than the SQL of a small message).
  data.insert(0, return_path);
  store::Store* store = env_.store;
  uint64_t origin = origin_;
  auto deliver = [&data, &accounts, store,
                  origin](std::function<void(Status)> report) {
    auto blob = mail::PrepareBlob(std::move(data));
    if (!blob) return report(Fail(blob.error()));
    store->DeliverToInboxesAsync(std::move(*blob), std::move(accounts),
                                 std::time(nullptr), origin,
                                 std::move(report));
  };
  // Parsing holds up this thread's other sessions for as long as it takes:
  // only small messages are parsed here, bigger ones on the pool.
  constexpr size_t kParseHere = 256 * 1024;
  if (data.size() <= kParseHere) {
    co_return co_await net::AwaitCallback<Status>(deliver);
  }
  auto on_pool = [&deliver, pool = env_.pool](
                     std::function<void(Status)> report) {
    net::PostBlocking(*pool, [&deliver, report = std::move(report)] {
      deliver(report);
    });
  };
  co_return co_await net::AwaitCallback<Status>(on_pool);
}

net::awaitable<bool> Session::OnStartTls() {
  if (!options_.offer_starttls || !options_.tls) {
    Reply(502, "5.5.1", "STARTTLS not available");
    co_return CountBad();
  }
  if (tls()) {
    Reply(503, "5.5.1", "TLS already active");
    co_return CountBad();
  }
  Reply(220, "2.0.0", "Ready to start TLS");
  if (!co_await Flush()) co_return false;
  // StartTls discards every plaintext octet pipelined behind the command
  // (RFC 3207 §6; STYLE 17).
  auto st = co_await conn_->StartTls(options_.tls->Current());
  if (!st) {
    spdlog::info("smtp#{} {}", conn_->id(), st.error().message());
    co_return false;
  }
  // RFC 3207 §4.2: forget everything learned before TLS; a new EHLO is
  // required.
  helo_.clear();
  esmtp_ = false;
  account_.reset();
  ResetTransaction();
  co_return true;
}

net::awaitable<bool> Session::OnAuth(std::string_view args) {
  if (!options_.submission) {
    Reply(502, "5.5.1", "AUTH not available on this port");
    co_return CountBad();
  }
  if (account_) {
    Reply(503, "5.5.1", "Already authenticated");
    co_return CountBad();
  }
  if (mail_) {
    Reply(503, "5.5.1", "AUTH not allowed during a mail transaction");
    co_return CountBad();
  }
  if (!AuthOffered()) {
    Reply(530, "5.7.0", "Must issue a STARTTLS command first");
    co_return CountBad();
  }
  auto a = ParseAuth(args);
  if (!a) {
    Reply(a.error());
    co_return CountBad();
  }
  auto mechs = auth::SaslMechanisms(tls(), config_.auth.allow_plaintext);
  if (std::find(mechs.begin(), mechs.end(), a->mechanism) == mechs.end()) {
    Reply(504, "5.5.4", "Unrecognized authentication type");
    co_return CountBad();
  }
  std::optional<std::string> response;
  if (a->initial) {
    response = DecodeSaslResponse(*a->initial);
    if (!response) {
      Reply(501, "5.5.2", "Invalid base64 data");
      co_return CountBad();
    }
  }
  auth::Authenticator* authenticator = env_.auth;
  std::string ip = conn_->remote_ip();
  std::string mechanism = a->mechanism;
  auto sasl =
      co_await net::RunBlocking(*env_.pool, [authenticator, &ip, &mechanism] {
        return authenticator->NewSasl(ip, mechanism);
      });
  if (!sasl) {
    if (sasl.error().code() == ErrorCode::kNotFound) {
      Reply(504, "5.5.4", "Unrecognized authentication type");
      co_return CountBad();
    }
    Reply(454, "4.7.0", "Temporary authentication failure");
    co_return true;
  }
  auth::SaslServer* server = sasl->get();
  for (;;) {
    // The first Step carries the initial response if there was one
    // (nullopt otherwise); later Steps always carry a response.
    std::optional<std::string> in = std::move(response);
    response.reset();
    auto step = co_await net::RunBlocking(env_.AuthPool(), [server, &in] {
      std::optional<std::string_view> view;
      if (in) view = *in;
      return server->Step(view);
    });
    if (step.state == auth::SaslStep::kChallenge) {
      Reply(334, "", Base64Encode(step.challenge));
      if (!co_await Flush()) co_return false;
      auto ans = co_await ReadSaslAnswer();
      if (ans.closed) co_return false;
      if (ans.end) {
        Reply(*ans.end);
        co_return CountBad();
      }
      response = std::move(ans.data);
      continue;
    }
    if (step.state == auth::SaslStep::kSuccess) {
      if (step.final_data) {
        // RFC 4954 §4: additional data in a 334, answered with an empty
        // line.
        Reply(334, "", Base64Encode(*step.final_data));
        if (!co_await Flush()) co_return false;
        auto ans = co_await ReadSaslAnswer();
        if (ans.closed) co_return false;
        if (ans.end || !ans.data.empty()) {
          Reply(ans.end ? *ans.end
                        : smtp::Reply{501, "5.5.2", "Expected an empty line"});
          co_return CountBad();
        }
      }
      co_await Wait(step.delay);
      account_ = step.account;
      spdlog::info("smtp#{} authenticated {} ({})", conn_->id(),
                   step.account.address, mechanism);
      Reply(235, "2.7.0", "Authentication successful");
      co_return true;
    }
    co_await Wait(step.delay);
    spdlog::info("smtp#{} AUTH {} failed from {}: {}", conn_->id(), mechanism,
                 ip, step.reason);
    switch (step.error) {
      case ErrorCode::kPerm:
        Reply(535, "5.7.8", "Authentication credentials invalid");
        break;
      case ErrorCode::kInvalid:
        Reply(501, "5.5.2", "Malformed authentication exchange");
        break;
      default:
        Reply(454, "4.7.0", "Temporary authentication failure");
        break;
    }
    co_return CountBad();
  }
}

net::awaitable<SaslAnswer> Session::ReadSaslAnswer() {
  SaslAnswer ans;
  auto line = co_await conn_->ReadLine(kMaxAuthLine);
  if (!line) {
    if (line.error().code() == ErrorCode::kTooBig) {
      ans.end = smtp::Reply{500, "5.5.6", "Authentication line too long"};
      co_return ans;
    }
    co_await ReadFailed(line.error());
    ans.closed = true;
    co_return ans;
  }
  if (line->text == "*") {
    // RFC 4954 §4: the client cancelled.
    ans.end = smtp::Reply{501, "5.0.0", "Authentication cancelled"};
    co_return ans;
  }
  auto data = DecodeSaslResponse(line->text);
  if (!data) {
    ans.end = smtp::Reply{501, "5.5.2", "Invalid base64 data"};
    co_return ans;
  }
  ans.data = std::move(*data);
  co_return ans;
}

}  // namespace

net::awaitable<void> RunSession(std::shared_ptr<net::Connection> conn,
                                mail::Env env, SessionOptions options) {
  Session session(std::move(conn), std::move(env), std::move(options));
  co_await session.Run();
}

}  // namespace correio::smtp
