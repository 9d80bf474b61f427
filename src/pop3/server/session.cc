#include "pop3/server/session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <chrono>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <utility>

#include "auth/sasl.h"
#include "base/strings.h"
#include "pop3/proto/command.h"
#include "pop3/proto/reply.h"
#include "pop3/server/maildrop.h"

namespace correio::pop3 {
namespace {

using proto::Command;
using proto::Err;
using proto::Ok;
using proto::RespCode;
using proto::Verb;

constexpr size_t kReadChunk = 4096;
// RETR/TOP read the body in pieces of this size (STYLE: never load a 20 MB
// message whole).
constexpr uint64_t kBlobChunk = 256 * 1024;

// The start of a message for RETR/TOP: its blob and first chunk.
struct FirstChunk {
  store::BlobId blob = 0;
  std::string data;
};

// The row is read again: an IMAP session may have expunged the message
// since the maildrop snapshot, and then there is nothing to send.
Result<FirstChunk> ReadFirstChunk(store::Store* store, store::MailboxId inbox,
                                  store::Uid uid) {
  auto rows = store->GetMessages(inbox, {{uid, uid}});
  if (!rows) return Fail(rows.error());
  if (rows->empty()) return Fail(ErrorCode::kNotFound, "expunged");
  auto data = store->ReadBlob(rows->front().blob, 0, kBlobChunk);
  if (!data) return Fail(data.error());
  return FirstChunk{rows->front().blob, std::move(*data)};
}

// Read-ahead: clients download in order (RETR n, DELE n, RETR n+1), so
// after RETR n the first chunks of the next few messages are read on the
// pool while the client is busy; RETR n+1 then finds its chunk ready
// instead of waiting for a store round trip (two thread hops). One pool
// job reads up to kAheadMessages messages (kAheadBytes, at least one),
// each published as soon as it is read, so the pool wakes once per batch
// rather than once per message (pool CPU per MB of a 100 MB download:
// 1.9-2.4 -> 0.7-1.7 ms). The session takes a chunk when it is there; if
// it is not there yet, the session reads on its own.
constexpr size_t kAheadMessages = 8;
constexpr uint64_t kAheadBytes = 512 * 1024;
struct ReadAhead {
  std::vector<store::Uid> uids;  // the batch, in order; set before the job
  std::mutex mu;                 // guards results
  std::vector<std::optional<Result<FirstChunk>>> results;  // by uids index

  // Where `uid` is in the batch, if it is.
  std::optional<size_t> IndexOf(store::Uid uid) const {
    auto it = std::find(uids.begin(), uids.end(), uid);
    if (it == uids.end()) return std::nullopt;
    return static_cast<size_t>(it - uids.begin());
  }
};
// LIST/UIDL of a large maildrop are sent in pieces of about this size.
constexpr size_t kListFlush = 64 * 1024;

enum class State : uint8_t { kAuthorization, kTransaction };

// RFC 1939 §7: a greeting timestamp unique to this greeting, in the
// msg-id form "<random.time@host>".
std::string ApopTimestamp(const std::string& hostname) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return fmt::format("<{:016x}.{}@{}>", rng(), now, hostname);
}
enum class Context : uint8_t { kLogin, kMaildrop };

// STYLE 8: the one place an Error becomes a POP3 reply. Error messages
// stay in the log; clients get a fixed text and the RFC 2449/3206 code
// that tells them whether to retry (SYS/TEMP), give up (SYS/PERM), fix the
// credentials (AUTH) or wait for the other session (IN-USE).
std::string ErrorReply(const Error& error, Context context) {
  switch (error.code()) {
    case ErrorCode::kInUse:
      return Err(RespCode::kInUse,
                 "Maildrop is in use by another POP3 session");
    case ErrorCode::kTemp:
      return Err(RespCode::kSysTemp, context == Context::kLogin
                                         ? "Login refused for now, try later"
                                         : "Temporary failure, try later");
    case ErrorCode::kNoSpace:
      return Err(RespCode::kSysTemp, "Server storage full, try later");
    case ErrorCode::kPerm:
    case ErrorCode::kInvalid:
      if (context == Context::kLogin) {
        return Err(RespCode::kAuth, "Authentication failed");
      }
      return Err(RespCode::kSysPerm, "Operation refused");
    case ErrorCode::kNotFound:
      if (context == Context::kLogin) {
        return Err(RespCode::kAuth, "Authentication failed");
      }
      return Err(RespCode::kNone,
                 "No such message: removed by another session");
    case ErrorCode::kOverQuota:
      return Err(RespCode::kSysPerm, "Over quota");
    case ErrorCode::kExists:
    case ErrorCode::kTooBig:
    case ErrorCode::kInternal:
      break;
  }
  return Err(RespCode::kSysTemp, "Internal error, try later");
}

struct Loaded {
  store::Mailbox inbox;
  std::vector<MaildropMessage> messages;
};

// Blocking: the INBOX snapshot of a new TRANSACTION state.
Result<Loaded> LoadMaildrop(store::Store& store, store::AccountId account,
                            bool download_once, std::optional<int64_t> since) {
  auto inbox = store.GetMailbox(account, "INBOX");
  if (!inbox) return Fail(inbox.error());
  auto rows = store.GetMessages(inbox->id,
                                {{1, std::numeric_limits<store::Uid>::max()}});
  if (!rows) return Fail(rows.error());
  std::vector<store::Uid> downloaded;
  if (download_once && !since) {
    auto marks = store.Pop3Downloaded(inbox->id);
    if (!marks) return Fail(marks.error());
    downloaded = std::move(*marks);
  }
  return Loaded{std::move(*inbox),
                SelectMessages(std::move(*rows), downloaded, since)};
}

// Blocking: the mailbox DELE means in archive mode.
Result<store::MailboxId> ArchiveMailbox(store::Store& store,
                                        store::AccountId account) {
  auto boxes = store.ListMailboxes(account);
  if (!boxes) return Fail(boxes.error());
  for (const auto& box : *boxes) {
    if (box.special_use == store::SpecialUse::kArchive) return box.id;
  }
  auto named = store.GetMailbox(account, "Archive");
  if (named) return named->id;
  if (named.error().code() != ErrorCode::kNotFound) return Fail(named.error());
  auto made =
      store.CreateMailbox(account, "Archive", store::SpecialUse::kArchive);
  if (!made) return Fail(made.error());
  return made->id;
}

// Blocking: the UPDATE state (RFC 1939 §6). The deletions are one store
// call, so they happen all or not at all.
Status ApplyUpdate(store::Store& store, store::AccountId account,
                   store::MailboxId inbox, DeleteMode mode,
                   const store::UidSet& deleted,
                   const store::UidSet& downloaded, uint64_t origin) {
  // First the download_once marks: they follow a MOVE but go away with an
  // expunge, and are harmless if the deletion below then fails.
  if (!downloaded.empty()) {
    if (auto st = store.MarkPop3Downloaded(inbox, downloaded); !st) {
      return Fail(st.error());
    }
  }
  if (deleted.empty()) return {};
  switch (mode) {
    case DeleteMode::kDelete: {
      auto r = store.Expunge(inbox, deleted, origin);
      if (!r) return Fail(r.error());
      return {};
    }
    case DeleteMode::kKeepSeen: {
      store::FlagUpdate update;
      update.op = store::FlagOp::kAdd;
      update.flags.system = store::kFlagSeen;
      auto r = store.UpdateFlags(inbox, deleted, update, origin);
      if (!r) return Fail(r.error());
      return {};
    }
    case DeleteMode::kArchive: {
      auto archive = ArchiveMailbox(store, account);
      if (!archive) return Fail(archive.error());
      auto r = store.Move(inbox, deleted, *archive, origin);
      if (!r) return Fail(r.error());
      return {};
    }
  }
  return {};
}

// \Seen after RETR (pop3.mark_seen_on_retr) is written in the background:
// one store call for whatever RETRs accumulated meanwhile, so a RETR never
// waits for a commit and its fsync (a download of 700 small messages spent
// most of its time there). Each call first lets RETRs gather for
// kSeenGather: back to back, the calls were one commit (and fsync) per
// millisecond of a fast download, a third of the server's CPU (bench/
// README.md); IMAP sees \Seen that much later. The session waits for the
// writer (cutting the gathering short) before UPDATE and before it ends.
constexpr auto kSeenGather = std::chrono::milliseconds(25);

struct SeenWriter {
  std::vector<store::Uid> pending;
  bool running = false;  // a WriteSeen coroutine is on its way
  bool flush = false;    // DrainSeen: write what there is now
  std::optional<boost::asio::steady_timer> gather;  // while gathering
};

net::awaitable<void> WriteSeen(std::shared_ptr<SeenWriter> writer,
                               store::Store* store, net::BlockingPool* pool,
                               store::MailboxId inbox, uint64_t origin,
                               uint64_t conn_id) {
  // Cleared however this ends (an exception ends a detached coroutine
  // too): DrainSeen must never wait for a writer that is gone.
  struct Done {
    SeenWriter* w;
    ~Done() { w->running = false; }
  } done{writer.get()};
  while (!writer->pending.empty()) {
    if (!writer->flush) {
      writer->gather.emplace(co_await boost::asio::this_coro::executor,
                             kSeenGather);
      co_await writer->gather->async_wait(
          boost::asio::as_tuple(boost::asio::use_awaitable));
      writer->gather.reset();
    }
    std::vector<store::Uid> uids = std::move(writer->pending);
    writer->pending.clear();
    std::sort(uids.begin(), uids.end());
    store::UidSet set = ToUidSet(uids);
    store::FlagUpdate update;
    update.op = store::FlagOp::kAdd;
    update.flags.system = store::kFlagSeen;
    auto set_seen = [store, inbox, set, update, origin] {
      return store->UpdateFlags(inbox, set, update, origin);
    };
    auto st = co_await net::RunBlocking(*pool, set_seen);
    if (!st) {
      spdlog::warn("pop3#{} setting \\Seen on {} messages failed: {}",
                   conn_id, uids.size(), st.error().ToString());
    }
  }
}

class Session {
 public:
  Session(std::shared_ptr<net::Connection> conn, mail::Env env,
          SessionOptions options)
      : conn_(std::move(conn)),
        env_(std::move(env)),
        options_(std::move(options)),
        reader_(std::max<size_t>(env_.config->limits.max_line_length, 512)),
        origin_(env_.NextOrigin()) {}

  net::awaitable<void> Run();

 private:
  // Callers pass a named lambda: GCC 12 miscompiles a lambda temporary
  // with non-trivial captures inside a co_await expression (bad free of a
  // captured std::string, seen under ASan).
  template <class F>
  auto Blocking(F f) {
    return net::RunBlocking(*env_.pool, f);  // copied into the operation
  }
  net::awaitable<bool> Send(std::string_view text) {
    auto st = co_await conn_->Write(text);
    co_return st.has_value();
  }
  // Sends an -ERR for a client mistake and counts it; false (after a last
  // -ERR) when the client made too many.
  net::awaitable<bool> Reject(std::string reply);
  net::awaitable<Result<std::string>> ReadLine();
  net::awaitable<void> Wait(std::chrono::seconds delay);
  // Returns once no \Seen write of this session is on its way.
  net::awaitable<void> DrainSeen();

  bool LoginAllowed() const {
    // RFC 2595 §2 / issue: no password over plaintext unless configured.
    return conn_->tls_active() || env_.config->auth.allow_plaintext;
  }
  bool CanStls() const {
    return options_.offer_stls && options_.tls && !conn_->tls_active();
  }

  net::awaitable<bool> Dispatch(const Command& cmd);
  net::awaitable<bool> Capa();
  net::awaitable<bool> User(const Command& cmd);
  net::awaitable<bool> Pass(const Command& cmd);
  net::awaitable<bool> Apop(const Command& cmd);
  net::awaitable<bool> Auth(const Command& cmd);
  net::awaitable<bool> Stls();
  net::awaitable<bool> Quit();
  net::awaitable<bool> List(const Command& cmd, bool uidl);
  net::awaitable<bool> SendMessage(uint32_t number,
                                   std::optional<uint64_t> top_lines);
  net::awaitable<bool> Dele(const Command& cmd);
  net::awaitable<bool> CompleteLogin(Result<store::Account> account,
                                     std::chrono::seconds delay);
  // The message a number names, or nullptr after answering -ERR (or false
  // in *alive when the session must end).
  net::awaitable<MaildropMessage*> Lookup(uint32_t number, bool* alive);

  std::shared_ptr<net::Connection> conn_;
  mail::Env env_;
  SessionOptions options_;
  proto::LineReader reader_;
  uint64_t origin_;
  State state_ = State::kAuthorization;
  uint32_t bad_commands_ = 0;
  std::optional<std::string> pending_user_;  // after USER, until PASS
  bool recent_ = false;                      // USER recent:ADDRESS
  std::string apop_timestamp_;  // in the greeting when pop3.apop is on
  // TRANSACTION state.
  store::Account account_;
  Pop3Policy policy_;
  Maildrop drop_;
  MaildropLock lock_;
  std::shared_ptr<SeenWriter> seen_ = std::make_shared<SeenWriter>();
  std::shared_ptr<ReadAhead> read_ahead_;  // the next RETRs' first chunks
  void StartReadAhead(uint32_t after);
};

net::awaitable<void> Session::DrainSeen() {
  seen_->flush = true;
  if (seen_->gather) seen_->gather->cancel();
  while (seen_->running) {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                    std::chrono::milliseconds(1));
    co_await timer.async_wait(
        boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  seen_->flush = false;
}

net::awaitable<bool> Session::Reject(std::string reply) {
  if (++bad_commands_ > options_.max_bad_commands) {
    co_await Send(Err(RespCode::kNone, "Too many errors, closing connection"));
    co_return false;
  }
  co_return co_await Send(reply);
}

net::awaitable<Result<std::string>> Session::ReadLine() {
  // The whole line within the autologout time, however it trickles in.
  net::Connection::CommandDeadline deadline(*conn_);
  for (;;) {
    proto::LineReader::Next next = reader_.Pop();
    if (next.status == proto::LineReader::Status::kLine) {
      co_return std::move(next.line);
    }
    if (next.status == proto::LineReader::Status::kTooLong) {
      co_return Fail(ErrorCode::kTooBig, "line too long");
    }
    auto data = co_await conn_->ReadSome(kReadChunk);
    if (!data) co_return Fail(data.error());
    reader_.Feed(*data);
  }
}

net::awaitable<void> Session::Wait(std::chrono::seconds delay) {
  if (delay.count() <= 0) co_return;
  // Login throttling waits without holding a thread (STYLE 13).
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                  delay);
  co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

net::awaitable<void> Session::Run() {
  conn_->SetTimeout(std::chrono::seconds(options_.command_timeout_seconds));
  // RFC 1939 §4; the APOP timestamp (§7) only when APOP is on.
  std::string greeting = options_.hostname + " correio POP3 server ready";
  if (env_.config->pop3.apop) {
    apop_timestamp_ = ApopTimestamp(options_.hostname);
    greeting += " " + apop_timestamp_;
  }
  if (!co_await Send(Ok(greeting))) co_return;
  for (;;) {
    auto line = co_await ReadLine();
    if (!line) {
      if (line.error().code() == ErrorCode::kTooBig) {
        if (!co_await Reject(Err(RespCode::kNone, "Line too long"))) break;
        continue;
      }
      if (conn_->stopping()) {
        co_await Send(Err(RespCode::kSysTemp, "Server shutting down"));
      } else if (conn_->timed_out()) {
        // RFC 1939 §3 autologout: close without entering UPDATE.
        spdlog::info("pop3#{} autologout after idle timeout", conn_->id());
      }
      break;
    }
    auto cmd = proto::ParseCommand(*line);
    if (!cmd) {
      if (!co_await Reject(Err(RespCode::kNone, cmd.error().message()))) {
        break;
      }
      continue;
    }
    if (!co_await Dispatch(*cmd)) break;
  }
  co_await DrainSeen();
  conn_->Close();
}

net::awaitable<bool> Session::Dispatch(const Command& cmd) {
  const proto::CommandSpec& spec = proto::SpecOf(cmd.verb);
  uint8_t state_bit = state_ == State::kAuthorization ? proto::kAuthorization
                                                      : proto::kTransaction;
  if ((spec.states & state_bit) == 0) {
    co_return co_await Reject(
        Err(RespCode::kNone, "Command not valid in this state"));
  }
  switch (cmd.verb) {
    case Verb::kCapa:
      co_return co_await Capa();
    case Verb::kUser:
      co_return co_await User(cmd);
    case Verb::kPass:
      co_return co_await Pass(cmd);
    case Verb::kApop:
      co_return co_await Apop(cmd);
    case Verb::kAuth:
      co_return co_await Auth(cmd);
    case Verb::kStls:
      co_return co_await Stls();
    case Verb::kQuit:
      co_return co_await Quit();
    case Verb::kStat:
      co_return co_await Send(Ok(std::to_string(drop_.Count()) + " " +
                                 std::to_string(drop_.Octets())));
    case Verb::kList:
      co_return co_await List(cmd, false);
    case Verb::kUidl:
      co_return co_await List(cmd, true);
    case Verb::kRetr:
      co_return co_await SendMessage(*cmd.number, std::nullopt);
    case Verb::kTop:
      co_return co_await SendMessage(*cmd.number, cmd.lines);
    case Verb::kDele:
      co_return co_await Dele(cmd);
    case Verb::kNoop:
      co_return co_await Send(Ok(""));
    case Verb::kRset:
      drop_.ResetDeletions();
      co_return co_await Send(Ok("Maildrop has " +
                                 std::to_string(drop_.Count()) + " messages (" +
                                 std::to_string(drop_.Octets()) + " octets)"));
  }
  co_return false;
}

net::awaitable<bool> Session::Capa() {
  // RFC 2449 §5: the list depends on the state and on TLS.
  bool allow_plaintext = env_.config->auth.allow_plaintext;
  std::string out = Ok("Capability list follows");
  out += "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n";
  if (state_ == State::kAuthorization) {
    // RFC 2449 §6.7: "USER" says the value may differ once logged in
    // (accounts can override download_once).
    Pop3Policy server = PolicyFor(env_.config->pop3, {});
    out += "EXPIRE " + std::string(ExpireValue(server)) + " USER\r\n";
  } else {
    out += "EXPIRE " + std::string(ExpireValue(policy_)) + "\r\n";
  }
  // RFC 2449 §6.5; 0 says there is no minimum.
  out += "LOGIN-DELAY " +
         std::to_string(env_.config->pop3.login_delay_seconds) + "\r\n";
  if (LoginAllowed()) out += "USER\r\n";
  auto mechanisms = auth::SaslMechanisms(conn_->tls_active(), allow_plaintext);
  if (!mechanisms.empty()) {
    out += "SASL";
    for (const auto& m : mechanisms) out += " " + m;
    out += "\r\n";
  }
  if (state_ == State::kAuthorization && CanStls()) out += "STLS\r\n";
  out += "IMPLEMENTATION correio\r\n.\r\n";
  co_return co_await Send(out);
}

net::awaitable<bool> Session::User(const Command& cmd) {
  if (!LoginAllowed()) {
    co_return co_await Send(
        Err(RespCode::kAuth, "TLS is required: use STLS first"));
  }
  // `recent:ADDRESS` (as large providers offer): list the last 30 days,
  // whatever earlier download_once sessions took.
  std::string_view name = cmd.text;
  recent_ = StartsWithIgnoreCase(name, "recent:");
  if (recent_) name.remove_prefix(7);
  pending_user_ = std::string(name);
  // The same answer for every name: USER must not reveal who exists.
  co_return co_await Send(Ok("Send your password"));
}

net::awaitable<bool> Session::Pass(const Command& cmd) {
  if (!LoginAllowed()) {
    co_return co_await Send(
        Err(RespCode::kAuth, "TLS is required: use STLS first"));
  }
  if (!pending_user_) {
    co_return co_await Reject(Err(RespCode::kNone, "Send USER first"));
  }
  std::string user = std::move(*pending_user_);
  pending_user_.reset();
  auto login = [auth = env_.auth, ip = conn_->remote_ip(), user,
                password = cmd.text] {
    return auth->Login(ip, user, password);
  };
  auth::LoginResult result =
      co_await net::RunBlocking(env_.AuthPool(), login);
  co_return co_await CompleteLogin(std::move(result.account), result.delay);
}

net::awaitable<bool> Session::Apop(const Command& cmd) {
  if (apop_timestamp_.empty()) {
    co_return co_await Reject(Err(RespCode::kNone, "APOP is not offered"));
  }
  pending_user_.reset();
  // Like SCRAM, APOP is allowed before TLS: the password never crosses the
  // wire. recent:ADDRESS works as with USER (the digest does not cover the
  // name).
  std::string_view name = cmd.text;
  recent_ = StartsWithIgnoreCase(name, "recent:");
  if (recent_) name.remove_prefix(7);
  auto login = [auth = env_.auth, ip = conn_->remote_ip(),
                user = std::string(name), timestamp = apop_timestamp_,
                digest = cmd.digest] {
    return auth->LoginApop(ip, user, timestamp, digest);
  };
  auth::LoginResult result =
      co_await net::RunBlocking(env_.AuthPool(), login);
  co_return co_await CompleteLogin(std::move(result.account), result.delay);
}

net::awaitable<bool> Session::Auth(const Command& cmd) {
  bool allow_plaintext = env_.config->auth.allow_plaintext;
  auto offered = auth::SaslMechanisms(conn_->tls_active(), allow_plaintext);
  if (cmd.text.empty()) {
    // A bare AUTH lists the mechanisms (pre-CAPA clients; Outlook).
    std::string out = Ok("");
    for (const auto& m : offered) out += m + "\r\n";
    out += ".\r\n";
    co_return co_await Send(out);
  }
  std::string mechanism = AsciiUppercase(cmd.text);
  bool is_offered = false;
  for (const auto& m : offered) is_offered = is_offered || m == mechanism;
  if (!is_offered) {
    for (const auto& m : auth::SaslMechanisms(true, true)) {
      if (m == mechanism) {
        co_return co_await Send(
            Err(RespCode::kAuth, "TLS is required: use STLS first"));
      }
    }
    co_return co_await Reject(
        Err(RespCode::kNone, "Unsupported authentication mechanism"));
  }
  auto sasl = env_.auth->NewSasl(conn_->remote_ip(), mechanism);
  if (!sasl) {
    co_return co_await Reject(
        Err(RespCode::kNone, "Unsupported authentication mechanism"));
  }
  auth::SaslServer* server = sasl->get();
  std::optional<std::string> response;
  if (cmd.initial_response) {
    // RFC 5034 §4: "=" is an empty initial response.
    if (*cmd.initial_response == "=") {
      response = std::string();
    } else {
      response = Base64Decode(*cmd.initial_response);
      if (!response) {
        co_return co_await Send(Err(RespCode::kNone, "Invalid base64 data"));
      }
    }
  }
  for (;;) {
    auto run_step = [server, response] {
      return server->Step(response ? std::optional<std::string_view>(*response)
                                   : std::nullopt);
    };
    auth::SaslStep step =
        co_await net::RunBlocking(env_.AuthPool(), run_step);
    bool need_answer =
        step.state == auth::SaslStep::kChallenge ||
        (step.state == auth::SaslStep::kSuccess && step.final_data.has_value());
    if (need_answer) {
      // RFC 5034 §4: challenges as "+ base64"; server data that comes with
      // success is sent the same way and answered with an empty line.
      std::string_view data = step.state == auth::SaslStep::kChallenge
                                  ? std::string_view(step.challenge)
                                  : std::string_view(*step.final_data);
      if (!co_await Send("+ " + Base64Encode(data) + "\r\n")) co_return false;
      auto line = co_await ReadLine();
      if (!line) {
        if (line.error().code() != ErrorCode::kTooBig) co_return false;
        co_return co_await Send(
            Err(RespCode::kNone, "Line too long, authentication cancelled"));
      }
      if (*line == "*") {
        co_return co_await Send(
            Err(RespCode::kNone, "Authentication cancelled"));
      }
      if (step.state == auth::SaslStep::kSuccess) {
        if (!line->empty()) {
          co_return co_await Send(
              Err(RespCode::kAuth, "Authentication failed"));
        }
      } else {
        response = Base64Decode(*line);
        if (!response) {
          co_return co_await Send(Err(RespCode::kNone,
                                      "Invalid base64, authentication "
                                      "cancelled"));
        }
        continue;
      }
    }
    if (step.state == auth::SaslStep::kSuccess) {
      co_return co_await CompleteLogin(std::move(step.account), step.delay);
    }
    spdlog::info("pop3#{} AUTH {} failed: {}", conn_->id(), mechanism,
                 step.reason);
    co_return co_await CompleteLogin(Fail(step.error, step.reason), step.delay);
  }
}

net::awaitable<bool> Session::CompleteLogin(Result<store::Account> account,
                                            std::chrono::seconds delay) {
  co_await Wait(delay);
  if (!account) {
    spdlog::info("pop3#{} login failed from {}: {}", conn_->id(),
                 conn_->remote_ip(), account.error().ToString());
    co_return co_await Send(ErrorReply(account.error(), Context::kLogin));
  }
  MaildropLock lock = MaildropLock::TryAcquire(account->id);
  if (!lock.held()) {
    spdlog::info("pop3#{} {}: maildrop in use", conn_->id(), account->address);
    co_return co_await Send(ErrorReply(
        Error(ErrorCode::kInUse, "maildrop locked"), Context::kLogin));
  }
  // RFC 2449 §6.5 LOGIN-DELAY: refuse a login that comes too soon after
  // the last one to this maildrop.
  int64_t wait = lock.StartLogin(env_.config->pop3.login_delay_seconds);
  if (wait > 0) {
    spdlog::info("pop3#{} {}: login within LOGIN-DELAY ({} s left)",
                 conn_->id(), account->address, wait);
    co_return co_await Send(
        Err(RespCode::kLoginDelay, "Minimum time between logins is " +
                                       std::to_string(env_.config->pop3
                                                          .login_delay_seconds) +
                                       " seconds; try again in " +
                                       std::to_string(wait) + " seconds"));
  }
  Pop3Policy policy = PolicyFor(env_.config->pop3, account->settings);
  std::optional<int64_t> since;
  if (recent_) {
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    since = now - kRecentWindowSeconds;
  }
  auto load = [store = env_.store, id = account->id,
               download_once = policy.download_once, since] {
    return LoadMaildrop(*store, id, download_once, since);
  };
  auto loaded = co_await Blocking(std::move(load));
  if (!loaded) {
    spdlog::warn("pop3#{} {}: cannot load maildrop: {}", conn_->id(),
                 account->address, loaded.error().ToString());
    co_return co_await Send(ErrorReply(loaded.error(), Context::kMaildrop));
  }
  account_ = std::move(*account);
  policy_ = policy;
  lock_ = std::move(lock);
  drop_ = Maildrop(loaded->inbox.id, loaded->inbox.uid_validity,
                   std::move(loaded->messages));
  state_ = State::kTransaction;
  spdlog::info("pop3#{} {} logged in{}: {} messages", conn_->id(),
               account_.address, recent_ ? " (recent)" : "", drop_.size());
  co_return co_await Send(Ok("Maildrop has " + std::to_string(drop_.Count()) +
                             " messages (" + std::to_string(drop_.Octets()) +
                             " octets)"));
}

net::awaitable<bool> Session::Stls() {
  if (!CanStls()) {
    co_return co_await Reject(Err(RespCode::kNone, "STLS not available"));
  }
  if (!co_await Send(Ok("Begin TLS negotiation"))) co_return false;
  // RFC 2595 §4, STYLE 17: what the client pipelined after STLS in
  // plaintext is thrown away, here and in the connection's buffer.
  reader_.Reset();
  auto st = co_await conn_->StartTls(options_.tls->Current());
  if (!st) {
    spdlog::info("pop3#{} {}", conn_->id(), st.error().message());
    co_return false;
  }
  pending_user_.reset();
  recent_ = false;
  co_return true;
}

net::awaitable<bool> Session::Quit() {
  if (state_ == State::kAuthorization) {
    co_await Send(Ok("Bye"));
    co_return false;
  }
  co_await DrainSeen();
  // RFC 1939 §6 UPDATE: apply the deletions, answer only once durable.
  store::UidSet deleted = drop_.DeletedUids();
  store::UidSet downloaded = policy_.download_once
                                 ? drop_.DownloadedUids(policy_.delete_mode)
                                 : store::UidSet();
  auto update = [store = env_.store, account = account_.id,
                 inbox = drop_.mailbox(), mode = policy_.delete_mode, deleted,
                 downloaded, origin = origin_] {
    return ApplyUpdate(*store, account, inbox, mode, deleted, downloaded,
                       origin);
  };
  auto st = co_await Blocking(std::move(update));
  if (!st) {
    spdlog::warn("pop3#{} {}: QUIT could not apply deletions: {}", conn_->id(),
                 account_.address, st.error().ToString());
    co_await Send(ErrorReply(st.error(), Context::kMaildrop));
    co_return false;
  }
  co_await Send(
      Ok("Bye (" + std::to_string(drop_.Count()) + " messages left)"));
  co_return false;
}

net::awaitable<MaildropMessage*> Session::Lookup(uint32_t number, bool* alive) {
  MaildropMessage* m = drop_.Find(number);
  if (m == nullptr) {
    *alive = co_await Reject(Err(RespCode::kNone, "No such message"));
    co_return nullptr;
  }
  if (m->deleted) {
    *alive = co_await Reject(
        Err(RespCode::kNone,
            "Message " + std::to_string(number) + " already deleted"));
    co_return nullptr;
  }
  *alive = true;
  co_return m;
}

net::awaitable<bool> Session::List(const Command& cmd, bool uidl) {
  auto entry = [&](uint64_t number, const MaildropMessage& m) {
    return std::to_string(number) + " " +
           (uidl ? drop_.UniqueId(m) : std::to_string(m.size));
  };
  if (cmd.number) {
    bool alive = true;
    MaildropMessage* m = co_await Lookup(*cmd.number, &alive);
    if (m == nullptr) co_return alive;
    co_return co_await Send(Ok(entry(*cmd.number, *m)));
  }
  std::string out = uidl ? Ok("Unique-ID listing follows")
                         : Ok(std::to_string(drop_.Count()) + " messages (" +
                              std::to_string(drop_.Octets()) + " octets)");
  for (size_t n = 1; n <= drop_.size(); ++n) {
    const MaildropMessage* m = drop_.Find(n);
    if (m->deleted) continue;  // RFC 1939 §5: deleted ones are not listed
    out += entry(n, *m);
    out += "\r\n";
    if (out.size() >= kListFlush) {
      if (!co_await Send(out)) co_return false;
      out.clear();
    }
  }
  out += ".\r\n";
  co_return co_await Send(out);
}

void Session::StartReadAhead(uint32_t after) {
  // The next messages not marked deleted, unless the batch under way
  // already holds the first of them.
  auto ahead = std::make_shared<ReadAhead>();
  uint64_t bytes = 0;
  for (uint64_t n = uint64_t{after} + 1;
       n <= drop_.size() && ahead->uids.size() < kAheadMessages; ++n) {
    MaildropMessage* m = drop_.Find(n);
    if (m == nullptr || m->deleted) continue;
    if (ahead->uids.empty() && read_ahead_ && read_ahead_->IndexOf(m->uid)) {
      return;
    }
    if (!ahead->uids.empty() && bytes + m->size > kAheadBytes) break;
    ahead->uids.push_back(m->uid);
    bytes += m->size;
  }
  if (ahead->uids.empty()) return;
  ahead->results.resize(ahead->uids.size());
  read_ahead_ = ahead;
  boost::asio::post(
      env_.pool->pool(), [ahead, store = env_.store, inbox = drop_.mailbox()] {
        for (size_t i = 0; i < ahead->uids.size(); ++i) {
          // The session let go of the batch (it ended, or moved on): stop.
          if (ahead.use_count() == 1) return;
          Result<FirstChunk> r = ReadFirstChunk(store, inbox, ahead->uids[i]);
          std::lock_guard lock(ahead->mu);
          ahead->results[i] = std::move(r);
        }
      });
}

net::awaitable<bool> Session::SendMessage(uint32_t number,
                                          std::optional<uint64_t> top_lines) {
  bool alive = true;
  MaildropMessage* m = co_await Lookup(number, &alive);
  if (m == nullptr) co_return alive;
  store::Store* store = env_.store;
  store::MailboxId inbox = drop_.mailbox();
  store::Uid uid = m->uid;
  std::optional<Result<FirstChunk>> ahead;
  if (auto i = read_ahead_ ? read_ahead_->IndexOf(uid) : std::nullopt) {
    std::lock_guard lock(read_ahead_->mu);
    ahead.swap(read_ahead_->results[*i]);  // taken once
  }
  Result<FirstChunk> first = Fail(ErrorCode::kInternal, "not read");
  if (ahead) {
    first = std::move(*ahead);
  } else {
    auto read_first = [store, inbox, uid] {
      return ReadFirstChunk(store, inbox, uid);
    };
    first = co_await Blocking(read_first);
  }
  if (!first) {
    if (first.error().code() != ErrorCode::kNotFound) {
      spdlog::warn("pop3#{} read of uid {} failed: {}", conn_->id(), uid,
                   first.error().ToString());
    }
    co_return co_await Send(ErrorReply(first.error(), Context::kMaildrop));
  }
  proto::MessageWriter writer(top_lines);
  std::string out = top_lines ? Ok("Top of message follows")
                              : Ok(std::to_string(m->size) + " octets");
  writer.Feed(first->data, out);
  uint64_t offset = first->data.size();
  bool more = first->data.size() == kBlobChunk;
  first->data = std::string();
  while (more && !writer.done()) {
    if (!co_await Send(out)) co_return false;
    out.clear();
    auto read = [store, blob = first->blob, offset] {
      return store->ReadBlob(blob, offset, kBlobChunk);
    };
    auto chunk = co_await Blocking(std::move(read));
    if (!chunk) {
      // +OK is already out: a -ERR now would read as message text. Close.
      spdlog::warn("pop3#{} read of uid {} failed mid-message: {}", conn_->id(),
                   uid, chunk.error().ToString());
      co_return false;
    }
    writer.Feed(*chunk, out);
    offset += chunk->size();
    more = chunk->size() == kBlobChunk;
  }
  writer.Finish(out);
  if (!top_lines) StartReadAhead(number);
  if (!co_await Send(out)) co_return false;
  if (top_lines) co_return true;
  m->retrieved = true;
  if (policy_.mark_seen_on_retr && !m->seen) {
    // Set at once (in the background, SeenWriter), as large providers do,
    // so IMAP shows the message read even if this session never QUITs.
    m->seen = true;
    seen_->pending.push_back(uid);
    if (!seen_->running) {
      seen_->running = true;
      auto executor = co_await boost::asio::this_coro::executor;
      boost::asio::co_spawn(executor,
                            WriteSeen(seen_, store, env_.pool, inbox, origin_,
                                      conn_->id()),
                            boost::asio::detached);
    }
  }
  co_return true;
}

net::awaitable<bool> Session::Dele(const Command& cmd) {
  bool alive = true;
  MaildropMessage* m = co_await Lookup(*cmd.number, &alive);
  if (m == nullptr) co_return alive;
  m->deleted = true;  // RFC 1939 §5: only marked; QUIT applies it
  co_return co_await Send(
      Ok("Message " + std::to_string(*cmd.number) + " deleted"));
}

}  // namespace

net::awaitable<void> RunSession(std::shared_ptr<net::Connection> conn,
                                mail::Env env, SessionOptions options) {
  Session session(std::move(conn), std::move(env), std::move(options));
  co_await session.Run();
}

}  // namespace correio::pop3
